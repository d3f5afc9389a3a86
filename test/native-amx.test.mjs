// bf16 convolutions on AMX tiles (native/conv_amx.inc). 'amx-emulated' runs the kernels' own code on a C++ model
// of the tile registers, so it is tested on every CPU; 'amx' runs the real instructions where the CPU has AMX
// and Linux grants the tile state (buildInfo().amx), and is skipped elsewhere. As in native-bf16.test.mjs the
// reference is the double convolution on bf16-rounded operands: bf16 x bf16 products are exact in fp32, so the
// kernels may differ from it only by their fp32 summation, |got - exact| <= gamma_K * S (K additions per output,
// S the sum of the absolute values of its terms).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { rand, rng, withEnv } from './helpers.mjs';
import { absRounded, assertWithinGamma as within, gamma, relativeDifferences, rounded, trainImages } from './numerics.mjs';

const k = native.kernels;
const hasAmx = native.buildInfo().amx;
if (!hasAmx) console.log('# real AMX kernels skipped: this CPU has no AMX-BF16 (or the tile state was refused); the emulated ones run');
const MODES = ['amx-emulated', ...(hasAmx ? ['amx'] : [])];

// The forward (without and with ReLU) on input x against the double convolution of the rounded operands, with
// random weights and bias drawn from r; `terms` additions per output bound its fp32 summation.
function checkForward(mode, N, H, W, Cin, Cout, x, r, terms) {
  const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
  const b = rand(Cout, r);
  const exact = new Float64Array(N * (H - 2) * (W - 2) * Cout);
  k.conv3x3Forward(exact, rounded(x), rounded(w), Float64Array.from(b), { N, H, W, Cin, Cout });
  const S = new Float64Array(exact.length);
  k.conv3x3Forward(S, absRounded(x), absRounded(w), Float64Array.from(b, Math.abs), { N, H, W, Cin, Cout });
  for (const relu of [false, true]) {
    const out = new Float32Array(exact.length).fill(NaN);
    k.conv3x3ForwardAmx(out, x, w, b, { N, H, W, Cin, Cout }, relu, mode);
    within(`out relu=${relu}`, out, relu ? exact.map((v) => Math.max(v, 0)) : exact, S, terms);
  }
}

// The weight gradient, accumulated onto random dw and db, against the double one of the rounded operands (the
// bias gradient sums the fp32 gradient itself: no operand is rounded).
function checkWeightGradient(mode, N, H, W, Cin, Cout, r) {
  const [Ho, Wo] = [H - 2, W - 2];
  const x = rand(N * H * W * Cin, r);
  const g = rand(N * Ho * Wo * Cout, r);
  const dw0 = rand(9 * Cin * Cout, r, -4, 4);
  const db0 = rand(Cout, r, -4, 4);
  const exactW = Float64Array.from(dw0);
  const exactB = Float64Array.from(db0);
  k.conv3x3BackwardWeight(exactW, new Float64Array(Cout), rounded(g), rounded(x), { N, H, W, Cin, Cout });
  k.conv3x3BackwardWeight(new Float64Array(9 * Cin * Cout), exactB, Float64Array.from(g), rounded(x), { N, H, W, Cin, Cout });
  const SW = Float64Array.from(dw0, Math.abs);
  const SB = Float64Array.from(db0, Math.abs);
  k.conv3x3BackwardWeight(SW, SB, absRounded(g), absRounded(x), { N, H, W, Cin, Cout });
  const dw = Float32Array.from(dw0);
  const db = Float32Array.from(db0);
  k.conv3x3BackwardWeightAmx(dw, db, g, x, { N, H, W, Cin, Cout }, mode);
  within('dw', dw, exactW, SW, N * Ho * Wo + 1);
  within('db', db, exactB, SB, N * Ho * Wo + 1);
}

// [N, H, W, Cin, Cout]. The kernels take 32 outputs at a time on the flat pixel index y * W + x, so blocks span
// rows and wrap past row ends: an output 16 wide (two rows and a wrapped pair per block); 38 wide with two
// images and two blocks of output channels; 64 input channels (two 16-pair chunks) and an odd width (pixel
// pairs of the weight gradient cross rows); the seed's conv4 (17x17, 32 -> 64) and conv5 (7x7, 64 -> 64,
// fewer outputs than one block); a single output pixel.
const SHAPES = [[1, 5, 18, 32, 32], [2, 4, 40, 32, 64], [1, 4, 21, 64, 32], [1, 17, 17, 32, 64], [2, 7, 7, 64, 64], [1, 3, 3, 32, 32]];

for (const mode of MODES)
  for (const [N, H, W, Cin, Cout] of SHAPES) {
    const shape = `${mode} N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`;
    const [Ho, Wo] = [H - 2, W - 2];

    test(`conv3x3ForwardAmx (and with ReLU) within gamma * S of the bf16-operand convolution, ${shape}`, () => {
      const r = rng(H * 7 + W + Cin * 3 + Cout);
      checkForward(mode, N, H, W, Cin, Cout, rand(N * H * W * Cin, r), r, 9 * Cin + 1);
    });

    test(`conv3x3BackwardInputAmx within gamma * S of the bf16-operand input gradient, ${shape}`, () => {
      const r = rng(H * 11 + W + Cin + Cout);
      const g = rand(N * Ho * Wo * Cout, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const exact = new Float64Array(N * H * W * Cin);
      k.conv3x3BackwardInput(exact, rounded(g), rounded(w), { N, H, W, Cin, Cout });
      const S = new Float64Array(exact.length);
      k.conv3x3BackwardInput(S, absRounded(g), absRounded(w), { N, H, W, Cin, Cout });
      const din = new Float32Array(exact.length).fill(NaN);
      k.conv3x3BackwardInputAmx(din, g, w, { N, H, W, Cin, Cout }, mode);
      within('din', din, exact, S, 9 * Cout);
    });

    test(`conv3x3BackwardWeightAmx accumulates within gamma * S of the bf16-operand weight gradient, ${shape}`, () => {
      checkWeightGradient(mode, N, H, W, Cin, Cout, rng(H * 13 + W + Cin + Cout));
    });
  }

// The weight gradient with few input channels (9 * Cin <= 32: the kernel's inputs are the rows of A, the pixels
// K): the seed's 3 channels at an output width of 18 (one block of 32, mostly padding), 1 channel with two images,
// two blocks of output channels and an odd width, 2 channels at width 38 (two blocks, the second partly past
// the row), and the seed's first layer on a 36x130 band.
const NARROW_WEIGHT = [[1, 6, 20, 3, 32], [2, 5, 9, 1, 64], [1, 5, 40, 2, 32], [1, 6, 130, 3, 32]];

for (const mode of MODES)
  for (const [N, H, W, Cin, Cout] of NARROW_WEIGHT) {
    const shape = `${mode} N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`;
    test(`conv3x3BackwardWeightAmx with ${Cin} input channels (the kernel's inputs as tile rows) within gamma * S, ${shape}`, () => {
      checkWeightGradient(mode, N, H, W, Cin, Cout, rng(H * 3 + W + Cin * 5 + Cout));
    });
  }

// The first block's forward (conv -> ReLU -> max-pool) with few input channels (9 * Cin <= 32: an output's
// inputs are one tile row), each block of 16 + 16 outputs pooled from the tiles: the seed's 3 channels with two
// images and an odd conv width (10 x 13: its last column no window takes), 1 channel with two blocks of output
// channels and pooled rows of 8 and more windows (conv 20 wide: a second, partial block of windows), 2 channels
// at an odd width, and the seed's first layer on a band of its 128-pixel rows.
const FIRST_BLOCK = [[2, 12, 15, 3, 32], [1, 6, 22, 1, 64], [1, 6, 9, 2, 32], [1, 8, 128, 3, 32]];

for (const mode of MODES)
  for (const [N, H, W, Cin, Cout] of FIRST_BLOCK)
    test(`conv3x3ReluMaxpoolForwardAmx: the first block on tiles pools the bf16-operand convolution, and its code points at the maximum, ${mode} N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`, () => {
      const [Ho, Wo, Hq, Wq] = [H - 2, W - 2, (H - 2) >> 1, (W - 2) >> 1];
      const r = rng(77 + W + Cin);
      const x = rand(N * H * W * Cin, r, 0, 1);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const b = rand(Cout, r, -0.2, 0.2);
      const conv = new Float64Array(N * Ho * Wo * Cout);
      k.conv3x3Forward(conv, rounded(x), rounded(w), Float64Array.from(b), { N, H, W, Cin, Cout });
      const S = new Float64Array(conv.length);
      k.conv3x3Forward(S, absRounded(x), absRounded(w), Float64Array.from(b, Math.abs), { N, H, W, Cin, Cout });
      const out = new Float32Array(N * Hq * Wq * Cout).fill(NaN);
      const code = new Uint8Array(out.length).fill(9);
      k.conv3x3ReluMaxpoolForwardAmx(out, code, x, w, b, { N, H, W, Cin, Cout }, mode);
      const tol = (i) => gamma(33) * S[i] + 1e-12 * S[i];
      let positive = 0;
      for (let n = 0; n < N; n++)
        for (let qy = 0; qy < Hq; qy++)
          for (let qx = 0; qx < Wq; qx++)
            for (let c = 0; c < Cout; c++) {
              const o = ((n * Hq + qy) * Wq + qx) * Cout + c;
              const at = [0, 1, 2, 3].map((j) => ((n * Ho + 2 * qy + (j >> 1)) * Wo + 2 * qx + (j & 1)) * Cout + c);
              const best = Math.max(0, ...at.map((i) => conv[i]));
              const slack = Math.max(...at.map(tol));
              assert.ok(Math.abs(out[o] - best) <= 2 * slack, `pooled[${o}] ${out[o]} vs ${best}`);
              assert.ok(code[o] <= 4, `code[${o}] = ${code[o]}`);
              if (code[o] === 4) assert.equal(out[o], 0, `code 4 (no positive maximum) at ${o} pooled ${out[o]}`);
              else {
                positive++;
                assert.ok(out[o] > 0 && Math.abs(conv[at[code[o]]] - out[o]) <= tol(at[code[o]]), `code[${o}] = ${code[o]} names ${conv[at[code[o]]]}, pooled ${out[o]}`);
              }
            }
      assert.ok(positive > out.length / 4, `only ${positive} of ${out.length} windows have a positive maximum`);
      // out16: the same pooled values in bf16
      const out16 = new Uint16Array(out.length).fill(0xffff);
      k.conv3x3ReluMaxpoolForwardAmx(out.fill(NaN), code, x, w, b, { N, H, W, Cin, Cout }, mode, out16);
      const want16 = new Uint16Array(out.length);
      k.toBf16(want16, out, mode === 'amx' ? 'avx512-bf16' : 'portable');
      assert.deepEqual(out16, want16, 'out16');
      assert.throws(() => k.conv3x3ReluMaxpoolForwardAmx(out, code, x, w, b, { N, H, W, Cin, Cout }, mode, null, new Uint16Array(N * H * W * Cin + 32 * Cin)),
        (e) => e instanceof RangeError && /^in16 is for a later block/.test(e.message));
      assert.throws(() => k.conv3x3ReluMaxpoolForwardAmx(out, code, x, w, b, { N, H, W, Cin, Cout }, mode, out16.subarray(1)),
        (e) => e instanceof RangeError && /^out16 must have/.test(e.message));
    });

/** A pool's random gradient dpool [N, Ho/2, Wo/2, C] and code (0-3, or 4: no positive maximum, no gradient),
 * drawn from r in that order, and the conv output's gradient they route to, dconv [N, Ho, Wo, C] in double. */
function routedGradient(r, N, Ho, Wo, C) {
  const dpool = rand(N * (Ho >> 1) * (Wo >> 1) * C, r);
  const code = Uint8Array.from(dpool, () => Math.floor(r() * 5));
  const dconv = new Float64Array(N * Ho * Wo * C);
  k.maxpool2x2BackwardCode(dconv, Float64Array.from(dpool), code, { N, H: Ho, W: Wo, C });
  return { dpool, code, dconv };
}

// The first block's weight gradient routed from the pool's gradient by its code: the seed's 3 channels at a conv
// size of 10 x 13 (its last column in no window), 1 channel with two images, 5 conv rows (the last in no window)
// and two blocks of output channels, and the seed's first layer on a band of its 128-pixel rows (64 windows a row).
const FIRST_BLOCK_WEIGHT = [[1, 12, 15, 3, 32], [2, 7, 20, 1, 64], [1, 8, 128, 3, 32]];

for (const mode of MODES)
  for (const [N, H, W, Cin, Cout] of FIRST_BLOCK_WEIGHT)
    test(`reluMaxpoolConv3x3BackwardWeightAmx accumulates the routed bf16-operand weight gradient within gamma * S, ${mode} N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`, () => {
      const [Ho, Wo] = [H - 2, W - 2];
      const r = rng(91 + W + Cin);
      const x = rand(N * H * W * Cin, r, 0, 1);
      const { dpool, code, dconv } = routedGradient(r, N, Ho, Wo, Cout);
      const dw0 = rand(9 * Cin * Cout, r, -4, 4);
      const db0 = rand(Cout, r, -4, 4);
      const exactW = Float64Array.from(dw0);
      const exactB = Float64Array.from(db0);
      k.conv3x3BackwardWeight(exactW, new Float64Array(Cout), rounded(dconv), rounded(x), { N, H, W, Cin, Cout });
      k.conv3x3BackwardWeight(new Float64Array(9 * Cin * Cout), exactB, dconv, rounded(x), { N, H, W, Cin, Cout });
      const SW = Float64Array.from(dw0, Math.abs);
      const SB = Float64Array.from(db0, Math.abs);
      k.conv3x3BackwardWeight(SW, SB, absRounded(dconv), absRounded(x), { N, H, W, Cin, Cout });
      const dw = Float32Array.from(dw0);
      const db = Float32Array.from(db0);
      k.reluMaxpoolConv3x3BackwardWeightAmx(dw, db, dpool, code, x, { N, H, W, Cin, Cout }, mode);
      within('dw', dw, exactW, SW, N * Ho * Wo + 1);
      within('db', db, exactB, SB, N * Ho * Wo + 1);
      // the gradient did reach every weight: not just dw0 back
      assert.ok(dw.every((v, i) => v !== dw0[i]), 'every weight moved');
    });

// A later block's forward (conv -> ReLU -> max-pool, Cin and Cout multiples of 32) pooled from tiles that hold two
// conv rows: odd conv sizes (the last row and column in no window), two images with two blocks of output channels
// and a row of 10 windows (a second, partial block of windows), the seed's conv4 and conv5, and 64 input channels
// with 17 windows a row. Its sums are the unfused tile forward's, so out and code are exactly that output pooled;
// its input may come in bf16 (the previous block's out16) and its output may go out in bf16 too.
const BLOCK_FORWARD = [[1, 9, 11, 32, 32], [2, 8, 22, 32, 64], [1, 17, 17, 32, 64], [1, 7, 7, 64, 64], [1, 6, 37, 64, 32]];

for (const mode of MODES)
  for (const [N, H, W, Cin, Cout] of BLOCK_FORWARD)
    test(`conv3x3ReluMaxpoolForwardAmx with ${Cin} input channels: the unfused tile forward pooled, with its code, bit for bit, ${mode} N=${N} H=${H} W=${W} Cout=${Cout}`, () => {
      const [Ho, Wo, Hq, Wq] = [H - 2, W - 2, (H - 2) >> 1, (W - 2) >> 1];
      const r = rng(31 + H + W + Cin + Cout);
      const x = rand(N * H * W * Cin, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const b = rand(Cout, r, -0.2, 0.2);
      const conv = new Float32Array(N * Ho * Wo * Cout);
      k.conv3x3ForwardAmx(conv, x, w, b, { N, H, W, Cin, Cout }, true, mode);
      const out = new Float32Array(N * Hq * Wq * Cout).fill(NaN);
      const code = new Uint8Array(out.length).fill(9);
      k.conv3x3ReluMaxpoolForwardAmx(out, code, x, w, b, { N, H, W, Cin, Cout }, mode);
      const expected = new Float32Array(out.length);
      const expectedCode = new Uint8Array(out.length);
      for (let n = 0; n < N; n++)
        for (let qy = 0; qy < Hq; qy++)
          for (let qx = 0; qx < Wq; qx++)
            for (let c = 0; c < Cout; c++) {
              const o = ((n * Hq + qy) * Wq + qx) * Cout + c;
              const v = [0, 1, 2, 3].map((j) => conv[((n * Ho + 2 * qy + (j >> 1)) * Wo + 2 * qx + (j & 1)) * Cout + c]);
              const j = v.indexOf(Math.max(...v)); // the first maximum in row-major order
              expected[o] = v[j];
              expectedCode[o] = v[j] > 0 ? j : 4;
            }
      assert.deepEqual(out, expected);
      assert.deepEqual(code, expectedCode);
      assert.ok(expectedCode.some((c) => c === 4) && expectedCode.some((c) => c < 4), 'both kinds of window occur');
      // out16 is out in bf16; the input read in bf16 (in16: the image's bf16, then 32 pixels of zeros) gives the same
      const impl = mode === 'amx' ? 'avx512-bf16' : 'portable';
      const out16 = new Uint16Array(out.length).fill(0xffff);
      const in16 = new Uint16Array(N * H * W * Cin + 32 * Cin);
      k.toBf16(in16.subarray(0, N * H * W * Cin), x, impl);
      const [out2, code2] = [new Float32Array(out.length).fill(NaN), new Uint8Array(out.length).fill(9)];
      k.conv3x3ReluMaxpoolForwardAmx(out2, code2, new Float32Array(x.length).fill(NaN), w, b, { N, H, W, Cin, Cout }, mode, out16, in16);
      assert.deepEqual(out2, out, 'out from in16 (the fp32 input, all NaN, unread)');
      assert.deepEqual(code2, code);
      const want16 = new Uint16Array(out.length);
      k.toBf16(want16, out, impl);
      assert.deepEqual(out16, want16, 'out16');
    });

// A conv -> ReLU -> max-pool block's backward (Cin, Cout multiples of 32) from the pool's gradient and code, its
// conv gradient routed straight to bf16: odd conv sizes (the last row and column in no window), two images with
// two blocks of output channels, the seed's conv4 (17x17, 32 -> 64) and conv5 (7x7, 64 -> 64), 64 input channels
// at an odd width. The input and weight gradients are the unfused tile kernels' on the routed gradient, bit for
// bit, and within gamma * S of the double ones.
const BLOCK_BACKWARD = [[1, 9, 11, 32, 32], [2, 8, 10, 32, 64], [1, 17, 17, 32, 64], [1, 7, 7, 64, 64], [1, 6, 21, 64, 32]];

for (const mode of MODES)
  for (const [N, H, W, Cin, Cout] of BLOCK_BACKWARD)
    test(`reluMaxpoolConv3x3BackwardAmx: din and dw of the routed gradient as the unfused tile kernels, db within gamma * S, ${mode} N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`, () => {
      const [Ho, Wo, Hq, Wq] = [H - 2, W - 2, (H - 2) >> 1, (W - 2) >> 1];
      const r = rng(57 + H + W + Cin + Cout);
      const x = rand(N * H * W * Cin, r, 0, 1);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const { dpool, code, dconv } = routedGradient(r, N, Ho, Wo, Cout);
      const dw0 = rand(9 * Cin * Cout, r, -4, 4);
      const db0 = rand(Cout, r, -4, 4);
      const din = new Float32Array(N * H * W * Cin).fill(NaN);
      const [dw, db] = [Float32Array.from(dw0), Float32Array.from(db0)];
      k.reluMaxpoolConv3x3BackwardAmx(din, dw, db, dpool, code, x, w, { N, H, W, Cin, Cout }, mode);
      // the unfused kernels on the routed fp32 gradient: the same bf16 operands, so the same sums
      const g = Float32Array.from(dconv);
      const din1 = new Float32Array(din.length);
      k.conv3x3BackwardInputAmx(din1, g, w, { N, H, W, Cin, Cout }, mode);
      const [dw1, db1] = [Float32Array.from(dw0), Float32Array.from(db0)];
      k.conv3x3BackwardWeightAmx(dw1, db1, g, x, { N, H, W, Cin, Cout }, mode);
      assert.deepEqual(din, din1, 'din');
      assert.deepEqual(dw, dw1, 'dw');
      // db sums the routed gradient in window order: against the double sum
      const exactB = Float64Array.from(db0);
      k.conv3x3BackwardWeight(new Float64Array(9 * Cin * Cout), exactB, dconv, rounded(x), { N, H, W, Cin, Cout });
      const SB = Float64Array.from(db0, Math.abs);
      k.conv3x3BackwardWeight(new Float64Array(9 * Cin * Cout), SB, dconv.map(Math.abs), rounded(x), { N, H, W, Cin, Cout });
      within('db', db, exactB, SB, N * Hq * Wq + 1);
      // and the gradients are the double ones up to bf16 sums
      const exactIn = new Float64Array(din.length);
      k.conv3x3BackwardInput(exactIn, rounded(dconv), rounded(w), { N, H, W, Cin, Cout });
      const SIn = new Float64Array(din.length);
      k.conv3x3BackwardInput(SIn, absRounded(dconv), absRounded(w), { N, H, W, Cin, Cout });
      within('din', din, exactIn, SIn, 9 * Cout);
      assert.ok(dw.every((v, i) => v !== dw0[i]), 'every weight moved');
      // without din: the same weight gradient
      const [dw2, db2] = [Float32Array.from(dw0), Float32Array.from(db0)];
      k.reluMaxpoolConv3x3BackwardAmx(null, dw2, db2, dpool, code, x, w, { N, H, W, Cin, Cout }, mode);
      assert.deepEqual(dw2, dw);
      assert.deepEqual(db2, db);
      // the input read from its bf16 (in16, as the forward gets it; the fp32 input all NaN, unread): the same
      const in16 = new Uint16Array(N * H * W * Cin + 32 * Cin);
      k.toBf16(in16.subarray(0, N * H * W * Cin), x, mode === 'amx' ? 'avx512-bf16' : 'portable');
      const [din3, dw3, db3] = [new Float32Array(din.length), Float32Array.from(dw0), Float32Array.from(db0)];
      k.reluMaxpoolConv3x3BackwardAmx(din3, dw3, db3, dpool, code, new Float32Array(x.length).fill(NaN), w, { N, H, W, Cin, Cout }, mode, in16);
      assert.deepEqual([din3, dw3, db3], [din, dw, db]);
    });

test('the AMX kernels refuse, with the reason, channel counts they do not take, an unknown mode, and real AMX where there is none', () => {
  const [N, H, W, Cin, Cout] = [1, 4, 17, 32, 32];
  const x = new Float32Array(N * H * W * Cin);
  const w = new Float32Array(9 * Cin * Cout);
  const b = new Float32Array(Cout);
  const out = new Float32Array(N * (H - 2) * (W - 2) * Cout);
  const w16 = new Float32Array(9 * 16 * Cout);
  assert.throws(() => k.conv3x3BackwardWeightAmx(w16, b, out, new Float32Array(N * H * W * 16), { N, H, W, Cin: 16, Cout }, 'amx-emulated'), (e) => e instanceof RangeError && /multiples of 32/.test(e.message));
  const b48 = new Float32Array(48);
  assert.throws(() => k.conv3x3ForwardAmx(new Float32Array(N * (H - 2) * (W - 2) * 48), x, new Float32Array(9 * Cin * 48), b48, { N, H, W, Cin, Cout: 48 }, false, 'amx-emulated'), (e) => e instanceof RangeError && /multiples of 32/.test(e.message));
  // few input channels: the first block's forward (conv3x3ReluMaxpoolForwardAmx) and a weight gradient up to 3
  const x3 = new Float32Array(N * H * W * 3);
  assert.throws(() => k.conv3x3ForwardAmx(out, x3, new Float32Array(9 * 3 * Cout), b, { N, H, W, Cin: 3, Cout }, false, 'amx-emulated'), (e) => e instanceof RangeError && /multiples of 32/.test(e.message));
  assert.throws(() => k.conv3x3BackwardWeightAmx(new Float32Array(9 * 4 * Cout), b, out, new Float32Array(N * H * W * 4), { N, H, W, Cin: 4, Cout }, 'amx-emulated'), (e) => e instanceof RangeError && /also take Cin <= 3/.test(e.message));
  const npool = N * ((H - 2) >> 1) * ((W - 2) >> 1) * Cout;
  assert.throws(() => k.reluMaxpoolConv3x3BackwardWeightAmx(new Float32Array(9 * 4 * Cout), b, new Float32Array(npool), new Uint8Array(npool), new Float32Array(N * H * W * 4), { N, H, W, Cin: 4, Cout }, 'amx-emulated'), (e) => e instanceof RangeError && /also take Cin <= 3/.test(e.message));
  // the first block's buffers are checked against the shape: a pool gradient or code one window short
  const [dw3, x3b] = [new Float32Array(9 * 3 * Cout), new Float32Array(N * H * W * 3)];
  assert.throws(() => k.reluMaxpoolConv3x3BackwardWeightAmx(dw3, b, new Float32Array(npool - Cout), new Uint8Array(npool), x3b, { N, H, W, Cin: 3, Cout }, 'amx-emulated'), /dpool/);
  assert.throws(() => k.reluMaxpoolConv3x3BackwardWeightAmx(dw3, b, new Float32Array(npool), new Uint8Array(npool - 1), x3b, { N, H, W, Cin: 3, Cout }, 'amx-emulated'), /code/);
  assert.throws(() => k.conv3x3ReluMaxpoolForwardAmx(new Float32Array(npool), new Uint8Array(npool), x3b.subarray(1), new Float32Array(9 * 3 * Cout), b, { N, H, W, Cin: 3, Cout }, 'amx-emulated'), /in/);
  assert.throws(() => k.conv3x3BackwardInputAmx(x, out, w, { N, H, W, Cin, Cout }, 'tiles'), (e) => e instanceof RangeError && /'amx' or 'amx-emulated', got 'tiles'/.test(e.message));
  if (!hasAmx) assert.throws(() => k.conv3x3BackwardInputAmx(x, out, w, { N, H, W, Cin, Cout }, 'amx'), (e) => e instanceof RangeError && /no AMX-BF16/.test(e.message));
});

const bf16Skip = native.buildInfo().bf16 ? false : 'this CPU has no AVX512-BF16 (precision bf16)';

/** a Trainer created with ENGINE_BF16 set to `choice` (undefined: unset) */
function trainerWith(choice, options) {
  return withEnv({ ENGINE_BF16: choice }, () => new native.Trainer(trainerConfig(options)));
}

test('ENGINE_BF16 picks the bf16 kernels: AMX by default where usable, AVX512-BF16 otherwise; bad choices are RangeErrors', { skip: bf16Skip }, () => {
  const opts = { spec: SEED7, seed: 1, precision: 'bf16' };
  const auto = trainerWith(undefined, opts);
  assert.equal(auto.info().bf16Kernels, hasAmx ? 'amx' : 'avx512-bf16');
  auto.dispose();
  const avx = trainerWith('avx512-bf16', opts);
  assert.equal(avx.info().bf16Kernels, 'avx512-bf16');
  avx.dispose();
  assert.equal(new native.Trainer(trainerConfig({ spec: SEED7, seed: 1 })).info().bf16Kernels, null);
  assert.throws(() => trainerWith('tiles', opts), (e) => e instanceof RangeError && /ENGINE_BF16 must be avx512-bf16, amx or amx-emulated, got 'tiles'/.test(e.message));
  if (!hasAmx) assert.throws(() => trainerWith('amx', opts), (e) => e instanceof RangeError && /ENGINE_BF16=amx, but this CPU has no AMX-BF16/.test(e.message));
});

test('Trainer bf16 on emulated AMX tiles: the loss and gradients of the AVX512-BF16 kernels up to bf16 noise, with every convolution on the tiles (by the plan)', { skip: bf16Skip }, async () => {
  const set = await trainImages(2); // one per class: the emulator is slow
  const opts = { spec: SEED7, seed: 3, threads: 2, precision: 'bf16' };
  const tiles = trainerWith('amx-emulated', opts);
  const avx = trainerWith('avx512-bf16', opts);
  assert.equal(tiles.info().bf16Kernels, 'amx-emulated');
  const gt = tiles.computeGradients(set.images, set.labels);
  const ga = avx.computeGradients(set.images, set.labels);
  // On tiles the first convolution takes bf16 operands too (fp32 with AVX512-BF16), so the two differ by bf16
  // rounding, which moves max-pool choices: measured 3e-4 in the loss and 0.01-0.19 in the gradient tensors
  // (AVX512-BF16 against fp32: up to 0.15); a wrong kernel gives differences of 1 or more
  assert.ok(Math.abs(gt.loss - ga.loss) <= 2e-3 * ga.loss, `loss ${gt.loss} vs ${ga.loss}`);
  for (const { name, rel } of relativeDifferences(gt.gradients, ga.gradients, avx.paramLayout()))
    assert.ok(rel < 0.5, `${name}: relative difference ${rel}`);
  // The plans say where each block ran: on tiles every conv -> ReLU -> max-pool block runs as one step each way
  // (the first block's backward only its weight gradient; the later ones pass the gradient on, and read their input
  // in bf16 from the block before), with AVX512-BF16 the first block in fp32 and the others conv by conv
  const kernels = (plan) => plan.steps.map((s) => `${s.direction[0]} ${s.ops.join('+')} ${s.kernel}${s.inputGradient ? `/${s.inputGradient}` : ''}${s.bf16In ? ' bf16-in' : ''}`);
  const onTiles = kernels(tiles.plan());
  for (const n of [1, 2, 3, 4, 5]) {
    const block = `conv${n}+relu${n}+pool${n}`;
    assert.ok(onTiles.includes(`f ${block} amx-emulated${n > 1 ? ' bf16-in' : ''}`), `${block} forward on tiles: ${onTiles.join(', ')}`);
    assert.ok(onTiles.includes(`b ${block} amx-emulated${n > 1 ? '/amx-emulated bf16-in' : ''}`), `${block} backward on tiles`);
  }
  const withAvx = kernels(avx.plan());
  assert.ok(withAvx.includes('f conv1+relu1+pool1 avx512'), withAvx.join(', '));
  assert.ok(withAvx.includes('b conv1+relu1+pool1 avx512-bf16'));
  assert.ok(withAvx.includes('f conv2+relu2 avx512-bf16') && withAvx.includes('b conv2 avx512-bf16/avx512-bf16'));
  tiles.dispose();
  avx.dispose();
});
