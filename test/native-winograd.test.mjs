// Winograd F(2x2, 3x3) convolutions (native/conv_simd.inc) against the double reference convolution, on every
// ISA the machine has. Winograd sums other terms than the direct convolution: an output is
// sum_p a_p (G g G^T)_p (B^T d B)_p, whose transforms combine up to 9 values of both signs. Every intermediate is a
// sum or product, and the coefficients (0, +-1, +-1/2) are exact in binary, so the computed value differs from the
// exact one by at most gamma_n * S_w (Higham 3.1), where S_w is the same evaluation on absolute values with
// absolute coefficients and n bounds the sequential roundings along any path (the channel or tile sum plus at most 12 for
// the transforms). S_w is computed here in double by a plain, independent Winograd. A wrong, missing
// or doubled product changes an output by about S/(9K), far above gamma_n * S_w (measured: S_w/S is 3-8 here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { rand, rng } from './helpers.mjs';
import { flipKernel as flip, assertWithinGamma as within, relativeDifferences, sandwich, trainImages } from './numerics.mjs';

const k = native.kernels;
const TIERS = ['scalar', 'avx2', 'avx512'];
const cpuIsa = native.buildInfo().cpuIsa;
const ISAS = ['avx2', 'avx512'].filter((isa) => TIERS.indexOf(isa) <= TIERS.indexOf(cpuIsa));

const abs64 = (a) => Float64Array.from(a, Math.abs);

// |B^T|, |G|, |A^T| of F(2x2, 3x3)
const BT = [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]];
const G = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]];
const AT = [[1, 1, 1, 0], [0, 1, 1, 1]];

/** [N, He, We, C]: x [N, H, W, C] with zero rows and columns appended */
function padTo(x, N, H, W, C, He, We) {
  const p = new Float64Array(N * He * We * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++) p.set(x.subarray((n * H + y) * W * C, (n * H + y + 1) * W * C), (n * He + y) * We * C);
  return p;
}

/** [N, H, W, C]: the top left of x [N, He, We, C] */
function cropTo(x, N, He, We, C, H, W) {
  const p = new Float64Array(N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++) p.set(x.subarray((n * He + y) * We * C, (n * He + y) * We * C + W * C), (n * H + y) * W * C);
  return p;
}

/**
 * S_w [N, H-2, W-2, Cout]: the Winograd forward on absolute values, |x| [N,H,W,Cin] and |w| [3,3,Cin,Cout],
 * plus |b|; an odd H or W padded with zeros to whole tiles, as the kernels do.
 */
function absWinogradForward(x, w, b, N, H, W, Cin, Cout) {
  if (H % 2 || W % 2) {
    const [He, We] = [H + (H % 2), W + (W % 2)];
    return cropTo(absWinogradForward(padTo(x, N, H, W, Cin, He, We), w, b, N, He, We, Cin, Cout), N, He - 2, We - 2, Cout, H - 2, W - 2);
  }
  const [Ho, Wo] = [H - 2, W - 2];
  const gw = []; // [Cin][Cout] -> 4x4
  for (let ci = 0; ci < Cin; ci++)
    for (let co = 0; co < Cout; co++) {
      const g = [0, 1, 2].map((ky) => [0, 1, 2].map((kx) => w[((ky * 3 + kx) * Cin + ci) * Cout + co]));
      gw[ci * Cout + co] = sandwich(G, g, G);
    }
  const out = new Float64Array(N * Ho * Wo * Cout);
  for (let n = 0; n < N; n++)
    for (let ty = 0; ty < Ho / 2; ty++)
      for (let tx = 0; tx < Wo / 2; tx++) {
        const m = Array.from({ length: Cout }, () => [0, 1, 2, 3].map(() => [0, 0, 0, 0]));
        for (let ci = 0; ci < Cin; ci++) {
          const d = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => x[((n * H + 2 * ty + i) * W + 2 * tx + j) * Cin + ci]));
          const td = sandwich(BT, d, BT);
          for (let co = 0; co < Cout; co++) {
            const tg = gw[ci * Cout + co];
            for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) m[co][i][j] += td[i][j] * tg[i][j];
          }
        }
        for (let co = 0; co < Cout; co++) {
          const y = sandwich(AT, m[co], AT);
          for (let i = 0; i < 2; i++)
            for (let j = 0; j < 2; j++) out[((n * Ho + 2 * ty + i) * Wo + 2 * tx + j) * Cout + co] = y[i][j] + b[co];
        }
      }
  return out;
}

/** p [N, H+4, W+4, C]: x [N, H, W, C] zero-padded by 2 */
function pad2(x, N, H, W, C) {
  const p = new Float64Array(N * (H + 4) * (W + 4) * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++)
        for (let c = 0; c < C; c++) p[((n * (H + 4) + y + 2) * (W + 4) + xx + 2) * C + c] = x[((n * H + y) * W + xx) * C + c];
  return p;
}


// [N, H, W, Cin, Cout]: one tile; tile rows that are not a multiple of the register tile (14 with AVX-512, 6 with
// AVX2) and a 2-tile tail; Cin 32 and 64 (fixed at compile time) and 48 (runtime); 1, 2 and 4 vectors of output
// channels; odd sizes (padded to whole tiles: one, the other or both); the seed's conv2, conv4 and conv5 at full size
const SHAPES = [[1, 4, 4, 16, 16], [2, 6, 34, 16, 32], [1, 10, 8, 32, 32], [1, 8, 6, 64, 16], [2, 6, 8, 48, 64],
  [2, 5, 8, 16, 32], [1, 8, 9, 32, 16], [1, 3, 3, 16, 16], [1, 74, 74, 32, 32], [1, 17, 17, 32, 64], [2, 7, 7, 64, 64]];

for (const isa of ISAS)
  for (const [N, H, W, Cin, Cout] of SHAPES) {
    const shape = `${isa} N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`;
    const [Ho, Wo] = [H - 2, W - 2];
    // roundings along a path besides the channel (or tile) sum: kernel transform 4, input 2, product 1, output 4,
    // bias 1 (forward); input 2, gradient 2, product 1, inverse kernel transform 4, accumulation 1 (weights)
    const depth = 12;

    test(`conv3x3ForwardWinograd, with and without ReLU, within gamma * S_w of the exact convolution, ${shape}`, () => {
      const r = rng(H * 31 + W + Cin + Cout);
      const x = rand(N * H * W * Cin, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const b = rand(Cout, r);
      const exact = new Float64Array(N * Ho * Wo * Cout);
      k.conv3x3Forward(exact, Float64Array.from(x), Float64Array.from(w), Float64Array.from(b), { N, H, W, Cin, Cout });
      const Sw = absWinogradForward(abs64(x), abs64(w), abs64(b), N, H, W, Cin, Cout);
      for (const relu of [false, true]) {
        const out = new Float32Array(exact.length).fill(NaN);
        k.conv3x3ForwardWinograd(out, x, w, b, { N, H, W, Cin, Cout }, relu, isa);
        within(`out relu=${relu}`, out, relu ? exact.map((v) => Math.max(v, 0)) : exact, Sw, Cin + depth);
      }
    });

    test(`conv3x3BackwardInputWinograd within gamma * S_w of the exact input gradient, ${shape}`, () => {
      const r = rng(H * 37 + W + Cin + Cout);
      const g = rand(N * Ho * Wo * Cout, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const exact = new Float64Array(N * H * W * Cin);
      k.conv3x3BackwardInput(exact, Float64Array.from(g), Float64Array.from(w), { N, H, W, Cin, Cout });
      // the kernel runs the forward Winograd on the padded gradient with the flipped kernel
      const Sw = absWinogradForward(pad2(abs64(g), N, Ho, Wo, Cout), flip(abs64(w), Cin, Cout), new Float64Array(Cin), N, H + 2, W + 2, Cout, Cin);
      const din = new Float32Array(exact.length).fill(NaN);
      k.conv3x3BackwardInputWinograd(din, g, w, { N, H, W, Cin, Cout }, isa);
      within('din', din, exact, Sw, Cout + depth);
    });

    test(`conv3x3BackwardWeightWinograd accumulates within gamma * S_w of the exact weight gradient, ${shape}`, () => {
      const r = rng(H * 41 + W + Cin + Cout);
      const x = rand(N * H * W * Cin, r);
      const g = rand(N * Ho * Wo * Cout, r);
      const dw0 = rand(9 * Cin * Cout, r, -4, 4);
      const db0 = rand(Cout, r, -4, 4);
      const exactW = Float64Array.from(dw0);
      const exactB = Float64Array.from(db0);
      k.conv3x3BackwardWeight(exactW, exactB, Float64Array.from(g), Float64Array.from(x), { N, H, W, Cin, Cout });
      // S_w of the weight gradient: G^T [sum over tiles of (|B^T| |d| |B|) . (|A| |g| |A^T|)] G, plus |dw0|, over
      // the image and gradient padded with zeros to whole tiles
      const [He, We] = [H + (H % 2), W + (W % 2)];
      const xe = padTo(Float64Array.from(x), N, H, W, Cin, He, We);
      const ge = padTo(Float64Array.from(g), N, Ho, Wo, Cout, He - 2, We - 2);
      const A = AT[0].map((_, a) => AT.map((row) => row[a]));
      const Gt = [0, 1, 2].map((c) => G.map((row) => row[c]));
      const td = []; // [tile][ci] 4x4
      const tg = []; // [tile][co] 4x4
      const [Hoe, Woe] = [He - 2, We - 2];
      for (let n = 0; n < N; n++)
        for (let ty = 0; ty < Hoe / 2; ty++)
          for (let tx = 0; tx < Woe / 2; tx++) {
            td.push(Array.from({ length: Cin }, (_, ci) => sandwich(BT, [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => Math.abs(xe[((n * He + 2 * ty + i) * We + 2 * tx + j) * Cin + ci]))), BT).flat()));
            tg.push(Array.from({ length: Cout }, (_, co) => sandwich(A, [0, 1].map((i) => [0, 1].map((j) => Math.abs(ge[((n * Hoe + 2 * ty + i) * Woe + 2 * tx + j) * Cout + co]))), A).flat()));
          }
      const tiles = td.length;
      const Sw = new Float64Array(dw0.length);
      for (let ci = 0; ci < Cin; ci++)
        for (let co = 0; co < Cout; co++) {
          const s = new Float64Array(16);
          for (let t = 0; t < tiles; t++) {
            const [a, c] = [td[t][ci], tg[t][co]];
            for (let p = 0; p < 16; p++) s[p] += a[p] * c[p];
          }
          const y = sandwich(Gt, [0, 1, 2, 3].map((i) => Array.from(s.subarray(4 * i, 4 * i + 4))), Gt);
          for (let t = 0; t < 9; t++) Sw[(t * Cin + ci) * Cout + co] = y[Math.floor(t / 3)][t % 3] + Math.abs(dw0[(t * Cin + ci) * Cout + co]);
        }
      const dw = Float32Array.from(dw0);
      const db = Float32Array.from(db0);
      k.conv3x3BackwardWeightWinograd(dw, db, g, x, { N, H, W, Cin, Cout }, isa);
      within('dw', dw, exactW, Sw, tiles + depth);
      // the bias gradient is a plain sum of the output gradient
      const Sb = Float64Array.from(db0, Math.abs);
      for (let i = 0; i < g.length; i++) Sb[i % Cout] += Math.abs(g[i]);
      within('db', db, exactB, Sb, N * Ho * Wo + 1);
    });
  }

/** [N, H+2, W+2, C]: x [N, H, W, C] in a border of a zero pixel */
function pad1(x, N, H, W, C) {
  const p = new Float32Array(N * (H + 2) * (W + 2) * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++) p.set(x.subarray((n * H + y) * W * C, (n * H + y + 1) * W * C), ((n * (H + 2) + y + 1) * (W + 2) + 1) * C);
  return p;
}

// The 'same' forward reads the border as zeros instead of a padded copy: the valid kernel's tiles and operations
// on that copy, so its bits; the input gradient is the 'same' forward of the output gradient with the flipped
// kernel, bit for bit. Values of both signs, zeros among them (a -0 + 0 or a ReLU of 0 is where a different order
// of operations would show). The 'same' weight gradient sums several tile rows at once: native-winograd4.test.mjs.
for (const isa of ISAS)
  for (const [N, H, W, Cin, Cout] of [[2, 4, 4, 16, 16], [1, 4, 6, 16, 32], [2, 10, 8, 32, 16], [1, 14, 14, 32, 32]]) {
    const shape = `${isa} N=${N} ${H}x${W} Cin=${Cin} Cout=${Cout}`;
    const r = rng(H * 53 + W * 7 + Cin + Cout + N);
    const withZeros = (n) => rand(n, r).map((v) => (Math.abs(v) < 0.2 ? 0 : v));
    const x = withZeros(N * H * W * Cin);
    const g = withZeros(N * H * W * Cout);
    const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
    const b = rand(Cout, r);
    const padded = { N, H: H + 2, W: W + 2, Cin, Cout };

    test(`conv3x3SameForwardWinograd: the bits of the valid kernel on a zero-padded copy, ${shape}`, () => {
      for (const relu of [false, true]) {
        const want = new Float32Array(N * H * W * Cout);
        k.conv3x3ForwardWinograd(want, pad1(x, N, H, W, Cin), w, b, padded, relu, isa);
        const got = new Float32Array(want.length).fill(NaN);
        k.conv3x3SameForwardWinograd(got, x, w, b, { N, H, W, Cin, Cout }, relu, isa);
        assert.deepEqual(got, want, `relu=${relu}`);
      }
    });

    test(`conv3x3SameBackwardInputWinograd: the bits of the 'same' forward of the gradient with the flipped kernel, ${shape}`, () => {
      const want = new Float32Array(N * H * W * Cin);
      k.conv3x3SameForwardWinograd(want, g, Float32Array.from(flip(w, Cin, Cout)), new Float32Array(Cin), { N, H, W, Cin: Cout, Cout: Cin }, false, isa);
      const got = new Float32Array(N * H * W * Cin).fill(NaN);
      k.conv3x3SameBackwardInputWinograd(got, g, w, { N, H, W, Cin, Cout }, isa);
      assert.deepEqual(got, want);
    });
  }

test("the 'same' Winograd kernels refuse an odd size, with the reason", () => {
  const [N, H, W, Cin, Cout] = [1, 7, 8, 16, 16];
  const x = new Float32Array(N * H * W * Cin);
  const w = new Float32Array(9 * Cin * Cout);
  assert.throws(() => k.conv3x3SameForwardWinograd(new Float32Array(N * H * W * Cout), x, w, new Float32Array(Cout), { N, H, W, Cin, Cout }, false), (e) => e instanceof RangeError && /even H and W; got 7x8/.test(e.message));
});

test('the Winograd kernels refuse, with the reason, a shape or ISA they do not take', () => {
  const [N, H, W, Cin, Cout] = [1, 8, 8, 16, 16];
  const x = new Float32Array(N * H * W * Cin);
  const w = new Float32Array(9 * Cin * Cout);
  const b = new Float32Array(Cout);
  const g = new Float32Array(N * (H - 2) * (W - 2) * Cout);
  assert.throws(() => k.conv3x3BackwardInputWinograd(x, g, w, { N, H, W, Cin, Cout }, 'scalar'), (e) => e instanceof RangeError && /avx2 or avx512 tier.*got scalar/.test(e.message));
  const w12 = new Float32Array(9 * 12 * Cout);
  assert.throws(() => k.conv3x3BackwardWeightWinograd(w12, b, g, new Float32Array(N * H * W * 12), { N, H, W, Cin: 12, Cout }, 'avx2'), (e) => e instanceof RangeError && /multiples of its vector; got avx2, Cin=12 Cout=16/.test(e.message));
  assert.throws(() => k.conv3x3ForwardWinograd(g.subarray(1), x, w, b, { N, H, W, Cin, Cout }, false, 'avx2'), (e) => e instanceof RangeError && /out must have 576 elements, got 575/.test(e.message));
});

test('Trainer conv: Winograd by default for float32 (fp32 or bf16), direct for float64; bad or impossible values are RangeErrors', () => {
  const t = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1 }));
  assert.equal(t.info().conv, 'winograd');
  t.dispose();
  const d = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, dtype: 'float64' }));
  assert.equal(d.info().conv, 'direct');
  d.dispose();
  assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, conv: 'fft' })), (e) => e instanceof RangeError && /conv must be 'winograd' or 'direct', got 'fft'/.test(e.message));
  assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, conv: 'winograd', dtype: 'float64' })), (e) => e instanceof RangeError && /conv: .*float32/.test(e.message));
  if (native.buildInfo().bf16) {
    const b = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, precision: 'bf16' }));
    assert.equal(b.info().conv, 'winograd');
    b.dispose();
  }
});

test('Trainer conv winograd: same loss and gradients as direct on real images, up to rounding', async () => {
  const set = await trainImages(8);
  const wino = new native.Trainer(trainerConfig({ spec: SEED7, seed: 5, threads: 2, conv: 'winograd' }));
  const direct = new native.Trainer(trainerConfig({ spec: SEED7, seed: 5, threads: 2, conv: 'direct' }));
  assert.equal(direct.info().conv, 'direct');
  const gw = wino.computeGradients(set.images, set.labels);
  const gd = direct.computeGradients(set.images, set.labels);
  assert.ok(Math.abs(gw.loss - gd.loss) <= 1e-5 * gd.loss, `loss ${gw.loss} vs ${gd.loss}`);
  for (const { name, rel } of relativeDifferences(gw.gradients, gd.gradients, direct.paramLayout())) {
    // fp32 rounding of sums that cancel at initialisation: measured 1e-6 to 1e-4 per tensor; a wrong
    // gradient is off by ~1
    assert.ok(rel < 1e-3, `${name}: relative difference ${rel}`);
    // conv2 to conv4 run Winograd: their kernels' gradients are not the direct ones bit for bit; conv5 (a 5x5
    // output, under the network's 8x8 minimum) stays direct
    if (/^conv[2-4]\.kernel$/.test(name)) assert.ok(rel > 0, `${name}: bit-identical, so Winograd did not run`);
  }
  wino.dispose();
  direct.dispose();
});

// The kernel transforms run every step on vectors (winograd_kernel_simd.inc, no FMA contraction): the plain loops'
// bits on every tier, for F(2x2) and F(4x4), on random kernels with zeros, signed zeros, denormals and large values
test('winogradKernelTransform: F(2x2) and F(4x4) give the plain loops\' bits on every tier', () => {
  for (const [Cin, Cout] of [[16, 16], [32, 64], [8, 24]])
    for (const which of ['f2', 'f4']) {
      const r = rng(Cin * 7 + Cout);
      const w = rand(9 * Cin * Cout, r, -3, 3);
      for (let i = 0; i < w.length; i += 37) w[i] = [0, -0, 1e-40, -3e38, 2 ** -20][(i / 37) % 5];
      const positions = which === 'f2' ? 16 : 36;
      const plain = new Float32Array(positions * Cin * Cout).fill(NaN);
      k.winogradKernelTransform(plain, w, { Cin, Cout }, which, 'scalar');
      for (const isa of ISAS) {
        const v = new Float32Array(plain.length).fill(NaN);
        k.winogradKernelTransform(v, w, { Cin, Cout }, which, isa);
        assert.deepEqual(new Uint32Array(v.buffer), new Uint32Array(plain.buffer), `${which} ${isa} Cin=${Cin} Cout=${Cout}`);
      }
    }
});
