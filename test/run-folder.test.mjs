// A run folder under attack and interruption: one process per folder (a lock taken before anything is read,
// stale locks of dead processes taken over), corrupted run folders refused with a line naming the file, a damaged
// save point along the way skipped, and Ctrl-C marking the run interrupted with the command that resumes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { lockRunDir } from '../dist/src/store/lock.js';
import { openResume } from '../dist/src/train/resume.js';
import { train } from '../dist/src/workflows/train.js';
import { encodeCheckpoint, loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { UsageError } from '../dist/src/errors.js';
import { CLI, rejectsInput, runCli, smallDataset, tempDir } from './helpers.mjs';

const DEAD_PID = 4194305; // above the default pid_max: no such process

test('a run folder is locked before anything is read: a second run of it is refused, a dead holder taken over', async (t) => {
  const dir = await tempDir(t);
  const run = path.join(dir, 'run');
  await fs.mkdir(run);
  const lock = await lockRunDir(run, `--resume ${run}`);
  const record = JSON.parse(await fs.readFile(path.join(run, '.lock'), 'utf8'));
  assert.equal(record.pid, process.pid);
  assert.equal(record.host, os.hostname());
  // a second resume of the folder: refused before run.json (there is none) is even read
  await assert.rejects(openResume(run, {}), (e) => e instanceof UsageError && /in use by another engine process \(pid \d+/.test(e.message));
  await assert.rejects(lockRunDir(run, 'x'), /in use/);
  await lock.release();
  assert.deepEqual(await fs.readdir(run), []);

  // a lock left by a killed process is stale: taken over
  await fs.writeFile(path.join(run, '.lock'), JSON.stringify({ pid: DEAD_PID, host: os.hostname(), started: 'then' }));
  const again = await lockRunDir(run, 'x');
  assert.equal(JSON.parse(await fs.readFile(path.join(run, '.lock'), 'utf8')).pid, process.pid);
  await again.release();
  // one of another host is not ours to judge
  await fs.writeFile(path.join(run, '.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then' }));
  await assert.rejects(lockRunDir(run, '--resume R'), /--resume R: the run is locked by pid 1 on host elsewhere/);
});

test('corrupted run folders are refused naming the file; a damaged weights<N> is skipped when last is intact', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  const out = path.join(dir, 'run');
  await train({ data, out, epochs: 2, batchSize: 2, saveEvery: 1, seed: 1, threads: 1, cache: false });
  const runJson = path.join(out, 'run.json');
  const record = JSON.parse(await fs.readFile(runJson, 'utf8'));
  // as a killed run leaves it, with 3 epochs to go
  const setRecord = (changes) => fs.writeFile(runJson, JSON.stringify({ ...record, status: 'running', pid: DEAD_PID, ...changes }));
  await setRecord({});
  const lastFile = path.join(out, 'last.safetensors');
  const lastBytes = await fs.readFile(lastFile);
  const last = await loadCheckpoint(lastFile);

  // negative RMSprop state (finite, so the header check passes it)
  const negative = Float32Array.from(last.accumulators);
  negative[7] = -1;
  await fs.writeFile(lastFile, encodeCheckpoint({ ...last, accumulators: negative }));
  await rejectsInput(openResume(out, { epochs: 3 }), lastFile, 'accumulator 7 is -1');
  await fs.writeFile(lastFile, lastBytes);

  await setRecord({ resumes: 'yes' });
  await rejectsInput(openResume(out, { epochs: 3 }), 'run.json', "'resumes'");
  await setRecord({ dataset: undefined });
  await rejectsInput(openResume(out, { epochs: 3 }), 'run.json', "'dataset'");
  await setRecord({});

  // a folder where only temp files belong
  await fs.mkdir(path.join(out, '.last.safetensors.1.2.tmp'));
  await rejectsInput(openResume(out, { epochs: 3 }), '.last.safetensors.1.2.tmp', 'a folder');
  await fs.rmdir(path.join(out, '.last.safetensors.1.2.tmp'));

  // a damaged save point along the way does not block the intact last one
  const names = await fs.readdir(out);
  const savePoint = names.find((n) => /^weights\d+\.safetensors$/.test(n));
  assert.ok(savePoint, `a weights<N> among ${names}`);
  await fs.writeFile(path.join(out, savePoint), 'not a checkpoint');
  const resume = await openResume(out, { epochs: 3 });
  await resume.lock.release();
  assert.equal(resume.checkpointFile, lastFile);
  assert.ok(resume.notes.some((n) => n.startsWith(`skipped ${savePoint}`)), resume.notes.join('\n'));
  assert.deepEqual((await fs.readdir(out)).filter((n) => n === '.lock'), [], 'the lock is released');
});

test('Ctrl-C in train: run.json says interrupted, stderr names the resume command, exit 130, no temp file left', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  const out = path.join(dir, 'run');
  const child = spawn(process.execPath, [CLI, 'train', '--data', data, '--out', out, '--epochs', '1000', '--batch-size', '2', '--threads', '1', '--no-cache']);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => {
    let sent = false;
    child.stdout.on('data', (d) => {
      // after the first epoch's line: a checkpoint exists
      if (!sent && /^epoch 1: /m.test(String(d).replaceAll('\r', '\n'))) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (c) => resolve(c));
  });
  assert.equal(code, 130, stderr);
  const lines = stderr.trim().split('\n');
  assert.match(lines.at(-1), new RegExp(`^engine: interrupted by SIGINT .*marked interrupted.*engine train --resume ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  const record = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(record.status, 'interrupted');
  assert.deepEqual((await fs.readdir(out)).filter((n) => n.startsWith('.')), [], 'no temp file, no lock');
});

test('a runs folder that cannot be made is refused before any image is read, naming it', async (t) => {
  const data = await smallDataset(t, { train: { man: 1, woman: 1 }, val: { man: 1, woman: 1 } });
  const cwd = await tempDir(t);
  await fs.writeFile(path.join(cwd, 'runs'), 'a file where the runs folder goes');
  // an image that cannot be decoded: had the data been read first, it would be the error
  await fs.writeFile(path.join(data, 'train', 'man', 'broken.jpg'), 'not an image');
  const r = await runCli(['train', '--data', data, '--epochs', '1', '--no-cache'], { cwd });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^engine: the runs folder ${path.join(cwd, 'runs').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});
