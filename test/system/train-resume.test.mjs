// Resume: what --resume refuses (finished runs, conflicting flags, changed data, foreign checkpoints) and how
// it finishes a run killed at its end; numerical faults stop the run cleanly. The SIGKILL-at-random-moments
// test is test/system/kill-resume.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeCheckpoint, loadCheckpoint } from '../../dist/src/store/checkpoint.js';
import { native, trainerConfig } from '../../dist/src/native.js';
import { SEED5 } from '../../dist/src/model/spec.js';
import { parseHistoryCsv } from '../../dist/src/store/history.js';
import { runCli, smallDataset, tempDir } from '../helpers.mjs';

test('--resume refuses a finished run, conflicting flags (naming them) and a folder that is not a run', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  const out = path.join(dir, 'run');
  assert.equal((await runCli(['train', '--data', data, '--epochs', '2', '--seed', '1', '--out', out])).code, 0);

  const finished = await runCli(['train', '--resume', out]);
  assert.equal(finished.code, 2);
  assert.match(finished.stderr, /finished/);

  // a run that died after epoch 1: mark it running again (as a SIGKILL leaves it) and drop epoch 2's files
  const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  await fs.writeFile(path.join(out, 'run.json'), JSON.stringify({ ...run, status: 'running', pid: 999999999 }));
  await fs.rm(path.join(out, 'last.safetensors'));
  const conflict = await runCli(['train', '--resume', out, '--lr', '0.5', '--model', 'seed5', '--epochs', '3']);
  assert.equal(conflict.code, 2, conflict.stderr);
  assert.match(conflict.stderr, /--lr 0\.5.*0\.001/);
  assert.match(conflict.stderr, /--arch \(--model\) "seed5" \(the run has "seed7"\)/);
  assert.doesNotMatch(conflict.stderr, /--epochs/, '--epochs may change on resume');
  const elsewhere = await runCli(['train', '--resume', out, '--out', path.join(dir, 'other')]);
  assert.equal(elsewhere.code, 2);
  assert.match(elsewhere.stderr, /--out/);

  const notRun = await runCli(['train', '--resume', data]);
  assert.equal(notRun.code, 2);
  assert.match(notRun.stderr, /no run\.json/);
  const missing = await runCli(['train', '--resume', path.join(dir, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such run directory/);

  // flags equal to the recorded ones are fine, and --epochs extends the run
  const ok = await runCli(['train', '--resume', out, '--lr', '0.001', '--epochs', '3', '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(ok.stdout).final.epoch, 3);
  assert.match(ok.stderr, /resuming after epoch \d/);
});

test('a run killed after its last checkpoint but before it was marked finished: --resume finishes it', async (t) => {
  const data = await smallDataset(t);
  const out = path.join(await tempDir(t), 'run');
  const first = await runCli(['train', '--data', data, '--epochs', '2', '--batch-size', '4', '--seed', '3', '--save-every', '1', '--out', out, '--quiet']);
  assert.equal(first.code, 0, first.stderr);
  const epoch2 = await loadCheckpoint(path.join(out, 'last.safetensors'));
  assert.equal(epoch2.meta.epoch, 2);
  // what a kill between best.safetensors and last.safetensors of the last epoch leaves (say epoch 2 was the
  // best): best at epoch 2, last still at epoch 1, no weights2 yet, no plot, run.json still running
  await fs.copyFile(path.join(out, 'weights2.safetensors'), path.join(out, 'best.safetensors'));
  await fs.copyFile(path.join(out, 'weights1.safetensors'), path.join(out, 'last.safetensors'));
  await fs.rm(path.join(out, 'weights2.safetensors'));
  await fs.rm(path.join(out, 'history.png'));
  const record = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  const { results: _r, finished: _f, ...running } = record;
  await fs.writeFile(path.join(out, 'run.json'), JSON.stringify({ ...running, status: 'running' }));

  const r = await runCli(['train', '--resume', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /finishing the run/);
  const after = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(after.status, 'finished');
  assert.equal(after.epochsDone, 2);
  assert.ok(Number.isFinite(after.results.medianTrainSeconds));
  await fs.access(path.join(out, 'history.png'));
  // last and weights2 now hold epoch 2's state again, and nothing was trained
  for (const f of ['last', 'weights2']) {
    const c = await loadCheckpoint(path.join(out, `${f}.safetensors`));
    assert.equal(c.meta.epoch, 2, f);
    assert.equal(c.meta.step, epoch2.meta.step, f);
    assert.deepEqual(c.params, epoch2.params, `${f}: the epoch-2 weights`);
    assert.deepEqual(c.accumulators, epoch2.accumulators, `${f}: the epoch-2 RMSprop state`);
  }
  assert.equal(parseHistoryCsv(await fs.readFile(path.join(out, 'history.csv'), 'utf8')).length, 2);
});

test('a diverging --lr stops with the epoch and step, exit 1, run.json failed, earlier checkpoints intact', async (t) => {
  const data = await smallDataset(t);
  const dir = await tempDir(t);
  // one step per epoch: epoch 1's step is still finite, epoch 2's first step turns weights into NaN
  const out = path.join(dir, 'run');
  const r = await runCli(['train', '--data', data, '--epochs', '4', '--batch-size', '16', '--lr', '1e6', '--seed', '1', '--save-every', '1', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /training diverged at epoch 2, step 1\/1/);
  assert.match(r.stderr, /NaN or Inf/);
  assert.match(r.stderr, /newest good checkpoint .*last\.safetensors \(epoch 1\)/);
  const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'failed');
  assert.match(run.error, /epoch 2, step 1/);
  const last = await loadCheckpoint(path.join(out, 'last.safetensors'));
  assert.equal(last.meta.epoch, 1);
  assert.ok(last.params.every(Number.isFinite), 'the saved checkpoint holds finite weights');
  assert.deepEqual((await fs.readdir(out)).sort(), ['best.safetensors', 'history', 'history.csv', 'history.png', 'last.safetensors', 'run.json', 'weights1.safetensors']);
  assert.equal(parseHistoryCsv(await fs.readFile(path.join(out, 'history.csv'), 'utf8')).length, 1);

  // diverging in the first epoch leaves only run.json
  const early = path.join(dir, 'early');
  const e = await runCli(['train', '--data', data, '--epochs', '2', '--batch-size', '4', '--lr', '1e6', '--seed', '1', '--out', early]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /epoch 1, step 2\/4.*no checkpoint was written/);
  assert.deepEqual(await fs.readdir(early), ['run.json']);
});

test('a run recorded before --conv existed resumes with direct convolutions, the ones it ran with', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = path.join(await tempDir(t), 'run');
  assert.equal((await runCli(['train', '--data', data, '--epochs', '1', '--seed', '1', '--conv', 'direct', '--out', out])).code, 0);
  const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  const { conv: _c, ...oldConfig } = run.config;
  await fs.writeFile(path.join(out, 'run.json'), JSON.stringify({ ...run, config: oldConfig, status: 'running', pid: 999999999 }));
  const conflict = await runCli(['train', '--resume', out, '--conv', 'winograd', '--epochs', '2']);
  assert.equal(conflict.code, 2, conflict.stderr);
  assert.match(conflict.stderr, /--conv "winograd" \(the run has "direct"\)/);
  const r = await runCli(['train', '--resume', out, '--epochs', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /direct conv/);
  assert.equal(JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8')).config.conv, 'direct');
});

test('--resume refuses, exit 2 with the reason: a run still going, changed data, a checkpoint of another run, too few --epochs', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = path.join(await tempDir(t), 'run');
  const first = await runCli(['train', '--data', data, '--epochs', '2', '--seed', '1', '--save-every', '1', '--threads', '1', '--out', out, '--quiet']);
  assert.equal(first.code, 0, first.stderr);
  const { results: _r, finished: _f, ...record } = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  /** run.json as a run killed after its epoch-2 checkpoint leaves it, with `changes` */
  const setRunJson = (changes = {}) => fs.writeFile(path.join(out, 'run.json'), JSON.stringify({ ...record, status: 'running', pid: 999999999, ...changes }));
  const refused = async (args, message) => {
    const r = await runCli(['train', '--resume', out, ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim(), `engine: ${message}`);
    assert.doesNotMatch(r.stdout, /resuming|epoch \d/, 'nothing trained');
  };

  // a finished run is refused even with more --epochs
  await refused(['--epochs', '3'], `--resume ${out}: the run finished (2 epochs); nothing to resume (start a new run with --out)`);

  // the process that wrote run.json is alive on this host (this test's own process)
  await setRunJson({ pid: process.pid, host: os.hostname() });
  await refused([], `--resume ${out}: the run is still going (pid ${process.pid}); stop it first`);

  // an image deleted since the run started
  await setRunJson();
  const victim = path.join(data, 'train', 'woman', (await fs.readdir(path.join(data, 'train', 'woman'))).sort()[0]);
  const saved = await fs.readFile(victim);
  await fs.rm(victim);
  await refused([], '--resume: the data changed since the run started: now 3 train / 2 val images, classes man,woman; the run had 4 / 2, classes man,woman');
  await fs.writeFile(victim, saved);

  // the newest checkpoint (last, epoch 2) is not this run's: another seed, another model, no optimizer state
  const lastFile = path.join(out, 'last.safetensors');
  const last = await loadCheckpoint(lastFile);
  const lastBytes = await fs.readFile(lastFile);
  await fs.writeFile(lastFile, encodeCheckpoint({ ...last, meta: { ...last.meta, config: { ...last.meta.config, seed: 2 } } }));
  await refused([], `${lastFile}: its --seed 2 differs from run.json's 1 (a checkpoint of another run?)`);
  await fs.writeFile(lastFile, encodeCheckpoint({ ...last, accumulators: undefined }));
  await refused([], `${lastFile}: no optimizer or RNG state, cannot resume from it (weights-only checkpoint)`);
  const seed5 = new native.Trainer(trainerConfig({ spec: SEED5, seed: 1, threads: 1 }));
  const other = { meta: { ...last.meta, spec: SEED5 }, layout: seed5.paramLayout(), params: seed5.getParams(), accumulators: seed5.getState().accumulators };
  seed5.dispose();
  await fs.writeFile(lastFile, encodeCheckpoint(other));
  await refused([], `${lastFile}: a checkpoint of model 'seed5', but the run trains 'seed7'`);
  await fs.writeFile(lastFile, lastBytes);

  // the checkpoint is past the --epochs asked for; history.csv that lacks a checkpointed epoch
  await refused(['--epochs', '1'], `--resume ${out}: the checkpoint is at epoch 2 of 1; raise --epochs to train further`);
  const csv = await fs.readFile(path.join(out, 'history.csv'), 'utf8');
  await fs.writeFile(path.join(out, 'history.csv'), csv.split('\n').slice(0, 2).join('\n') + '\n');
  await refused([], `${out}/history.csv: holds epochs 1 up to the checkpoint's epoch 2`);
  await fs.writeFile(path.join(out, 'history.csv'), csv);

  // after all that the run is intact: with temp files a kill left behind, it resumes, removes them and trains on
  await fs.writeFile(path.join(out, '.run.json.999999999.0.tmp'), '{"stat');
  await fs.writeFile(path.join(out, 'history', '.acc_history.txt.999999999.3.tmp'), '0.5');
  const ok = await runCli(['train', '--resume', out, '--epochs', '3']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^removed \.run\.json\.999999999\.0\.tmp, a partial write of the interrupted run$/m);
  assert.match(ok.stdout, /^removed \.acc_history\.txt\.999999999\.3\.tmp, a partial write of the interrupted run$/m);
  assert.match(ok.stdout, /^resuming after epoch 2 from last\.safetensors \(step 2\)$/m);
  assert.deepEqual((await fs.readdir(out)).filter((n) => n.startsWith('.')), []);
  assert.deepEqual((await fs.readdir(path.join(out, 'history'))).filter((n) => n.startsWith('.')), []);
  const after = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(after.status, 'finished');
  assert.equal(after.epochsDone, 3);
});
