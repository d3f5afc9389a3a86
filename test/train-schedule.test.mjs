// The learning rate of each step (src/train/schedule.ts): constant, step, cosine and one-cycle, each with a
// linear warm-up. The cosine and one-cycle references are PyTorch 1.13's CosineAnnealingLR(T_max=20) and
// OneCycleLR(max_lr=0.1, total_steps=100) as Debian's python3-torch printed them (param_groups[0]['lr'] before
// each step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate } from '../dist/src/train/schedule.js';
import { SEED_RECIPE } from '../dist/src/model/spec.js';

const close = (actual, expected, what) => assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${what}: ${actual} != ${expected}`);
const at = (settings, step, perEpoch = 10) => learningRate({ ...SEED_RECIPE, lr: 0.1, ...settings }, step, perEpoch);

test("constant: the lr at every step (the seed's), and a linear warm-up to it", () => {
  for (const step of [0, 1, 55, 699]) assert.equal(at({ schedule: 'constant', epochs: 70 }, step), 0.1);
  // one warm-up epoch of 10 steps: 1/10 ... 10/10 of the lr, then the lr
  close(at({ schedule: 'constant', epochs: 3, warmup: 1 }, 0), 0.01, 'step 0');
  close(at({ schedule: 'constant', epochs: 3, warmup: 1 }, 4), 0.05, 'step 4');
  assert.equal(at({ schedule: 'constant', epochs: 3, warmup: 1 }, 9), 0.1);
  assert.equal(at({ schedule: 'constant', epochs: 3, warmup: 1 }, 25), 0.1);
});

test('step: times --step-gamma every --step-size epochs (default a third of the epochs)', () => {
  const s = { schedule: 'step', epochs: 6, stepGamma: 0.1 };
  for (const stepSize of [2, 0]) {
    assert.equal(at({ ...s, stepSize }, 19), 0.1, 'epoch 2');
    close(at({ ...s, stepSize }, 20), 0.01, 'epoch 3');
    close(at({ ...s, stepSize }, 59), 0.001, 'epoch 6');
  }
});

test("cosine: PyTorch's CosineAnnealingLR over the steps after the warm-up", () => {
  const torch = [[0, 0.1], [5, 0.08535533905932739], [10, 0.05000000000000001], [19, 0.0006155829702431171]];
  // no warm-up: 2 epochs of 10 steps are T_max 20
  for (const [i, lr] of torch) close(at({ schedule: 'cosine', epochs: 2 }, i), lr, `step ${i}`);
  // one warm-up epoch, then the same 20 steps of cosine
  close(at({ schedule: 'cosine', epochs: 3, warmup: 1 }, 0), 0.01, 'warm-up step 0');
  for (const [i, lr] of torch) close(at({ schedule: 'cosine', epochs: 3, warmup: 1 }, 10 + i), lr, `step ${10 + i}`);
});

test("onecycle: PyTorch's OneCycleLR (30% rising, cos annealing, div 25, final div 1e4)", () => {
  const torch = [[0, 0.0040000000000000036], [10, 0.029516394846410082], [29, 0.1], [30, 0.09994965352845243], [60, 0.05892800902855288], [99, 4e-7]];
  for (const [i, lr] of torch) close(at({ schedule: 'onecycle', epochs: 10 }, i), lr, `step ${i}`);
  // --warmup sets the rising phase: 2 epochs of 10 steps peak at step 19
  close(at({ schedule: 'onecycle', epochs: 10, warmup: 2 }, 19), 0.1, 'peak');
  assert.ok(at({ schedule: 'onecycle', epochs: 10, warmup: 2 }, 18) < 0.1);
});
