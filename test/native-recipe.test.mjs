// The training recipe beyond the seed's: SGD with momentum (and Nesterov's), AdamW, weight decay on the kernels
// only, gradient-norm clipping, label smoothing, a moving average of the weights, the input normalisation and the
// small-image augmentation (random crop of the zero-padded image, flip, rotation, erasing). Each update is checked
// against its formula computed here in double precision on a float64 trainer, which must agree exactly (the
// same operations in the same order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { rng } from './helpers.mjs';

const k = native.kernels;
const TINY = {
  name: 'tiny',
  input: [5, 4, 2],
  head: 'softmax',
  layers: [{ type: 'conv3x3', filters: 3 }, { type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 3 }],
};

function batch(B, seed) {
  const r = rng(seed);
  return { images: Uint8Array.from({ length: B * 40 }, () => Math.floor(r() * 256)), labels: Uint8Array.from({ length: B }, (_, i) => i % 3) };
}

/** Runs `steps` steps and, before each, the optimizer's formula on the gradient of that step; returns both. */
async function follow(config, opt, steps, update) {
  const t = new native.Trainer(trainerConfig({ spec: TINY, seed: 3, threads: 2, dtype: 'float64', ...config }));
  const { images, labels } = batch(6, 4);
  const layout = t.paramLayout();
  const p = Float64Array.from(t.getParams());
  const state = { t: 0, a: new Float64Array(p.length), b: new Float64Array(p.length) };
  for (let s = 0; s < steps; s++) {
    const g = Float64Array.from(t.computeGradients(images, labels).gradients);
    update(p, g, state, layout);
    await t.trainStep(images, labels, null, opt);
  }
  return { got: t.getParams(), want: p, trainer: t, images, labels };
}

const decays = (layout, n, wd) => {
  const out = new Float64Array(n);
  for (const e of layout) if (e.name.endsWith('.kernel')) out.fill(wd, e.offset, e.offset + e.size);
  return out;
};

test('SGD with momentum, plain and Nesterov, with weight decay on the kernels only', async () => {
  for (const nesterov of [false, true]) {
    const opt = { lr: 0.05, momentum: 0.9, nesterov, weightDecay: 0.01 };
    const { got, want } = await follow({ optimizer: 'sgd' }, opt, 4, (p, g, st, layout) => {
      const wd = decays(layout, p.length, opt.weightDecay);
      for (let i = 0; i < p.length; i++) {
        const gi = wd[i] !== 0 ? g[i] + wd[i] * p[i] : g[i];
        st.a[i] = opt.momentum * st.a[i] + gi;
        p[i] -= opt.lr * (nesterov ? gi + opt.momentum * st.a[i] : st.a[i]);
      }
    });
    assert.deepEqual(got, want, `nesterov ${nesterov}`);
  }
});

test('AdamW: bias-corrected moments from step 1, decoupled weight decay on the kernels only', async () => {
  const opt = { lr: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1 };
  const { got, want, trainer } = await follow({ optimizer: 'adamw' }, opt, 5, (p, g, st, layout) => {
    st.t++;
    const wd = decays(layout, p.length, opt.weightDecay);
    const c1 = 1 - opt.beta1 ** st.t;
    const c2 = 1 - opt.beta2 ** st.t;
    for (let i = 0; i < p.length; i++) {
      if (wd[i] !== 0) p[i] *= 1 - opt.lr * wd[i];
      st.a[i] = opt.beta1 * st.a[i] + (1 - opt.beta1) * g[i];
      st.b[i] = opt.beta2 * st.b[i] + (1 - opt.beta2) * g[i] * g[i];
      p[i] -= (opt.lr * (st.a[i] / c1)) / (Math.sqrt(st.b[i] / c2) + opt.epsilon);
    }
  });
  // (the bias corrections take powers, which C++'s pow and JavaScript's ** may round differently in the last bit)
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= 1e-13 * Math.max(1, Math.abs(want[i])), `[${i}] ${got[i]} vs ${want[i]}`);
  // its state: both moments, one after the other; the first takes either sign, so it goes back in as it came out
  const state = trainer.getState();
  assert.equal(state.accumulators.length, 2 * got.length);
  assert.ok(state.accumulators.subarray(0, got.length).some((m) => m < 0));
  trainer.setState(state);
  assert.deepEqual(trainer.getState(), state);
  const v = Float64Array.from(state.accumulators);
  v[got.length] = -1;
  assert.throws(() => trainer.setState({ ...state, accumulators: v }), new RegExp(`state\\.accumulators\\[${got.length}\\] must be finite and >= 0`));
});

test('RMSprop with weight decay and gradient-norm clipping', async () => {
  const opt = { lr: 0.01, rho: 0.9, epsilon: 1e-7, weightDecay: 0.05, clipNorm: 0.05 };
  let clipped = 0;
  const { got, want } = await follow({}, opt, 4, (p, g, st, layout) => {
    const norm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    if (norm > opt.clipNorm) {
      clipped++;
      for (let i = 0; i < g.length; i++) g[i] *= opt.clipNorm / norm;
    }
    const wd = decays(layout, p.length, opt.weightDecay);
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + wd[i] * p[i];
      st.a[i] = opt.rho * st.a[i] + (1 - opt.rho) * gi * gi;
      p[i] -= (opt.lr * gi) / (Math.sqrt(st.a[i]) + opt.epsilon);
    }
  });
  assert.ok(clipped > 0, 'the clipping ran');
  assert.deepEqual(got, want);
});

test('label smoothing: the training loss is the smoothed cross-entropy of the probabilities', async () => {
  const { images, labels } = batch(6, 7);
  for (const e of [0, 0.1]) {
    const t = new native.Trainer(trainerConfig({ spec: TINY, seed: 5, dtype: 'float64', labelSmoothing: e }));
    const loss = t.computeGradients(images, labels).loss;
    const { probabilities: p } = await t.evaluate(images, labels); // (evaluation reports the plain loss)
    let want = 0;
    for (let b = 0; b < 6; b++) for (let c = 0; c < 3; c++) want -= ((c === labels[b] ? 1 - e : 0) + e / 3) * Math.log(p[3 * b + c]);
    assert.ok(Math.abs(loss - want / 6) < 1e-6, `e=${e}: ${loss} vs ${want / 6}`);
  }
});

test('the moving average of the weights follows every update; evaluation can run it instead of the weights', async () => {
  const opt = { lr: 0.05 };
  const t = new native.Trainer(trainerConfig({ spec: TINY, seed: 6, dtype: 'float64', ema: 0.8 }));
  const { images, labels } = batch(6, 8);
  const ema = Float64Array.from(t.getParams());
  assert.deepEqual(t.getState().ema, ema, 'it starts at the initial weights');
  for (let s = 0; s < 3; s++) {
    await t.trainStep(images, labels, null, opt);
    const p = t.getParams();
    for (let i = 0; i < ema.length; i++) ema[i] = 0.8 * ema[i] + (1 - 0.8) * p[i];
  }
  assert.deepEqual(t.getState().ema, ema);
  const byEma = await t.evaluate(images, labels, { ema: true });
  const byWeights = await t.evaluate(images, labels);
  assert.notDeepEqual(byEma.probabilities, byWeights.probabilities);
  const copy = new native.Trainer(trainerConfig({ spec: TINY, seed: 6, dtype: 'float64' }));
  copy.setParams(ema);
  assert.deepEqual((await copy.evaluate(images, labels)).probabilities, byEma.probabilities);
  assert.throws(() => copy.evaluate(images, labels, { ema: true }), /ema: this trainer keeps no moving average/);
});

test('normalisation: the inputs are (pixels / 255 - mean) / std per channel', async () => {
  const spec = { name: 'lin', input: [2, 2, 3], layers: [{ type: 'flatten' }, { type: 'dense', units: 1 }] };
  const normalize = { mean: [0.5, 0.25, 0.1], std: [0.2, 0.5, 1.5] };
  const t = new native.Trainer(trainerConfig({ spec, dtype: 'float64', normalize }));
  const r = rng(9);
  const w = Float64Array.from({ length: 13 }, () => r() - 0.5);
  t.setParams(w);
  const images = Uint8Array.from({ length: 2 * 12 }, () => Math.floor(r() * 256));
  const p = await t.predict(images);
  for (let b = 0; b < 2; b++) {
    let z = w[12];
    for (let i = 0; i < 12; i++) z += w[i] * ((images[12 * b + i] * (1 / 255) - normalize.mean[i % 3]) * (1 / normalize.std[i % 3]));
    assert.ok(Math.abs(p[b] - 1 / (1 + Math.exp(-z))) < 1e-7, `${p[b]} vs ${1 / (1 + Math.exp(-z))}`);
  }
  assert.throws(() => new native.Trainer(trainerConfig({ spec, normalize: { mean: [0], std: [1] } })), /normalize\.mean must be an array of 3 numbers/);
  assert.throws(() => new native.Trainer(trainerConfig({ spec, normalize: { mean: [0, 0, 0], std: [1, 0, 1] } })), /normalize\.std must be > 0/);
});

test('the small-image augmentation: shift with zeros behind, mirror, erase, rotation; a trainer takes 8 numbers an image', () => {
  const [H, W, C] = [5, 6, 2];
  const img = Uint8Array.from({ length: H * W * C }, (_, i) => 1 + (i % 250));
  const at = (a, y, x, c) => a[(y * W + x) * C + c];
  const run = (params, erased = -1) => {
    const out = new Float32Array(H * W * C);
    k.augmentCrop(out, img, { H, W, C }, Float64Array.from(params), 1, erased);
    return out;
  };
  const id = run([0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(id, Float32Array.from(img));
  const shifted = run([1, -2, 0, 0, 0, 0, 0, 0]); // down one row, left two columns
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) assert.equal(at(shifted, y, x, 1), y - 1 >= 0 && x + 2 < W ? at(img, y - 1, x + 2, 1) : 0);
  const flipped = run([0, 0, 1, 0, 0, 0, 0, 0]);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) assert.equal(at(flipped, y, x, 0), at(img, y, W - 1 - x, 0));
  const erased = run([0, 0, 0, 0, 1, 2, 2, 3]);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) assert.equal(at(erased, y, x, 1), y >= 1 && y < 3 && x >= 2 && x < 5 ? -1 : at(img, y, x, 1));
  // a half turn about the centre is exact: (y, x) takes (H-1-y, W-1-x)
  const turned = run([0, 0, 0, Math.PI, 0, 0, 0, 0]);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) assert.ok(Math.abs(at(turned, y, x, 0) - at(img, H - 1 - y, W - 1 - x, 0)) < 1e-9);
  const t = new native.Trainer(trainerConfig({ spec: TINY, augment: 'crop' }));
  const { images, labels } = batch(2, 1);
  assert.throws(() => t.computeGradients(images, labels, new Float64Array(8)), /augment must have 16 elements, got 8/);
  t.computeGradients(images, labels, new Float64Array(16));
});
