// Finite-difference gradient checks in double precision (the Float64Array kernels and a float64 Trainer), for
// every layer on its own and for a whole small network; plus the initialisation (seeding, Glorot limits).
//
// Central differences: g_fd = (f(p + h) - f(p - h)) / (2h). Its error has two parts:
//   truncation  h^2/6 * |f'''|: zero for the layers that are (piecewise) linear in the perturbed value (conv,
//               dense, max-pool, ReLU away from their kinks), and about 1e-12 for the sigmoid loss and the whole
//               network at h = 1e-5 (|f'''| of order 1..10 there);
//   rounding    about eps * M / h, eps = 2^-52 and M the size of the sums f is made of (M = sum |terms|).
// Each check therefore passes when |analytic - fd| <= RTOL * max(|analytic|, |fd|) + 8 * eps * M / h with
// RTOL = 1e-6: a wrong gradient (a missing term, a transposed index, a wrong scale) is off by far more, while
// M makes the absolute part honest for gradients that are tiny or exactly zero. h = 1e-6 for the piecewise-linear
// layers (rounding is the only error, and inputs are kept at least 1e-2 away from any kink so no step crosses
// one); h = 1e-5 for the loss and the network, which balances truncation against rounding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { rng } from './helpers.mjs';
import { SEED7 } from '../dist/src/model/spec.js';

const k = native.kernels;
const EPS = 2 ** -52;
const RTOL = 1e-6;

const rand64 = (n, r, lo = -1, hi = 1) => Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
const dot = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const absDot = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] * b[i]);
  return s;
};

/**
 * Checks analytic[i] against central differences of f() in each element of `param` (perturbed in place and
 * restored). M: the magnitude of f's sums, for the rounding part of the tolerance. Returns the worst ratio
 * error / tolerance (must be <= 1).
 */
function fdCheck(name, param, analytic, f, { h, M }) {
  assert.equal(analytic.length, param.length, `${name}: gradient length`);
  const atol = (8 * EPS * M) / h;
  let worst = 0;
  for (let i = 0; i < param.length; i++) {
    const p0 = param[i];
    param[i] = p0 + h;
    const fp = f();
    param[i] = p0 - h;
    const fm = f();
    param[i] = p0;
    const fd = (fp - fm) / (2 * h);
    const a = analytic[i];
    const tol = RTOL * Math.max(Math.abs(a), Math.abs(fd)) + atol;
    const ratio = Math.abs(a - fd) / tol;
    assert.ok(ratio <= 1, `${name}[${i}]: analytic ${a} vs finite difference ${fd} (tolerance ${tol})`);
    worst = Math.max(worst, ratio);
  }
  return worst;
}

test('conv3x3: input, kernel and bias gradients of L = sum(r * out)', () => {
  const [N, H, W, Cin, Cout] = [2, 5, 6, 3, 4];
  const Ho = H - 2;
  const Wo = W - 2;
  const r = rng(11);
  const x = rand64(N * H * W * Cin, r);
  const w = rand64(9 * Cin * Cout, r);
  const b = rand64(Cout, r);
  const R = rand64(N * Ho * Wo * Cout, r);
  const out = new Float64Array(R.length);
  const L = () => {
    k.conv3x3Forward(out, x, w, b, { N, H, W, Cin, Cout });
    return dot(R, out);
  };
  L();
  const M = absDot(R, out) + 9 * Cin * R.length; // |inputs|, |weights| <= 1: the products inside each output
  const din = new Float64Array(x.length).fill(123); // overwritten
  k.conv3x3BackwardInput(din, R, w, { N, H, W, Cin, Cout });
  const dw = new Float64Array(w.length);
  const db = new Float64Array(b.length);
  k.conv3x3BackwardWeight(dw, db, R, x, { N, H, W, Cin, Cout });
  const opts = { h: 1e-6, M };
  fdCheck('din', x, din, L, opts);
  fdCheck('dw', w, dw, L, opts);
  fdCheck('db', b, db, L, opts);
  // the weight-gradient kernel accumulates: a second call doubles
  const dw2 = Float64Array.from(dw);
  const db2 = Float64Array.from(db);
  k.conv3x3BackwardWeight(dw2, db2, R, x, { N, H, W, Cin, Cout });
  dw2.forEach((v, i) => assert.ok(Math.abs(v - 2 * dw[i]) <= 1e-12 * (1 + Math.abs(v)), `dw accumulates [${i}]`));
  db2.forEach((v, i) => assert.ok(Math.abs(v - 2 * db[i]) <= 1e-12 * (1 + Math.abs(v)), `db accumulates [${i}]`));
});

test('maxpool2x2: gradient of L = sum(r * out), odd height (the floor drops the last row)', () => {
  const [N, H, W, C] = [2, 5, 6, 3];
  const n = N * H * W * C;
  const r = rng(12);
  // distinct values at least 1e-2 apart (a shuffled ramp plus small noise): no ties, no step crosses another value
  const ramp = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ramp[i], ramp[j]] = [ramp[j], ramp[i]];
  }
  const x = Float64Array.from(ramp, (v) => (v - n / 2) * 0.02 + 0.005 * r());
  const R = rand64(N * (H >> 1) * (W >> 1) * C, r);
  const out = new Float64Array(R.length);
  const L = () => {
    k.maxpool2x2Forward(out, x, { N, H, W, C });
    return dot(R, out);
  };
  L();
  const din = new Float64Array(n).fill(7);
  k.maxpool2x2Backward(din, R, x, { N, H, W, C });
  fdCheck('din', x, din, L, { h: 1e-6, M: absDot(R, out) });
  // exactly one element per window receives the gradient; the dropped row gets none
  const nonzero = din.filter((v) => v !== 0).length;
  assert.equal(nonzero, R.length);
  for (let nn = 0; nn < N; nn++)
    for (let i = 0; i < W * C; i++) assert.equal(din[(nn * H + H - 1) * W * C + i], 0);
});

test('maxpool2x2: a tie sends the gradient to the first maximum in row-major order', () => {
  const x = Float64Array.from([1, 3, 3, 3]); // one 2x2 window, C = 1
  const din = new Float64Array(4);
  k.maxpool2x2Backward(din, Float64Array.of(5), x, { N: 1, H: 2, W: 2, C: 1 });
  assert.deepEqual(Array.from(din), [0, 5, 0, 0]);
});

test('relu: gradient away from 0', () => {
  const r = rng(13);
  const n = 60;
  // |x| in [0.1, 1]: no step crosses the kink
  const x = Float64Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.1 + 0.9 * r()));
  const R = rand64(n, r);
  const out = new Float64Array(n);
  const L = () => {
    k.reluForward(out, x);
    return dot(R, out);
  };
  L();
  const din = new Float64Array(n).fill(9);
  k.reluBackward(din, R, out);
  fdCheck('din', x, din, L, { h: 1e-6, M: absDot(R, out) });
  assert.ok(din.some((v) => v === 0) && din.some((v) => v !== 0));
});

test('dense: input, kernel and bias gradients', () => {
  const [N, I, O] = [3, 7, 5];
  const r = rng(14);
  const x = rand64(N * I, r);
  const w = rand64(I * O, r);
  const b = rand64(O, r);
  const R = rand64(N * O, r);
  const out = new Float64Array(N * O);
  const L = () => {
    k.denseForward(out, x, w, b, { N, I, O });
    return dot(R, out);
  };
  L();
  const din = new Float64Array(N * I).fill(3);
  const dw = new Float64Array(I * O);
  const db = new Float64Array(O);
  k.denseBackward(din, dw, db, R, x, w, { N, I, O });
  const opts = { h: 1e-6, M: absDot(R, out) + I * R.length };
  fdCheck('din', x, din, L, opts);
  fdCheck('dw', w, dw, L, opts);
  fdCheck('db', b, db, L, opts);
  // din may be null (the first layer needs no input gradient); dw, db still accumulate
  const dw2 = Float64Array.from(dw);
  const db2 = Float64Array.from(db);
  k.denseBackward(null, dw2, db2, R, x, w, { N, I, O });
  dw2.forEach((v, i) => assert.ok(Math.abs(v - 2 * dw[i]) <= 1e-12 * (1 + Math.abs(v))));
  db2.forEach((v, i) => assert.ok(Math.abs(v - 2 * db[i]) <= 1e-12 * (1 + Math.abs(v))));
});

test('dropout: with the mask fixed, the layer is out = in * mask (kept units x2), so d out / d in = mask', () => {
  // The raw kernels expose the mask only; the forward/backward products are checked inside the network
  // gradient check below (its dense layer is followed by dropout 0.5). Here: the mask is a valid inverted-dropout
  // mask, so the layer's Jacobian diag(mask) is 0 or exactly 1/(1-rate).
  const mask = new Float64Array(1000);
  k.dropoutMask(mask, 0.5, 3, 0);
  assert.ok(mask.every((v) => v === 0 || v === 2));
  const m3 = new Float64Array(1000);
  k.dropoutMask(m3, 0.25, 3, 0);
  assert.ok(m3.every((v) => v === 0 || v === 1 / 0.75));
});

const CLIP = Math.log((1 - 1e-7) / 1e-7); // 16.11809555...

// -[y log p + (1-y) log(1-p)] with p = sigmoid(z) clipped to [1e-7, 1-1e-7]; 1-p is computed as sigmoid(-z)
// (the same number, without the cancellation of 1 - p), clipped the same way.
function bceFormula(z, y) {
  const clip = (v) => Math.min(Math.max(v, 1e-7), 1 - 1e-7);
  const p = clip(1 / (1 + Math.exp(-z)));
  const q = clip(1 / (1 + Math.exp(z)));
  return -(y * Math.log(p) + (1 - y) * Math.log(q));
}

test('sigmoidBce: loss sum vs dlogit (scale 1), zero gradient beyond the clip, and the loss formula', () => {
  assert.ok(Math.abs(CLIP - 16.1180955509583) < 1e-12);
  const r = rng(15);
  const z = [];
  for (let i = 0; i < 24; i++) z.push((r() - 0.5) * 24); // -12 .. 12
  z.push(-16, 16, 16.1, -16.1, 16.2, -16.2, 17, -17, 20, -20, 40, -100, 0, 1e-3);
  const logits = Float64Array.from([...z, ...z]);
  const labels = Float64Array.from([...z.map(() => 0), ...z.map(() => 1)]);
  const n = logits.length;
  const dlogit = new Float64Array(n).fill(NaN);
  const total = k.sigmoidBce(dlogit, logits, labels, 1);
  // the sum equals the per-element formula
  let expected = 0;
  for (let i = 0; i < n; i++) {
    const one = k.sigmoidBce(null, logits.subarray(i, i + 1), labels.subarray(i, i + 1), 1);
    const f = bceFormula(logits[i], labels[i]);
    assert.ok(Math.abs(one - f) <= 1e-12 * Math.abs(f) + 1e-14, `loss(z=${logits[i]}, y=${labels[i]}) = ${one}, formula ${f}`);
    expected += f;
  }
  assert.ok(Math.abs(total - expected) <= 1e-12 * expected, `sum ${total} vs ${expected}`);
  // at and beyond the clip the loss is the clipped constant: -log(1e-7) for the wrong class, -log(1-1e-7) for the right one
  const at = (zz, y) => k.sigmoidBce(null, Float64Array.of(zz), Float64Array.of(y), 1);
  for (const zz of [16.2, 20, 1e3]) {
    assert.ok(Math.abs(at(zz, 0) + Math.log(1e-7)) < 1e-12 && Math.abs(at(-zz, 1) + Math.log(1e-7)) < 1e-12);
    assert.ok(Math.abs(at(zz, 1) + Math.log1p(-1e-7)) < 1e-15 && Math.abs(at(-zz, 0) + Math.log1p(-1e-7)) < 1e-15);
  }
  // dlogit against central differences of the summed loss; beyond the clip both are exactly 0
  const M = total + n * CLIP;
  fdCheck('dlogit', logits, dlogit, () => k.sigmoidBce(null, logits, labels, 1), { h: 1e-5, M });
  for (let i = 0; i < n; i++) {
    if (Math.abs(logits[i]) > CLIP) assert.equal(dlogit[i], 0, `dlogit(z=${logits[i]}) must be exactly 0 (clipped)`);
    else assert.ok(Math.abs(dlogit[i] - (1 / (1 + Math.exp(-logits[i])) - labels[i])) < 1e-15, `dlogit(z=${logits[i]}) = sigmoid(z) - y`);
  }
  // scale multiplies the gradient, not the loss
  const d2 = new Float64Array(n);
  const total2 = k.sigmoidBce(d2, logits, labels, 0.25);
  assert.equal(total2, total);
  d2.forEach((v, i) => assert.equal(v, 0.25 * dlogit[i]));
});

// ---- the whole network ----

// 13x12x3 -> conv 4: 11x10x4 -> pool (floor): 5x5x4 -> conv 8: 3x3x8 -> pool (floor): 1x1x8 -> flatten 8
// -> dense 5 -> relu -> dropout 0.5 -> dense 1: 459 parameters, every layer type, odd sizes for the pool floor
const SMALL = {
  name: 'gradcheck',
  input: [13, 12, 3],
  layers: [
    { type: 'conv3x3', filters: 4 },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'conv3x3', filters: 8 },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'flatten' },
    { type: 'dense', units: 5 },
    { type: 'relu' },
    { type: 'dropout', rate: 0.5 },
    { type: 'dense', units: 1 },
  ],
};
const SMALL_PARAMS = 3 * 3 * 3 * 4 + 4 + (3 * 3 * 4 * 8 + 8) + (8 * 5 + 5) + (5 + 1);

function smallBatch(seed, B = 3) {
  const r = rng(seed);
  const [H, W, C] = SMALL.input;
  const images = Uint8Array.from({ length: B * H * W * C }, () => Math.floor(r() * 256));
  const labels = Uint8Array.from({ length: B }, (_, i) => i % 2);
  return { images, labels };
}

/**
 * Small positive random biases (they start at zero): the check then does not lean on the zero init, and most
 * ReLUs are open, so the gradient reaches every layer (asserted below) whatever the Glorot draws were.
 */
function randomBiases(trainer, seed) {
  const r = rng(seed);
  const p = trainer.getParams();
  for (const e of trainer.paramLayout()) if (e.name.endsWith('.bias')) for (let i = 0; i < e.size; i++) p[e.offset + i] = 0.02 + 0.1 * r();
  trainer.setParams(p);
}

/** Checks every parameter of a float64 trainer's gradient against central differences of its loss. */
function networkGradcheck(trainer, images, labels, augment) {
  const params = trainer.getParams();
  assert.ok(params instanceof Float64Array);
  assert.equal(params.length, SMALL_PARAMS);
  const g0 = trainer.computeGradients(images, labels, augment);
  const again = trainer.computeGradients(images, labels, augment);
  // no update and no new masks between calls: the same loss and gradient
  assert.equal(again.loss, g0.loss);
  assert.deepEqual(again.gradients, g0.gradients);
  const grad = g0.gradients;
  assert.ok(grad instanceof Float64Array && grad.length === SMALL_PARAMS);
  // the magnitudes inside the loss: the sums of the network are of order 10 per image
  const M = 10 * (labels.length + g0.loss);
  const work = Float64Array.from(params);
  const loss = () => {
    trainer.setParams(work);
    return trainer.computeGradients(images, labels, augment).loss;
  };
  const worst = fdCheck('grad', work, grad, loss, { h: 1e-5, M });
  trainer.setParams(params);
  // every layer got a gradient (a layer that silently produced zeros would pass the FD check only if its loss
  // did not depend on it)
  for (const p of trainer.paramLayout()) {
    const part = grad.subarray(p.offset, p.offset + p.size);
    assert.ok(part.some((v) => v !== 0), `${p.name}: all-zero gradient`);
  }
  return { worst, loss: g0.loss };
}

test('whole network (float64): analytic gradient of the mean loss vs finite differences, every parameter', (t) => {
  const trainer = new native.Trainer(trainerConfig({ spec: SMALL, seed: 5, threads: 1, dtype: 'float64' }));
  assert.equal(trainer.info().dtype, 'float64');
  const { images, labels } = smallBatch(21);
  randomBiases(trainer, 22);
  const { worst, loss } = networkGradcheck(trainer, images, labels, null);
  t.diagnostic(`worst error/tolerance ${worst.toExponential(2)}, loss ${loss}`);
  trainer.dispose();
});

test('whole network (float64) with the augmentation warp given: the same check', (t) => {
  const trainer = new native.Trainer(trainerConfig({ spec: SMALL, seed: 6, threads: 1, dtype: 'float64' }));
  const { images, labels } = smallBatch(31);
  const augment = Float64Array.from([0.1, 0.9, 1.15, 1, -0.05, 1.2, 0.8, 0, 0.003, 1, 1, 1]);
  randomBiases(trainer, 32);
  const { worst } = networkGradcheck(trainer, images, labels, augment);
  // the warp changes the inputs, so the loss differs from the unwarped one
  const plain = trainer.computeGradients(images, labels, null).loss;
  assert.notEqual(trainer.computeGradients(images, labels, augment).loss, plain);
  t.diagnostic(`worst error/tolerance ${worst.toExponential(2)}`);
  trainer.dispose();
});

test('whole network: the dropout masks depend on the step and are active in computeGradients only', async () => {
  const trainer = new native.Trainer(trainerConfig({ spec: SMALL, seed: 7, threads: 1, dtype: 'float64' }));
  const { images, labels } = smallBatch(41, 4);
  const state = trainer.getState();
  const l0 = trainer.computeGradients(images, labels).loss;
  trainer.setState({ step: 1, accumulators: state.accumulators });
  const l1 = trainer.computeGradients(images, labels).loss;
  trainer.setState({ step: 0, accumulators: state.accumulators });
  assert.equal(trainer.computeGradients(images, labels).loss, l0, 'the same step gives the same masks');
  assert.notEqual(l1, l0, 'another step gives other masks');
  const evaluated = await trainer.evaluate(images, labels); // no dropout
  assert.notEqual(evaluated.loss, l0);
  trainer.dispose();
});

test('initialisation: same seed -> same params, other seed -> other params; Glorot limits, zero biases', () => {
  const a = new native.Trainer(trainerConfig({ spec: SEED7, seed: 7, threads: 1 }));
  const b = new native.Trainer(trainerConfig({ spec: SEED7, seed: 7, threads: 2 }));
  const c = new native.Trainer(trainerConfig({ spec: SEED7, seed: 8, threads: 1 }));
  const pa = a.getParams();
  assert.ok(pa instanceof Float32Array);
  assert.equal(pa.length, 91329);
  assert.deepEqual(b.getParams(), pa);
  const pc = c.getParams();
  let same = 0;
  for (let i = 0; i < pa.length; i++) if (pa[i] === pc[i] && pa[i] !== 0) same++;
  assert.ok(same < 10, `seeds 7 and 8 share ${same} non-zero values`);
  // the float64 trainer draws the same numbers (rounded to float32 they agree)
  const d = new native.Trainer(trainerConfig({ spec: SEED7, seed: 7, threads: 1, dtype: 'float64' }));
  assert.deepEqual(Float32Array.from(d.getParams()), pa);

  const layout = a.paramLayout();
  assert.deepEqual(
    layout.map((e) => e.name),
    ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'dense1', 'dense2'].flatMap((n) => [`${n}.kernel`, `${n}.bias`]),
  );
  for (const e of layout) {
    const v = pa.subarray(e.offset, e.offset + e.size);
    assert.equal(e.size, e.shape.reduce((x, y) => x * y, 1));
    if (e.name.endsWith('.bias')) {
      assert.ok(v.every((x) => x === 0), `${e.name} must start at zero`);
      continue;
    }
    const conv = e.shape.length === 4;
    const fanIn = conv ? 9 * e.shape[2] : e.shape[0];
    const fanOut = conv ? 9 * e.shape[3] : e.shape[1];
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    const limit32 = Math.fround(limit); // a value drawn below the limit cannot round above its float32 rounding
    let max = 0;
    for (const x of v) max = Math.max(max, Math.abs(x));
    assert.ok(max <= limit32, `${e.name}: |value| ${max} above the Glorot limit ${limit}`);
    // and it uses the whole range (not, say, limit/2): the largest of n uniform draws is within a few limit/n of it
    assert.ok(max >= limit * (1 - 20 / e.size), `${e.name}: largest |value| ${max} far below the limit ${limit}`);
    if (e.name === 'conv2.kernel') {
      assert.equal(e.size, 9216);
      const n = v.length;
      let mean = 0;
      for (const x of v) mean += x;
      mean /= n;
      let s2 = 0;
      for (const x of v) s2 += (x - mean) ** 2;
      s2 /= n - 1;
      // U(-a, a): variance a^2/3; the sample variance's standard deviation is a^2 * sqrt(4/45 / n) = 0.93% of
      // a^2/3 at n = 9216, and the mean's is a / sqrt(3n): allow 5 standard deviations
      const variance = limit ** 2 / 3;
      assert.ok(Math.abs(s2 - variance) <= 5 * limit ** 2 * Math.sqrt(4 / 45 / n), `conv2 variance ${s2} vs ${variance}`);
      assert.ok(Math.abs(mean) <= 5 * limit / Math.sqrt(3 * n), `conv2 mean ${mean}`);
    }
  }
  for (const tr of [a, b, c, d]) tr.dispose();
});
