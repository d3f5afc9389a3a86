// bf16-operand convolutions (AVX512-BF16) and the bf16 training precision. The reference is the double
// convolution on operands rounded to bf16 (round to nearest even): a bf16 x bf16 product is exact in fp32, so
// the kernels may differ from it only by their fp32 summation, bounded as in test/native-kernels.test.mjs by
// gamma_K * S (K products per output, S the sum of their absolute values). Skipped where the CPU has no BF16.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { FMNIST_RES, SEED7 } from '../dist/src/model/spec.js';
import { rand, rng } from './helpers.mjs';
import { absRounded, assertWithinGamma as within, bf16, rounded, trainImages } from './numerics.mjs';

const k = native.kernels;
const hasBf16 = native.buildInfo().bf16;
const skip = hasBf16 ? false : 'this CPU has no AVX512-BF16';
if (skip) console.log(`# skipping bf16 kernels: ${skip}`);

test('bf16 rounding in this test is round-to-nearest-even on the upper 16 bits', () => {
  assert.equal(bf16(1 + 2 ** -8), 1); // halfway: to even
  assert.equal(bf16(1 + 3 * 2 ** -8), 1 + 2 ** -6); // halfway: up to even
  assert.equal(bf16(1 + 2 ** -7), 1 + 2 ** -7); // representable
});

// [N, H, W, Cin, Cout]: odd output widths (an unpaired last pixel in the weight gradient), Cin = 3 (padded to a
// pair), 1, 2 and 4 vectors of output channels
for (const [N, H, W, Cin, Cout] of [[2, 12, 11, 3, 32], [1, 10, 13, 32, 32], [1, 9, 9, 32, 64], [1, 7, 8, 16, 16], [2, 5, 20, 64, 48]]) {
  const shape = `N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`;
  const [Ho, Wo] = [H - 2, W - 2];

  test(`conv3x3ForwardBf16 (and with ReLU) ${shape}`, { skip }, () => {
    const r = rng(H * 7 + W + Cin * 3 + Cout);
    const x = rand(N * H * W * Cin, r);
    const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
    const b = rand(Cout, r);
    const out = new Float32Array(N * Ho * Wo * Cout).fill(NaN);
    k.conv3x3ForwardBf16(out, x, w, b, { N, H, W, Cin, Cout }, false);
    const exact = new Float64Array(out.length);
    k.conv3x3Forward(exact, rounded(x), rounded(w), Float64Array.from(b), { N, H, W, Cin, Cout });
    const S = new Float64Array(out.length);
    k.conv3x3Forward(S, absRounded(x), absRounded(w), Float64Array.from(b, Math.abs), { N, H, W, Cin, Cout });
    within('out', out, exact, S, 9 * Cin + 1);
    // it rounded the operands: the fp32 result differs from the bf16-free convolution far beyond the fp32 bound
    const fp32 = new Float32Array(out.length);
    k.conv3x3Forward(fp32, x, w, b, { N, H, W, Cin, Cout });
    assert.ok(out.some((v, i) => Math.abs(v - fp32[i]) > 1e-3));
    const relu = new Float32Array(out.length).fill(NaN);
    k.conv3x3ForwardBf16(relu, x, w, b, { N, H, W, Cin, Cout }, true);
    assert.deepEqual(relu, out.map((v) => (v > 0 ? v : 0)));
  });

  test(`conv3x3BackwardWeightBf16 accumulates ${shape}`, { skip }, () => {
    const r = rng(1 + H * 7 + W + Cin * 3 + Cout);
    const x = rand(N * H * W * Cin, r, 0, 1);
    const g = rand(N * Ho * Wo * Cout, r);
    const dw0 = rand(9 * Cin * Cout, r, -4, 4);
    const db0 = rand(Cout, r, -4, 4);
    const [dw, db] = [Float32Array.from(dw0), Float32Array.from(db0)];
    k.conv3x3BackwardWeightBf16(dw, db, g, x, { N, H, W, Cin, Cout });
    const [dwExact, dbUnused] = [Float64Array.from(dw0), new Float64Array(Cout)];
    k.conv3x3BackwardWeight(dwExact, dbUnused, rounded(g), rounded(x), { N, H, W, Cin, Cout });
    const [dwS, dbS0] = [Float64Array.from(dw0, Math.abs), new Float64Array(Cout)];
    k.conv3x3BackwardWeight(dwS, dbS0, absRounded(g), absRounded(x), { N, H, W, Cin, Cout });
    within('dw', dw, dwExact, dwS, N * Ho * Wo + N + 1);
    // the bias gradient is an fp32 sum of the unrounded gradient
    const [dwE2, dbExact] = [new Float64Array(9 * Cin * Cout), Float64Array.from(db0)];
    k.conv3x3BackwardWeight(dwE2, dbExact, Float64Array.from(g), Float64Array.from(x), { N, H, W, Cin, Cout });
    const dbS = Float64Array.from(db0, Math.abs);
    k.conv3x3BackwardWeight(new Float64Array(9 * Cin * Cout), dbS, Float64Array.from(g, Math.abs), Float64Array.from(x), { N, H, W, Cin, Cout });
    within('db', db, dbExact, dbS, N * Ho * Wo + N + 1);
    // and bit for bit the reference's order: each channel's fp32 running sum, from db0, pixel by pixel
    const dbInOrder = Float32Array.from(db0);
    for (let p = 0; p < N * Ho * Wo; p++) for (let c = 0; c < Cout; c++) dbInOrder[c] = Math.fround(dbInOrder[c] + g[p * Cout + c]);
    assert.deepEqual(db, dbInOrder);
  });

  if (Cin % 16 === 0)
    test(`conv3x3BackwardInputBf16 overwrites ${shape}`, { skip }, () => {
      const r = rng(2 + H * 7 + W + Cin * 3 + Cout);
      const g = rand(N * Ho * Wo * Cout, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const din = rand(N * H * W * Cin, r, 100, 200);
      k.conv3x3BackwardInputBf16(din, g, w, { N, H, W, Cin, Cout });
      const exact = new Float64Array(din.length);
      k.conv3x3BackwardInput(exact, rounded(g), rounded(w), { N, H, W, Cin, Cout });
      const S = new Float64Array(din.length);
      k.conv3x3BackwardInput(S, absRounded(g), absRounded(w), { N, H, W, Cin, Cout });
      within('din', din, exact, S, 9 * Cout);
    });
}

test('Trainer precision bf16: same init, info says bf16, gradients close to fp32 on real images', { skip }, async () => {
  const set = await trainImages(8);
  const t32 = new native.Trainer(trainerConfig({ spec: SEED7, seed: 9, threads: 2 }));
  const t16 = new native.Trainer(trainerConfig({ spec: SEED7, seed: 9, threads: 2, precision: 'bf16' }));
  assert.equal(t16.info().precision, 'bf16');
  assert.equal(t32.info().precision, 'fp32');
  assert.deepEqual(t16.getParams(), t32.getParams());
  const g32 = t32.computeGradients(set.images, set.labels);
  const g16 = t16.computeGradients(set.images, set.labels);
  assert.ok(Math.abs(g16.loss - g32.loss) < 1e-3 * g32.loss, `loss ${g16.loss} vs ${g32.loss}`);
  // Rounding every conv operand to bf16 (8-bit significand) moves these gradients by 1-20% per tensor at
  // initialisation (measured: 15% conv1, 6% conv5, 0.3% for the logit's bias), because they are small sums of
  // large terms of both signs; a wrong gradient would be off by ~100%. Overall they point the same way.
  let dot = 0;
  let n32 = 0;
  let n16 = 0;
  for (const p of t32.paramLayout()) {
    let num = 0;
    let den = 0;
    for (let i = p.offset; i < p.offset + p.size; i++) {
      num += (g16.gradients[i] - g32.gradients[i]) ** 2;
      den += g32.gradients[i] ** 2;
      dot += g16.gradients[i] * g32.gradients[i];
      n32 += g32.gradients[i] ** 2;
      n16 += g16.gradients[i] ** 2;
    }
    const rel = Math.sqrt(num / den);
    assert.ok(rel < 0.4, `${p.name}: relative error ${rel}`);
    if (p.name === 'conv3.kernel') assert.ok(rel > 1e-4, `${p.name}: ${rel}, as fp32: the bf16 kernels did not run`);
  }
  assert.ok(dot / Math.sqrt(n32 * n16) > 0.97, `cosine ${dot / Math.sqrt(n32 * n16)}`);
  t32.dispose();
  t16.dispose();
});

test('Trainer precision: a bad value or an ISA below avx512 is a RangeError', () => {
  assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, precision: 'fp8' })), /precision must be 'fp32' or 'bf16'/);
  if (hasBf16) assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, precision: 'bf16', isa: 'avx2' })), /precision: .*avx512/);
  else assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, precision: 'bf16' })), /AVX512-BF16/);
  assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, precision: 'bf16', dtype: 'float64' })), /float32/);
});

test('plan in bf16: Winograd on the even maps (bf16 products on AVX512-BF16, fp32 beside AMX), fp32 F(4x4) on the 7x7 ones on AVX512-BF16, else the bf16 kernels; --conv direct keeps them all bf16', { skip }, () => {
  const kernels = (conv) => {
    const t = new native.Trainer(trainerConfig({ spec: FMNIST_RES, seed: 1, precision: 'bf16', ...(conv ? { conv } : {}) }));
    const [plan, info] = [t.plan(), t.info()];
    t.dispose();
    const of = (op, direction) => plan.steps.find((s) => s.op === op && s.direction === direction && s.kind === 'conv');
    const at = (op) => ({ forward: of(op, 'forward').kernel, weight: of(op, 'backward').kernel, input: of(op, 'backward').inputGradient, copy: of(op, 'forward').workspaceBytes > 0 });
    return { at, bf16Kernels: info.bf16Kernels };
  };
  const bf16Kernel = /^(avx512-bf16|amx|amx-emulated)$/;
  const { at, bf16Kernels } = kernels();
  // 16 -> 16 at 28x28: Winograd forward and back (the weights' F(4x4)), on the unpadded input; in bf16 products
  // on AVX512-BF16; beside AMX, fp32 (AMX takes the wider convolutions)
  const winograd = bf16Kernels === 'avx512-bf16' ? 'winograd-bf16' : 'winograd-avx512';
  for (const op of ['b1.c1', 'b1.c2'])
    assert.deepEqual(at(op), { forward: winograd, weight: 'winograd4-avx512', input: winograd, copy: false }, op);
  // 16 -> 32, 32 -> 32 at 14x14: bf16-product Winograd (fp32 F(4x4) weight gradients) on AVX512-BF16, AMX's tiles
  // on a padded copy beside it
  for (const op of ['b2.c1', 'b2.c2'])
    if (bf16Kernels === 'avx512-bf16') assert.deepEqual(at(op), { forward: 'winograd-bf16', weight: 'winograd4-avx512', input: 'winograd-bf16', copy: false }, op);
    else assert.match(at(op).forward, bf16Kernel, op);
  // 64 -> 64 at 7x7 (odd, under bf16 products' 8x8): fp32 F(4x4) all three ways on AVX512-BF16, faster than the
  // bf16 kernels there; AMX's tiles on a padded copy beside it
  const k = at('b3.c2');
  if (bf16Kernels === 'avx512-bf16') assert.deepEqual(k, { forward: 'winograd4-avx512', weight: 'winograd4-avx512', input: 'winograd4-avx512', copy: false });
  else {
    assert.match(k.forward, bf16Kernel);
    assert.match(k.input, bf16Kernel);
    assert.equal(k.copy, true);
  }
  const direct = kernels('direct').at;
  assert.match(direct('b1.c1').forward, bf16Kernel);
  assert.match(direct('b1.c1').input, bf16Kernel);
});
