// Semantics of the native ops and the Trainer boundary, against hand-computed or independently computed values:
// RMSprop (SPEC §4), dropout masks, the augmentation warp (SPEC §3; an own JS bilinear and a scipy fixture),
// the Trainer's argument errors and its determinism.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native, trainerConfig } from '../dist/src/native.js';
import { rng } from './helpers.mjs';
import { SEED7 } from '../dist/src/model/spec.js';

const k = native.kernels;
const here = path.dirname(fileURLToPath(import.meta.url));

const randomBytes = (n, r) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
/** float32 unit in the last place of |x| (for x a float32 value; subnormals not needed here) */
const ulp32 = (x) => (x === 0 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(Math.abs(x))) - 23));

// ---------- RMSprop ----------

const LR = 0.001;
const RHO = 0.9;
const EPS = 1e-7;

/** SPEC §4 in double: a = rho*a + (1-rho)*g^2; p -= lr*g/(sqrt(a)+eps). Returns the |update| too. */
function rmspropDouble(p, a, g) {
  const a1 = RHO * a + (1 - RHO) * g * g;
  const delta = (LR * g) / (Math.sqrt(a1) + EPS);
  return { p: p - delta, a: a1, delta: Math.abs(delta) };
}

function rmspropInputs(n, r) {
  const p = new Float64Array(n);
  const g1 = new Float64Array(n);
  const g2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    p[i] = (r() - 0.5) * 0.2;
    // gradients over many magnitudes, and a few exact zeros
    const mag = 10 ** (-8 + 8 * r());
    g1[i] = i % 97 === 0 ? 0 : (r() < 0.5 ? -1 : 1) * mag;
    g2[i] = i % 89 === 0 ? 0 : (r() - 0.5) * 10 ** (-8 + 8 * r());
  }
  return { p, g1, g2 };
}

test('rmspropUpdate float64: one and two steps equal the SPEC formula in double exactly', () => {
  // The reference evaluates the formula in the same order as written in SPEC §4 (and here); double arithmetic
  // is then bit-reproducible (the addon is built without -march/-mfma, so nothing is contracted into an FMA).
  const { p, g1, g2 } = rmspropInputs(500, rng(1));
  const param = Float64Array.from(p);
  const accum = new Float64Array(p.length);
  k.rmspropUpdate(param, accum, g1, LR, RHO, EPS);
  for (let i = 0; i < p.length; i++) {
    const e = rmspropDouble(p[i], 0, g1[i]);
    assert.equal(param[i], e.p, `step 1 param[${i}]`);
    assert.equal(accum[i], e.a, `step 1 accum[${i}]`);
  }
  const p1 = Float64Array.from(param);
  const a1 = Float64Array.from(accum);
  k.rmspropUpdate(param, accum, g2, LR, RHO, EPS);
  for (let i = 0; i < p.length; i++) {
    const e = rmspropDouble(p1[i], a1[i], g2[i]);
    assert.equal(param[i], e.p, `step 2 param[${i}]`);
    assert.equal(accum[i], e.a, `step 2 accum[${i}]`);
  }
  // by hand: g = 1 from a = 0 gives a = 0.1 and p = 0.5 - 0.001 / (sqrt(0.1) + 1e-7) = 0.496837723339831...
  const hp = Float64Array.of(0.5);
  const ha = Float64Array.of(0);
  k.rmspropUpdate(hp, ha, Float64Array.of(1), LR, RHO, EPS);
  assert.ok(Math.abs(ha[0] - 0.1) < 1e-16, `a = ${ha[0]}`);
  assert.ok(Math.abs(hp[0] - 0.4968377233398313) < 1e-15, `p = ${hp[0]}`); // 40-digit decimal: 0.49683772333983130444
  // a zero gradient from a zero accumulator leaves the parameter alone (0 / eps, not 0 / 0)
  const zp = Float64Array.of(0.25);
  k.rmspropUpdate(zp, Float64Array.of(0), Float64Array.of(0), LR, RHO, EPS);
  assert.equal(zp[0], 0.25);
});

test('rmspropUpdate float32: one and two steps within float32 rounding of the SPEC formula in double', () => {
  // The kernel works in float32 with the hyperparameters rounded to float32 once (as Keras' constants are).
  // Each of its ~7 operations and the 4 rounded constants add at most 2^-24 relative error to the update
  // delta (the square root halves the accumulator's), and the subtraction rounds once more: so
  // |p32 - fround(p_double)| <= ulp(p) + 16 * 2^-24 * sum of |delta| over the steps (+ a carried ulp per step).
  const { p, g1, g2 } = rmspropInputs(2000, rng(2));
  const param = Float32Array.from(p);
  const accum = new Float32Array(p.length);
  const p0 = Float64Array.from(param); // the float32 starting values, exactly
  k.rmspropUpdate(param, accum, Float32Array.from(g1), LR, RHO, EPS);
  const g1f = Float32Array.from(g1);
  const g2f = Float32Array.from(g2);
  const step1 = Float32Array.from(param);
  const acc1 = Float32Array.from(accum);
  k.rmspropUpdate(param, accum, g2f, LR, RHO, EPS);
  let worst = 0;
  for (let i = 0; i < p.length; i++) {
    const e1 = rmspropDouble(p0[i], 0, g1f[i]);
    const tol1 = ulp32(e1.p) + 16 * 2 ** -24 * e1.delta;
    assert.ok(Math.abs(step1[i] - e1.p) <= tol1, `step 1 param[${i}]: ${step1[i]} vs ${e1.p}`);
    assert.ok(Math.abs(acc1[i] - e1.a) <= 4 * 2 ** -24 * e1.a, `step 1 accum[${i}]: ${acc1[i]} vs ${e1.a}`);
    const e2 = rmspropDouble(e1.p, e1.a, g2f[i]);
    const tol2 = 2 * ulp32(e2.p) + ulp32(e1.p) + 16 * 2 ** -24 * (e1.delta + e2.delta) + 2 ** -23 * e2.delta;
    assert.ok(Math.abs(param[i] - e2.p) <= tol2, `step 2 param[${i}]: ${param[i]} vs ${e2.p}`);
    assert.ok(Math.abs(accum[i] - e2.a) <= 8 * 2 ** -24 * e2.a, `step 2 accum[${i}]: ${accum[i]} vs ${e2.a}`);
    if (Math.abs(e2.p) >= 0.01) worst = Math.max(worst, Math.abs(param[i] - e2.p) / ulp32(e2.p));
  }
  // where the parameter is much larger than the updates (|p| >= 0.01, |delta| <= lr*sqrt(10)), the two-step
  // error is within a couple of float32 ulps of the parameter
  assert.ok(worst <= 2, `worst two-step error ${worst} ulp`);
  // rounding 0.9 and 0.1 to float32 matters at this level: the float32 accumulator is not the double one
  assert.ok(Array.from(acc1).some((v, i) => v !== 0.1 * g1f[i] * g1f[i]));
});

test('rmspropUpdate: argument checks', () => {
  assert.throws(() => k.rmspropUpdate(new Float32Array(3), new Float32Array(2), new Float32Array(3), LR, RHO, EPS), (e) => e instanceof RangeError && /^accum must have 3/.test(e.message));
  assert.throws(() => k.rmspropUpdate(new Float32Array(3), new Float32Array(3), new Float64Array(3), LR, RHO, EPS), (e) => e instanceof TypeError && /^grad must be a Float32Array/.test(e.message));
  assert.throws(() => k.rmspropUpdate(new Float32Array(3), new Float32Array(3), new Float32Array(3), NaN, RHO, EPS), (e) => e instanceof RangeError && /^lr must be finite/.test(e.message));
});

// ---------- dropout masks ----------

test('dropoutMask: inverted-dropout values, rate, determinism in (seed, key)', () => {
  const n = 100000;
  const a = new Float32Array(n);
  k.dropoutMask(a, 0.5, 7, 1000);
  let dropped = 0;
  for (const v of a) {
    assert.ok(v === 0 || v === 2, `mask value ${v}`);
    if (v === 0) dropped++;
  }
  // binomial(100000, 0.5): standard deviation 0.0016; 0.01 is over 6 of them
  assert.ok(Math.abs(dropped / n - 0.5) < 0.01, `dropped fraction ${dropped / n}`);
  // no long runs (a broken counter would repeat one value): the longest run of equal values is ~17 for n = 1e5
  let run = 1;
  let longest = 1;
  for (let i = 1; i < n; i++) {
    run = a[i] === a[i - 1] ? run + 1 : 1;
    longest = Math.max(longest, run);
  }
  assert.ok(longest < 40, `longest run ${longest}`);

  const same = new Float32Array(n);
  k.dropoutMask(same, 0.5, 7, 1000);
  assert.deepEqual(same, a);
  // the neighbouring key, or another seed, gives an independent mask (neither equal nor shifted)
  const other = new Float32Array(n);
  k.dropoutMask(other, 0.5, 7, 1001);
  let diff = 0;
  let shiftedDiff = 0;
  for (let i = 0; i < n; i++) if (other[i] !== a[i]) diff++;
  for (let i = 1; i < n; i++) if (other[i - 1] !== a[i]) shiftedDiff++;
  assert.ok(Math.abs(diff / n - 0.5) < 0.01, `other key: ${diff} of ${n} differ`);
  assert.ok(Math.abs(shiftedDiff / n - 0.5) < 0.01, `other key is not a shifted copy: ${shiftedDiff} differ`);
  const seed8 = new Float32Array(n);
  k.dropoutMask(seed8, 0.5, 8, 1000);
  diff = 0;
  for (let i = 0; i < n; i++) if (seed8[i] !== a[i]) diff++;
  assert.ok(Math.abs(diff / n - 0.5) < 0.01, `other seed: ${diff} of ${n} differ`);

  // other rates: kept units are scaled by 1/(1-rate) (rounded to the array's type); rate 0 keeps everything
  const q = new Float32Array(n);
  k.dropoutMask(q, 0.25, 1, 0);
  const keep = Math.fround(1 / 0.75);
  let zeros = 0;
  for (const v of q) {
    assert.ok(v === 0 || v === keep);
    if (v === 0) zeros++;
  }
  assert.ok(Math.abs(zeros / n - 0.25) < 0.01, `rate 0.25 dropped ${zeros / n}`);
  const none = new Float64Array(1000);
  k.dropoutMask(none, 0, 1, 0);
  assert.ok(none.every((v) => v === 1));
  assert.throws(() => k.dropoutMask(new Float32Array(4), 1, 1, 0), (e) => e instanceof RangeError && /^rate must be in \[0, 1\)/.test(e.message));
  assert.throws(() => k.dropoutMask(new Float32Array(4), 0.5, -1, 0), (e) => e instanceof RangeError && /^seed/.test(e.message));
});

// ---------- augmentation warp ----------

/**
 * SPEC §3 written independently: for output pixel (row, col), the source is T . ((row, col) - o) + o with
 * T = Shear . Zoom = [[1, -sin s], [0, cos s]] . diag(zx, zy), o = (H/2 + 0.5, W/2 + 0.5); coordinates are
 * clamped to the image ('nearest'), sampled bilinearly; then the row is mirrored if flip. Values 0..255.
 */
function warpJs(img, H, W, C, s, zx, zy, flip) {
  const T = [
    [1 * zx, -Math.sin(s) * zy],
    [0 * zx, Math.cos(s) * zy],
  ];
  const or = H / 2 + 0.5;
  const oc = W / 2 + 0.5;
  const out = new Float64Array(H * W * C);
  const px = (r, c, ch) => img[(r * W + c) * C + ch];
  for (let r = 0; r < H; r++)
    for (let c = 0; c < W; c++) {
      let y = T[0][0] * (r - or) + T[0][1] * (c - oc) + or;
      let x = T[1][0] * (r - or) + T[1][1] * (c - oc) + oc;
      y = Math.min(Math.max(y, 0), H - 1);
      x = Math.min(Math.max(x, 0), W - 1);
      const y0 = Math.floor(y);
      const x0 = Math.floor(x);
      const y1 = Math.min(y0 + 1, H - 1);
      const x1 = Math.min(x0 + 1, W - 1);
      const fy = y - y0;
      const fx = x - x0;
      const dst = flip ? W - 1 - c : c;
      for (let ch = 0; ch < C; ch++) {
        const top = px(y0, x0, ch) + fx * (px(y0, x1, ch) - px(y0, x0, ch));
        const bottom = px(y1, x0, ch) + fx * (px(y1, x1, ch) - px(y1, x0, ch));
        out[(r * W + dst) * C + ch] = top + fy * (bottom - top);
      }
    }
  return out;
}

test('augmentWarp: the identity reproduces in/255 exactly, flip only mirrors the columns exactly', () => {
  const [H, W, C] = [7, 10, 3];
  const img = randomBytes(H * W * C, rng(3));
  const s64 = 1 / 255;
  const out64 = new Float64Array(H * W * C).fill(NaN);
  k.augmentWarp(out64, img, { H, W, C }, 0, 1, 1, false, s64);
  img.forEach((v, i) => assert.equal(out64[i], v * s64, `identity [${i}]`));
  const out32 = new Float32Array(H * W * C).fill(NaN);
  k.augmentWarp(out32, img, { H, W, C }, 0, 1, 1, false, s64);
  const s32 = Math.fround(1 / 255);
  img.forEach((v, i) => assert.equal(out32[i], Math.fround(v * s32), `identity float32 [${i}]`));
  // scale 1: the bytes themselves
  const raw = new Float64Array(H * W * C);
  k.augmentWarp(raw, img, { H, W, C }, 0, 1, 1, false, 1);
  assert.deepEqual(Array.from(raw), Array.from(img));
  // flip: out[r][c] = in[r][W-1-c]
  const flipped = new Float64Array(H * W * C);
  k.augmentWarp(flipped, img, { H, W, C }, 0, 1, 1, true, 1);
  for (let r = 0; r < H; r++)
    for (let c = 0; c < W; c++)
      for (let ch = 0; ch < C; ch++) assert.equal(flipped[(r * W + c) * C + ch], img[(r * W + W - 1 - c) * C + ch], `flip (${r},${c},${ch})`);
});

test('augmentWarp: zoom and shear against an independent JS implementation of SPEC §3', () => {
  const cases = [
    [12, 12, 3, 0, 1.2, 1.2, false], // zoom > 1 shows more of the image: the corners clamp to the edge
    [12, 15, 3, 0, 0.8, 0.8, false], // zoom in
    [9, 14, 1, 0, 1.13, 0.87, true], // rows and columns zoom differently, then flip
    [150, 150, 3, 0.0035, 0.83, 1.19, false], // the seed's size and its largest kind of draw
    [150, 150, 3, -0.0035, 1.07, 0.91, true],
    [10, 13, 2, 0.4, 1.05, 0.95, false], // a large shear, so the off-diagonal term matters
  ];
  const r = rng(4);
  for (const [H, W, C, s, zx, zy, flip] of cases) {
    const img = randomBytes(H * W * C, r);
    const expected = warpJs(img, H, W, C, s, zx, zy, flip);
    const out = new Float64Array(H * W * C);
    k.augmentWarp(out, img, { H, W, C }, s, zx, zy, flip, 1);
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - expected[i]));
    // both are bilinear interpolations of 0..255 in double: they differ only by rounding (~1e-13)
    assert.ok(worst <= 1e-9, `${H}x${W}x${C} shear ${s} zoom ${zx},${zy} flip ${flip}: max |diff| ${worst}`);
    // and the warp did something (not the identity)
    assert.ok(out.some((v, i) => Math.abs(v - img[i]) > 1), 'the warp changed the image');
  }
});

const FIXTURE = path.join(here, 'fixtures', 'augment-scipy.json');
test('augmentWarp: matches Keras 2.1.5 / scipy.ndimage.affine_transform (committed fixture)', { skip: fs.existsSync(FIXTURE) ? false : 'no fixture: run scripts/fixtures/augment_scipy.py' }, () => {
  // Fixture values are 0..255 from scipy in float64, rounded to 1e-10. After /255: the double warp agrees to
  // rounding (1e-12 is used), the float32 one to its own rounding of values <= 1 (2^-24 relative, 1e-6 used).
  const doc = JSON.parse(fs.readFileSync(FIXTURE, 'utf8'));
  let n = 0;
  for (const image of doc.images) {
    const [H, W, C] = image.shape;
    const img = Uint8Array.from(image.pixels);
    for (const c of image.cases) {
      const out64 = new Float64Array(H * W * C);
      k.augmentWarp(out64, img, { H, W, C }, c.shear, c.zx, c.zy, c.flip, 1 / 255);
      const out32 = new Float32Array(H * W * C);
      k.augmentWarp(out32, img, { H, W, C }, c.shear, c.zx, c.zy, c.flip, 1 / 255);
      for (let i = 0; i < out64.length; i++) {
        const ref = c.out[i] / 255;
        const at = `${H}x${W}x${C} shear ${c.shear} zoom ${c.zx},${c.zy} flip ${c.flip} [${i}]`;
        assert.ok(Math.abs(out64[i] - ref) <= 1e-12, `${at}: ${out64[i]} vs scipy ${ref}`);
        assert.ok(Math.abs(out32[i] - ref) <= 1e-6, `${at} float32: ${out32[i]} vs scipy ${ref}`);
        n++;
      }
    }
  }
  assert.ok(n > 1000);
});

// ---------- Trainer boundary ----------

const SMALL = {
  name: 'small',
  input: [10, 10, 3],
  layers: [
    { type: 'conv3x3', filters: 4 },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'flatten' },
    { type: 'dense', units: 6 },
    { type: 'relu' },
    { type: 'dropout', rate: 0.5 },
    { type: 'dense', units: 1 },
  ],
};
const IMG = 10 * 10 * 3;
const OPT = { lr: 0.001, rho: 0.9, epsilon: 1e-7 };
const withLayers = (layers, input = SMALL.input) => ({ name: 'x', input, layers });

test('Trainer: a bad spec is a RangeError naming the layer', () => {
  const bad = (spec, re, Err = RangeError) =>
    assert.throws(() => new native.Trainer(trainerConfig({ spec, seed: 1 })), (e) => e instanceof Err && re.test(e.message), `${re}`);
  const L = SMALL.layers;
  bad(withLayers([L[0], { type: 'conv5x5' }, ...L.slice(1)]), /spec\.layers\[1\]\.type .*got 'conv5x5'/);
  bad(withLayers([...L.slice(0, -1), { type: 'dense', units: 2 }]), /last layer must be dense with 1 unit/);
  bad(withLayers(L.slice(0, -1)), /last layer must be dense with 1 unit/);
  bad(withLayers([{ type: 'conv3x3', filters: 2 }, { type: 'flatten' }, { type: 'dense', units: 1 }], [2, 2, 3]), /layer 0 'conv1' \(conv\): input 2x2 is smaller than the 3x3 kernel/);
  // shapes shrink through the layers: 6 -> conv 4 -> pool 2 -> conv: too small at layer 2
  bad(withLayers([{ type: 'conv3x3', filters: 2 }, { type: 'maxpool2x2' }, { type: 'conv3x3', filters: 2 }, { type: 'flatten' }, { type: 'dense', units: 1 }], [6, 6, 1]), /layer 2 '\w+' \(conv\): input 2x2/);
  bad(withLayers([{ type: 'dense', units: 1 }]), /layer 0 '\w+' \(dense\): needs a flat input/);
  bad(withLayers([{ type: 'flatten' }, { type: 'dropout', rate: 1 }, { type: 'dense', units: 1 }]), /layer 1 '\w+' \(dropout\): rate must be in \[0, 1\)/);
  bad(withLayers([{ type: 'conv3x3', filters: 0 }, { type: 'flatten' }, { type: 'dense', units: 1 }]), /spec\.layers\[0\]\.filters must be an integer/);
  bad(withLayers([{ type: 'flatten' }, { type: 'dense', units: 1.5 }]), /spec\.layers\[1\]\.units must be an integer/);
  bad(withLayers([{ type: 'flatten' }, 'dense']), /spec\.layers\[1\] must be an object/, TypeError);
  bad({ input: [10, 10], layers: L }, /spec\.input/, TypeError);
  // the options themselves
  const opt = (o, re, Err = RangeError) => assert.throws(() => new native.Trainer(trainerConfig({ spec: SMALL, ...o })), (e) => e instanceof Err && re.test(e.message), `${re}`);
  opt({ dtype: 'float16' }, /dtype must be 'float32' or 'float64', got 'float16'/);
  opt({ seed: -1 }, /seed must be a non-negative safe integer/);
  opt({ seed: 1.5 }, /seed must be a non-negative safe integer/);
  opt({ threads: 0 }, /^threads must be an integer/);
  opt({ isa: 'sse9' }, /isa must be/);
  // a good spec builds, with the expected parameter count: conv 3*3*3*4+4, dense 4*4*4*6+6, dense 6+1
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 1 }));
  assert.equal(t.info().params, 112 + 390 + 7);
  t.dispose();
});

function batch(B, seed) {
  const r = rng(seed);
  return {
    images: randomBytes(B * IMG, r),
    labels: Uint8Array.from({ length: B }, () => (r() < 0.5 ? 0 : 1)),
    augment: Float64Array.from({ length: 4 * B }, (_, i) => [0.003 * (r() - 0.5), 0.8 + 0.4 * r(), 0.8 + 0.4 * r(), r() < 0.5 ? 1 : 0][i % 4]),
  };
}

test('Trainer: trainStep/evaluate/computeGradients argument errors name the field', async () => {
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 1, threads: 2 }));
  const { images, labels, augment } = batch(3, 5);
  const before = t.getParams();
  const err = (fn, Err, re) => assert.throws(fn, (e) => e instanceof Err && re.test(e.message), `${re}`);
  err(() => t.trainStep(images, labels.subarray(0, 2), augment, OPT), RangeError, /^labels must have 3 elements, got 2/);
  err(() => t.trainStep(images, Uint8Array.of(0, 2, 1), augment, OPT), RangeError, /^labels\[1\] must be 0 or 1, got 2/);
  err(() => t.trainStep(images.subarray(1), labels, augment, OPT), RangeError, /^images must hold a whole number .*300-byte images/);
  err(() => t.trainStep(new Uint8Array(0), new Uint8Array(0), null, OPT), RangeError, /^images must hold a whole number/);
  err(() => t.trainStep(images, labels, augment.subarray(1), OPT), RangeError, /^augment must have 12 elements, got 11/);
  err(() => t.trainStep(images, Array.from(labels), augment, OPT), TypeError, /^labels must be a Uint8Array/);
  err(() => t.trainStep(Float32Array.from(images), labels, augment, OPT), TypeError, /^images must be a Uint8Array/);
  err(() => t.trainStep(images, labels, Float32Array.from(augment), OPT), TypeError, /^augment must be a Float64Array/);
  err(() => t.trainStep(images, labels, augment), TypeError, /^optimizer must be an object/);
  err(() => t.trainStep(images, labels, augment, { ...OPT, lr: 0 }), RangeError, /^lr must be > 0/);
  err(() => t.trainStep(images, labels, augment, { ...OPT, rho: 1 }), RangeError, /^rho must be in \[0, 1\)/);
  err(() => t.trainStep(images, labels, augment, { ...OPT, epsilon: NaN }), RangeError, /^epsilon must be finite/);
  err(() => t.trainStep(images, labels, augment, { lr: 0.001, rho: 0.9, epsilon: 'small' }), TypeError, /^epsilon must be a number/);
  err(() => t.trainStep(images, labels, augment, { rho: 0.9 }), TypeError, /^lr must be a number/);
  err(() => t.computeGradients(images, Uint8Array.of(0, 1, 3)), RangeError, /^labels\[2\] must be 0 or 1/);
  err(() => t.computeGradients(images, labels, new Float64Array(4)), RangeError, /^augment must have 12 elements/);
  err(() => t.evaluate(images, labels.subarray(1)), RangeError, /^labels must have 3 elements/);
  err(() => t.predict(images.subarray(0, 299)), RangeError, /^images must hold a whole number/);
  // nothing ran: the parameters and the step are unchanged, and the trainer still works
  assert.deepEqual(t.getParams(), before);
  assert.equal(t.getState().step, 0);
  const res = await t.trainStep(images, labels, augment, OPT);
  assert.ok(Number.isFinite(res.loss) && res.correct >= 0 && res.correct <= 3);
  assert.equal(t.getState().step, 1);
  t.dispose();
});

test('Trainer: trainStepIndexed on uploaded images equals trainStep on the same batch copied, bit for bit', async () => {
  const data = batch(10, 21); // the dataset: 10 images and labels
  const copied = new native.Trainer(trainerConfig({ spec: SMALL, seed: 4, threads: 2 }));
  const indexed = new native.Trainer(trainerConfig({ spec: SMALL, seed: 4, threads: 2 }));
  assert.equal(indexed.uploadImages(data.images, data.labels), 10);
  const picks = [[7, 2, 2, 9, 0], [3], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 5]]; // out of order, repeats, one, more than N
  for (const [s, pick] of picks.entries()) {
    const images = new Uint8Array(pick.length * IMG);
    pick.forEach((i, j) => images.set(data.images.subarray(i * IMG, (i + 1) * IMG), j * IMG));
    const labels = Uint8Array.from(pick, (i) => data.labels[i]);
    const augment = s === 1 ? null : batch(pick.length, 30 + s).augment;
    const a = await copied.trainStep(images, labels, augment, OPT);
    const b = await indexed.trainStepIndexed(Int32Array.from(pick), augment, OPT);
    assert.deepEqual(b, a, `step ${s}`);
    assert.deepEqual(indexed.getParams(), copied.getParams(), `step ${s}`);
  }
  assert.deepEqual(indexed.getState(), copied.getState());
  // a later upload replaces the dataset: image 0 of the new one is image 9 of the old
  const copy = copied.getParams();
  indexed.uploadImages(data.images.subarray(9 * IMG), data.labels.subarray(9));
  await copied.trainStep(data.images.subarray(9 * IMG), data.labels.subarray(9), null, OPT);
  await indexed.trainStepIndexed(Int32Array.of(0), null, OPT);
  assert.deepEqual(indexed.getParams(), copied.getParams());
  assert.notDeepEqual(indexed.getParams(), copy);
  for (const t of [copied, indexed]) t.dispose();
});

test('Trainer: uploadImages/trainStepIndexed argument errors name the field and change nothing', async () => {
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 5, threads: 1 }));
  const { images, labels, augment } = batch(4, 22);
  const err = (fn, Err, re) => assert.throws(fn, (e) => e instanceof Err && re.test(e.message), `${re}`);
  err(() => t.trainStepIndexed(Int32Array.of(0), null, OPT), Error, /^trainStepIndexed needs uploadImages\(images, labels\) first/);
  err(() => t.uploadImages(images.subarray(1), labels), RangeError, /^images must hold a whole number .*300-byte images/);
  err(() => t.uploadImages(images, labels.subarray(1)), RangeError, /^labels must have 4 elements, got 3/);
  err(() => t.uploadImages(images, Uint8Array.of(0, 1, 7, 0)), RangeError, /^labels\[2\] must be 0 or 1, got 7/);
  err(() => t.trainStepIndexed(Int32Array.of(0), null, OPT), Error, /needs uploadImages/); // a refused upload kept nothing
  t.uploadImages(images, labels);
  err(() => t.trainStepIndexed(Int32Array.of(0, 4), null, OPT), RangeError, /^indices\[1\] must be in \[0, 4\), got 4/);
  err(() => t.trainStepIndexed(Int32Array.of(-1), null, OPT), RangeError, /^indices\[0\] must be in \[0, 4\), got -1/);
  err(() => t.trainStepIndexed(new Int32Array(0), null, OPT), RangeError, /^indices must hold 1 to 2\^31 - 1 indices, got 0/);
  err(() => t.trainStepIndexed([0, 1], null, OPT), TypeError, /^indices must be a Int32Array/);
  err(() => t.trainStepIndexed(Int32Array.of(0, 1), augment, OPT), RangeError, /^augment must have 8 elements, got 16/);
  err(() => t.trainStepIndexed(Int32Array.of(0), null, { ...OPT, lr: -1 }), RangeError, /^lr must be > 0/);
  assert.equal(t.getState().step, 0);
  // busy while a step runs; the dataset cannot change under it
  const pending = t.trainStepIndexed(Int32Array.of(0, 1, 2, 3), augment, OPT);
  err(() => t.uploadImages(images, labels), Error, /busy/);
  err(() => t.trainStepIndexed(Int32Array.of(0), null, OPT), Error, /busy/);
  assert.ok(Number.isFinite((await pending).loss));
  t.dispose();
  err(() => t.uploadImages(images, labels), Error, /disposed/);
  err(() => t.trainStepIndexed(Int32Array.of(0), null, OPT), Error, /disposed/);
});

test('Trainer: a second call while a step is pending throws "busy"; calls after dispose() throw "disposed"', async () => {
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 2, threads: 1 }));
  const { images, labels, augment } = batch(64, 6); // enough work that the step is still pending below
  const pending = t.trainStep(images, labels, augment, OPT);
  assert.ok(pending instanceof Promise);
  const busy = (fn) => assert.throws(fn, (e) => e instanceof Error && /busy/.test(e.message));
  busy(() => t.trainStep(images, labels, augment, OPT));
  busy(() => t.evaluate(images, labels));
  busy(() => t.predict(images));
  busy(() => t.computeGradients(images, labels));
  busy(() => t.getParams());
  busy(() => t.setParams(new Float32Array(509)));
  busy(() => t.dispose());
  const r = await pending;
  assert.ok(Number.isFinite(r.loss));
  // usable again once settled
  const probs = await t.predict(images.subarray(0, 2 * IMG));
  assert.ok(probs instanceof Float32Array && probs.length === 2 && probs.every((p) => p > 0 && p < 1));
  t.dispose();
  const gone = (fn) => assert.throws(fn, (e) => e instanceof Error && /disposed/.test(e.message));
  gone(() => t.trainStep(images, labels, augment, OPT));
  gone(() => t.evaluate(images, labels));
  gone(() => t.predict(images));
  gone(() => t.computeGradients(images, labels));
  gone(() => t.getParams());
  gone(() => t.setParams(new Float32Array(509)));
  gone(() => t.getState());
  gone(() => t.setState({ step: 0, accumulators: new Float32Array(509) }));
  gone(() => t.paramLayout());
  gone(() => t.info());
  t.dispose(); // a second dispose is harmless
});

test('Trainer: setParams rejects non-finite values and wrong arrays without changing anything', () => {
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 3 }));
  const p = t.getParams();
  const P = p.length;
  for (const bad of [NaN, Infinity, -Infinity]) {
    const q = Float32Array.from(p);
    q[0] = 0.5;
    q[5] = bad;
    assert.throws(() => t.setParams(q), (e) => e instanceof RangeError && /^params\[5\] is not finite/.test(e.message));
  }
  assert.throws(() => t.setParams(new Float32Array(P + 1)), (e) => e instanceof RangeError && new RegExp(`^params must have ${P} elements`).test(e.message));
  assert.throws(() => t.setParams(new Float64Array(P)), (e) => e instanceof TypeError && /^params must be a Float32Array/.test(e.message));
  assert.deepEqual(t.getParams(), p, 'a rejected setParams changed the parameters');
  const q = Float32Array.from(p, (v, i) => v + i * 1e-3);
  t.setParams(q);
  assert.deepEqual(t.getParams(), q);
  // getParams returns a copy
  const copy = t.getParams();
  copy[0] = 42;
  assert.notEqual(t.getParams()[0], 42);
  const d = new native.Trainer(trainerConfig({ spec: SMALL, seed: 3, dtype: 'float64' }));
  assert.throws(() => d.setParams(Float64Array.from(d.getParams(), (v, i) => (i === 7 ? NaN : v))), (e) => e instanceof RangeError && /^params\[7\] is not finite/.test(e.message));
  t.dispose();
  d.dispose();
});

test('Trainer: getState/setState round-trip and resume a run exactly', async () => {
  const a = new native.Trainer(trainerConfig({ spec: SMALL, seed: 4, threads: 2 }));
  const b1 = batch(6, 7);
  const b2 = batch(6, 8);
  await a.trainStep(b1.images, b1.labels, b1.augment, OPT);
  const state = a.getState();
  assert.equal(state.step, 1);
  assert.ok(state.accumulators instanceof Float32Array && state.accumulators.some((v) => v > 0));
  const params = a.getParams();
  // a fresh trainer with the same seed, given the params and the state, continues bit for bit
  const b = new native.Trainer(trainerConfig({ spec: SMALL, seed: 4, threads: 2 }));
  b.setParams(params);
  b.setState(state);
  assert.deepEqual(b.getState(), state);
  const ra = await a.trainStep(b2.images, b2.labels, b2.augment, OPT);
  const rb = await b.trainStep(b2.images, b2.labels, b2.augment, OPT);
  assert.equal(rb.loss, ra.loss);
  assert.deepEqual(b.getParams(), a.getParams());
  assert.deepEqual(b.getState(), a.getState());
  // the state is a copy, and bad states are rejected
  state.accumulators[0] = 1e9;
  assert.notEqual(a.getState().accumulators[0], 1e9);
  const acc = new Float32Array(state.accumulators.length);
  assert.throws(() => b.setState({ step: -1, accumulators: acc }), (e) => e instanceof RangeError && /^state\.step/.test(e.message));
  assert.throws(() => b.setState({ step: 1.5, accumulators: acc }), (e) => e instanceof RangeError && /^state\.step/.test(e.message));
  assert.throws(() => b.setState({ step: 2 ** 53, accumulators: acc }), (e) => e instanceof RangeError && /^state\.step/.test(e.message));
  assert.throws(() => b.setState({ step: 1, accumulators: acc.subarray(1) }), (e) => e instanceof RangeError && /^state\.accumulators must have/.test(e.message));
  const neg = Float32Array.from(acc);
  neg[3] = -1;
  assert.throws(() => b.setState({ step: 1, accumulators: neg }), (e) => e instanceof RangeError && /^state\.accumulators\[3\] must be finite and >= 0/.test(e.message));
  assert.throws(() => b.setState({ step: 1 }), (e) => e instanceof TypeError && /^state\.accumulators must be a Float32Array/.test(e.message));
  a.dispose();
  b.dispose();
});

test('Trainer: an identity augmentation equals no augmentation', () => {
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 9, dtype: 'float64' }));
  const { images, labels } = batch(4, 9);
  const identity = Float64Array.from({ length: 16 }, (_, i) => [0, 1, 1, 0][i % 4]);
  const plain = t.computeGradients(images, labels, null);
  const same = t.computeGradients(images, labels, identity);
  assert.equal(same.loss, plain.loss);
  assert.deepEqual(same.gradients, plain.gradients);
  t.dispose();
});

test('Trainer: the network warps each image with its own augment row (shear, zx, zy, flip), then scales by 1/255', () => {
  // With a single dense layer on the flattened image, d loss / d kernel = dlogit * x and d loss / d bias = dlogit,
  // so kernel gradient / bias gradient reveals the preprocessed image x the network trained on.
  const [H, W, C] = [7, 9, 3];
  const spec = { name: 'linear', input: [H, W, C], layers: [{ type: 'flatten' }, { type: 'dense', units: 1 }] };
  const t = new native.Trainer(trainerConfig({ spec, seed: 1, dtype: 'float64' }));
  const r = rng(10);
  const rows = [
    [0, 1, 1, 0],
    [0, 1, 1, 1],
    [0.0035, 1.18, 0.84, 0],
    [-0.3, 0.9, 1.1, 1],
  ];
  for (const row of rows) {
    const img = randomBytes(H * W * C, r);
    const { gradients } = t.computeGradients(img, Uint8Array.of(1), Float64Array.from(row));
    const db = gradients[H * W * C];
    assert.ok(db < 0, 'label 1 with p < 1: negative logit gradient');
    const expected = warpJs(img, H, W, C, row[0], row[1], row[2], row[3] !== 0);
    for (let i = 0; i < H * W * C; i++) {
      const x = gradients[i] / db;
      assert.ok(Math.abs(x - expected[i] / 255) <= 1e-12, `augment ${row} [${i}]: ${x} vs ${expected[i] / 255}`);
    }
  }
  t.dispose();
});

// ---------- determinism on the seed's model ----------

function seed7Batches(n, B, seed) {
  const r = rng(seed);
  const [H, W, C] = SEED7.input;
  return Array.from({ length: n }, () => ({
    images: randomBytes(B * H * W * C, r),
    labels: Uint8Array.from({ length: B }, () => (r() < 0.5 ? 0 : 1)),
    // shear within +-0.2 degrees (in radians), zoom in [0.8, 1.2], flip half the time: SPEC §3's ranges
    augment: Float64Array.from({ length: 4 * B }, (_, i) => [((r() - 0.5) * 0.4 * Math.PI) / 180, 0.8 + 0.4 * r(), 0.8 + 0.4 * r(), r() < 0.5 ? 1 : 0][i % 4]),
  }));
}

test('determinism: two seed7 float32 trainers, same seed and threads, same batches -> identical bits', async (t) => {
  const batches = seed7Batches(3, 8, 11);
  const a = new native.Trainer(trainerConfig({ spec: SEED7, seed: 123, threads: 2 }));
  const b = new native.Trainer(trainerConfig({ spec: SEED7, seed: 123, threads: 2 }));
  assert.deepEqual(b.getParams(), a.getParams());
  const losses = [];
  for (const { images, labels, augment } of batches) {
    const [ra, rb] = [await a.trainStep(images, labels, augment, OPT), await b.trainStep(images, labels, augment, OPT)];
    assert.ok(Number.isFinite(ra.loss));
    assert.equal(rb.loss, ra.loss);
    assert.equal(rb.correct, ra.correct);
    assert.deepEqual(b.getParams(), a.getParams());
    losses.push(ra.loss);
  }
  assert.deepEqual(b.getState(), a.getState());
  // the steps did change the parameters
  const fresh = new native.Trainer(trainerConfig({ spec: SEED7, seed: 123, threads: 2 }));
  assert.notDeepEqual(a.getParams(), fresh.getParams());
  t.diagnostic(`losses ${losses.join(', ')}`);
  for (const x of [a, b, fresh]) x.dispose();
});

test('determinism: the scalar ISA and the default ISA agree to 1e-4 on the loss over 2 steps', async (t) => {
  const batches = seed7Batches(2, 8, 12);
  const fast = new native.Trainer(trainerConfig({ spec: SEED7, seed: 5, threads: 2 }));
  const scalar = new native.Trainer(trainerConfig({ spec: SEED7, seed: 5, threads: 2, isa: 'scalar' }));
  assert.equal(fast.info().isa, native.buildInfo().isa);
  assert.equal(scalar.info().isa, 'scalar');
  const msg = [];
  for (const { images, labels, augment } of batches) {
    const rf = await fast.trainStep(images, labels, augment, OPT);
    const rs = await scalar.trainStep(images, labels, augment, OPT);
    // float32 sums in another order: the losses (about 0.69) agree to ~1e-6; 1e-4 leaves room for the first
    // RMSprop step, which moves every parameter by about lr*sqrt(10) whatever its gradient's size
    assert.ok(Math.abs(rf.loss - rs.loss) <= 1e-4, `loss ${rf.loss} (${fast.info().isa}) vs ${rs.loss} (scalar)`);
    msg.push(`${rf.loss} vs ${rs.loss}`);
  }
  t.diagnostic(msg.join('; '));
  fast.dispose();
  scalar.dispose();
});

test('layerTimes: the step time holds the layers, preprocessing, update, kernel rearrangement and idle threads; reset zeroes all', async () => {
  const a = new native.Trainer(trainerConfig({ spec: SEED7, seed: 3, threads: 2 }));
  const before = a.layerTimes();
  assert.deepEqual([before.step, before.kernels, before.idle, before.update], [0, 0, 0, 0]);
  const wall0 = performance.now();
  for (const { images, labels, augment } of seed7Batches(2, 4, 13)) await a.trainStep(images, labels, augment, OPT);
  const wall = (performance.now() - wall0) / 1000;
  const t = a.layerTimes(true);
  const parts = t.layers.reduce((s, l) => s + l.forward + l.backward, 0) + t.preprocess + t.update + t.kernels;
  assert.ok(t.layers[0].forward > 0 && t.update > 0 && t.kernels > 0, JSON.stringify(t));
  assert.ok(t.idle >= 0, `idle ${t.idle}`);
  // each part is measured inside the step, so together (idle included) they fit in it, and it fits in the wall time
  assert.ok(parts + t.idle <= t.step * (1 + 1e-9), `parts ${parts} + idle ${t.idle} > step ${t.step}`);
  assert.ok(t.step <= wall, `step ${t.step} > wall ${wall}`);
  const after = a.layerTimes();
  assert.deepEqual([after.step, after.kernels, after.idle, after.layers[0].forward], [0, 0, 0, 0]);
  a.dispose();
});

test('Trainer: trainStep counts the NaN/Inf weights after its update (0 while finite, as many as getParams holds once diverged)', async () => {
  const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 4 }));
  const { images, labels, augment } = batch(4, 9);
  const nonFinite = () => t.getParams().filter((v) => !Number.isFinite(v)).length;
  const ok = await t.trainStep(images, labels, augment, OPT);
  assert.equal(ok.nonFiniteWeights, 0);
  let r = ok;
  for (let i = 0; i < 5 && r.nonFiniteWeights === 0; i++) r = await t.trainStep(images, labels, augment, { ...OPT, lr: 1e37 });
  assert.ok(r.nonFiniteWeights > 0, 'a step with lr 1e37 never made a weight NaN or Inf');
  assert.equal(r.nonFiniteWeights, nonFinite());
  t.dispose();
});
