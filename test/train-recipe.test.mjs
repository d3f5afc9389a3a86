// fmnist-res trained with its own recipe on a slice of Fashion-MNIST: the schedule's lr per epoch in history.csv,
// the training split's normalisation recorded, epoch lines that mark a new best, best.safetensors by --monitor,
// the moving average kept in the checkpoints, and --patience (improves/patienceSpent, then a run it stops).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { train, patienceSpent, epochLine } from '../dist/src/workflows/train.js';
import { improves, bestEpoch, readHistory } from '../dist/src/store/history.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { learningRate } from '../dist/src/train/schedule.js';
import { fashionSlice } from './fmnist.mjs';
import { tempDir } from './helpers.mjs';

test('fmnist-res, 2 epochs of its recipe on 600 images: cosine lr, normalisation, best by val_acc, marked lines, EMA in the checkpoint', async (t) => {
  const data = await fashionSlice(t, { train: 600, test: 10 });
  const out = path.join(await tempDir(t), 'run');
  const marks = [];
  const s = await train(
    { data, arch: 'fmnist-res', epochs: 2, val: 0.2, seed: 1, out, threads: 2, saveEvery: 0, ema: 0.9, cache: false },
    { onEpoch: (r, mark) => marks.push([r.epoch, mark.best, epochLine(r, mark)]) },
  );
  assert.equal(s.config.monitor, 'val_acc');
  assert.deepEqual([s.trainImages, s.valImages], [480, 120]);
  // the lr column is the schedule's lr of each epoch's last step (4 steps of 128: the warm-up epoch ends at lr)
  const rows = await readHistory(out);
  assert.equal(rows[0].lr, 0.1);
  assert.equal(rows[1].lr, learningRate(s.config, 7, 4));
  assert.ok(rows[1].lr < 0.02, `cosine near its end: ${rows[1].lr}`);
  // the training split's per-channel mean and std of pixels / 255 (Fashion-MNIST's is about 0.29 and 0.35)
  const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.ok(Math.abs(run.normalization.mean[0] - 0.29) < 0.03 && Math.abs(run.normalization.std[0] - 0.35) < 0.03, JSON.stringify(run.normalization));
  // epoch 1 is always a new best; best.safetensors is the best val_acc's epoch
  assert.equal(marks[0][1], true);
  assert.match(marks[0][2], /^epoch 1: loss [\d.]+ acc [\d.]+ val_loss [\d.]+ val_acc [\d.]+ lr 0\.1 [\d.]+s, best val_acc$/);
  const best = bestEpoch(rows, 'val_acc');
  assert.equal(s.best.epoch, best.epoch);
  const ckpt = await loadCheckpoint(path.join(out, 'best.safetensors'));
  assert.equal(ckpt.meta.epoch, best.epoch);
  assert.deepEqual(ckpt.meta.config.normalization, run.normalization);
  // the moving average and SGD's velocity are kept beside the weights, and differ from them
  assert.equal(ckpt.ema.length, ckpt.params.length);
  assert.equal(ckpt.accumulators.length, ckpt.params.length);
  assert.ok(ckpt.ema.some((v, i) => v !== ckpt.params[i]));
  assert.ok(marks.every(([, b, line]) => b === line.endsWith(', best val_acc')), JSON.stringify(marks));
});

test('improves / patienceSpent: Keras-like monitoring (strictly better; first of equals; NaN never better)', () => {
  const r = (epoch, val_loss, val_acc) => ({ epoch, loss: 1, acc: 0.5, val_loss, val_acc, lr: 0.1, seconds: 1 });
  const h = [r(1, 0.5, 0.8), r(2, 0.4, 0.8), r(3, NaN, 0.9), r(4, 0.45, 0.85)];
  assert.equal(bestEpoch(h, 'val_loss').epoch, 2);
  assert.equal(bestEpoch(h, 'val_acc').epoch, 3);
  assert.equal(improves(r(5, 0.4, 0.8), h[1], 'val_loss'), false, 'equal is not better');
  assert.equal(improves(r(5, NaN, 0.8), h[1], 'val_loss'), false);
  assert.equal(improves(r(5, 1, 0.8), r(1, NaN, 0.8), 'val_loss'), true, 'finite beats NaN');
  // patience 2: spent 2 epochs after the best
  assert.equal(patienceSpent(h.slice(0, 3), bestEpoch(h.slice(0, 3), 'val_loss'), 2), false);
  assert.equal(patienceSpent(h, bestEpoch(h, 'val_loss'), 2), true);
  assert.equal(patienceSpent(h, bestEpoch(h, 'val_loss'), 0), false, '0: never');
});

test('--patience stops a run whose monitored figure stops improving, and says so', async (t) => {
  const data = await fashionSlice(t, { train: 300, test: 10 });
  const out = path.join(await tempDir(t), 'run');
  // lr so small that nothing moves (and no batch norm whose running statistics would): val_acc stays where
  // epoch 1 left it, so no later epoch is strictly better
  const s = await train({ data, arch: 'fmnist-cnn', epochs: 6, val: 0.2, seed: 2, out, threads: 2, saveEvery: 0, lr: 1e-9, patience: 2, monitor: 'val_acc', cache: false });
  assert.ok(s.history.length < 6, `${s.history.length} epochs`);
  assert.deepEqual(s.stoppedEarly, { epoch: s.history.length, bestEpoch: s.best.epoch, monitor: 'val_acc', patience: 2 });
  assert.equal(s.history.length, s.best.epoch + 2);
  const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'finished');
  assert.equal(run.stoppedEarly.patience, 2);
});

/** Makes a finished run look like one killed after its last epoch's checkpoints (run.json still 'running'). */
async function interrupted(runDir) {
  const file = path.join(runDir, 'run.json');
  const { pid: _pid, ...record } = JSON.parse(await fs.readFile(file, 'utf8'));
  await fs.writeFile(file, JSON.stringify({ ...record, status: 'running' }));
}

test('a resumed SGD run with EMA continues bit for bit: 1 epoch + --resume to 2 equals 2 epochs straight', async (t) => {
  const data = await fashionSlice(t, { train: 300, test: 10 });
  const dir = await tempDir(t);
  // a step schedule of 1-epoch steps does not span the run, so --epochs may change on resume
  const recipe = { data, arch: 'fmnist-res', val: 0.2, seed: 6, threads: 2, saveEvery: 0, ema: 0.9, schedule: 'step', stepSize: 1, stepGamma: 0.5, warmup: 0.5, cache: false };
  const straight = path.join(dir, 'straight');
  const resumed = path.join(dir, 'resumed');
  await train({ ...recipe, epochs: 2, out: straight });
  await train({ ...recipe, epochs: 1, out: resumed });
  await interrupted(resumed);
  await train({ resume: resumed, epochs: 2 });
  const [a, b] = [await loadCheckpoint(path.join(straight, 'last.safetensors')), await loadCheckpoint(path.join(resumed, 'last.safetensors'))];
  assert.deepEqual(b.params, a.params);
  assert.deepEqual(b.accumulators, a.accumulators);
  assert.deepEqual(b.ema, a.ema);
  assert.deepEqual(b.state, a.state);
  assert.deepEqual((await readHistory(resumed)).map((r) => r.lr), (await readHistory(straight)).map((r) => r.lr));
  // a cosine run may not change its length on resume: its lr of every step depends on it
  const cosine = path.join(dir, 'cosine');
  await train({ data, arch: 'fmnist-res', val: 0.2, seed: 6, threads: 2, saveEvery: 0, epochs: 1, out: cosine, cache: false });
  await interrupted(cosine);
  await assert.rejects(train({ resume: cosine, epochs: 2 }), (e) => e.exitCode === 2 && /--epochs 2 would reshape the run's cosine schedule/.test(e.message));
});
