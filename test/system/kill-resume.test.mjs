// Crash safety: SIGKILL a run at random (seeded) moments, resume it, and get the uninterrupted run's weights
// bit for bit; no file in the run directory is ever torn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { loadCheckpoint } from '../../dist/src/store/checkpoint.js';
import { parseHistoryCsv } from '../../dist/src/store/history.js';
import { CLI, ROOT, rng, runCli, smallDataset, tempDir } from '../helpers.mjs';

const ARGS = ['--epochs', '8', '--batch-size', '4', '--seed', '5', '--save-every', '1', '--threads', '2'];

/** Parses every file of a run directory the way its readers would; fails on a torn or unknown file. */
async function checkRunDirIntact(dir) {
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    const rel = path.relative(dir, file);
    if (rel === '.lock') {
      // the killed run's lock (no exit handler runs on SIGKILL): stale, taken over by the resume
      assert.equal(typeof JSON.parse(await fs.readFile(file, 'utf8')).pid, 'number');
      continue;
    }
    if (entry.name.startsWith('.')) {
      assert.match(entry.name, /\.tmp$/, `unexpected hidden file ${rel}`);
      continue; // an atomic write's temp file: never read, removed on resume
    }
    if (rel.endsWith('.safetensors')) await loadCheckpoint(file);
    else if (rel === 'run.json') JSON.parse(await fs.readFile(file, 'utf8'));
    else if (rel === 'history.csv') parseHistoryCsv(await fs.readFile(file, 'utf8'));
    else if (rel.startsWith('history/') && rel.endsWith('_history.txt')) {
      for (const line of (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean)) assert.ok(Number.isFinite(Number(line)), `${rel}: '${line}'`);
    } else if (rel === 'history.png') assert.equal((await sharp(file).metadata()).format, 'png');
    else assert.fail(`unexpected file ${rel}`);
  }
}

/**
 * Starts `engine train ...args`; kills it `delayMs` after it reports its run directory (never when null).
 * Resolves {code, signal, out, trainMs: from that report to the exit}.
 */
function runAndKill(args, delayMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'train', ...args], { cwd: ROOT });
    let out = '';
    let timer;
    let started;
    child.stdout.on('data', (d) => {
      out += d;
      if (started === undefined && /run directory:/.test(out)) {
        started = performance.now();
        if (delayMs !== null) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, trainMs: performance.now() - started });
    });
  });
}

const tensorsEqual = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

test('SIGKILLed at random moments and resumed, a run ends with the uninterrupted weights bit for bit', async (t) => {
  const data = await smallDataset(t);
  const dir = await tempDir(t);
  const whole = path.join(dir, 'whole');
  const ref = await runAndKill(['--data', data, ...ARGS, '--out', whole], null);
  assert.equal(ref.code, 0, ref.out);
  const trainMs = ref.trainMs;

  const cut = path.join(dir, 'cut');
  const kills = [];
  // The kill moments are drawn from a seeded generator: a failure names its seed, and ENGINE_TEST_SEED=N replays
  // the same fractions of the training time (the times themselves follow the machine's speed).
  const seed = Number(process.env.ENGINE_TEST_SEED ?? 20240611);
  const draw = rng(seed);
  let args = ['--data', data, ...ARGS, '--out', cut];
  for (let attempt = 0; attempt < 6; attempt++) {
    // a random moment within the epochs still to run (run.json counts the checkpointed ones)
    const done = attempt === 0 ? 0 : JSON.parse(await fs.readFile(path.join(cut, 'run.json'), 'utf8')).epochsDone;
    const delay = draw() * trainMs * 0.8 * ((8 - done) / 8);
    const r = await runAndKill(args, delay);
    if (r.signal !== 'SIGKILL') {
      assert.equal(r.code, 0, r.out);
      break;
    }
    await checkRunDirIntact(cut);
    // a kill that lands after the run marked itself finished (while it exits) interrupted nothing
    if (JSON.parse(await fs.readFile(path.join(cut, 'run.json'), 'utf8')).status === 'finished') break;
    kills.push(Math.round(delay));
    args = ['--resume', cut];
    if (kills.length === 4) break;
  }
  const status = JSON.parse(await fs.readFile(path.join(cut, 'run.json'), 'utf8')).status;
  if (status !== 'finished') {
    const r = await runCli(['train', '--resume', cut]);
    assert.equal(r.code, 0, r.stderr);
  }
  t.diagnostic(`killed after ${kills.join(', ')} ms (uninterrupted training: ${Math.round(trainMs)} ms; ENGINE_TEST_SEED=${seed})`);
  assert.ok(kills.length >= 2, `only ${kills.length} kills landed before the run finished (ENGINE_TEST_SEED=${seed})`);
  await checkRunDirIntact(cut);

  const [a, b] = await Promise.all([whole, cut].map((d) => loadCheckpoint(path.join(d, 'last.safetensors'))));
  assert.ok(tensorsEqual(a.params, b.params), 'weights differ');
  assert.ok(tensorsEqual(a.accumulators, b.accumulators), 'RMSprop state differs');
  assert.equal(b.meta.step, a.meta.step);
  assert.deepEqual(b.meta.rngState, a.meta.rngState);
  const [ha, hb] = await Promise.all([whole, cut].map(async (d) => parseHistoryCsv(await fs.readFile(path.join(d, 'history.csv'), 'utf8'))));
  assert.deepEqual(hb.map((h) => h.epoch), [1, 2, 3, 4, 5, 6, 7, 8], 'no epoch missing or repeated');
  assert.deepEqual(hb.map(({ seconds, ...h }) => h), ha.map(({ seconds, ...h }) => h));
  for (const f of ['loss', 'acc', 'val_loss', 'val_acc']) {
    const read = (d) => fs.readFile(path.join(d, 'history', `${f}_history.txt`), 'utf8');
    assert.equal(await read(cut), await read(whole), `${f}_history.txt`);
  }
  assert.equal((await loadCheckpoint(path.join(cut, 'best.safetensors'))).meta.epoch, (await loadCheckpoint(path.join(whole, 'best.safetensors'))).meta.epoch);
  const run = JSON.parse(await fs.readFile(path.join(cut, 'run.json'), 'utf8'));
  assert.equal(run.status, 'finished');
  assert.ok(run.resumes.length >= kills.length);
  assert.deepEqual((await fs.readdir(cut)).filter((n) => n.startsWith('.')), [], 'temp files removed');
});
