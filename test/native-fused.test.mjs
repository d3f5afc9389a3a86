// The fused fast kernels the network runs (native/conv_simd.inc) against the reference compositions they
// stand for (native/kernels_ref.h), on every ISA the machine has, at shapes with odd sizes, several channel
// vectors and the reference fallback:
//   conv3x3ReluForward              = relu(conv3x3Forward): same tolerance as the convolution (ReLU is exact)
//   maxpool2x2Forward               : a max is exact, so bit-identical
//   reluMaxpool2x2Backward          : routing a gradient is exact, so bit-identical (ties: first maximum)
//   maxpool2x2Backward              : the same without the ReLU (a pool straight after a conv: face-res's stem),
//                                     bit-identical, -0 gradients routed as the reference's 0 + -0 = +0
//   conv3x3ReluMaxpoolForward       : the first block in one pass: bit-identical pooled values, and the code of
//                                     each window's first maximum (4 where it is not positive)
//   maxpool2x2BackwardCode          : routing by that code is routing by the activations, bit for bit
//   reluMaxpoolConv3x3BackwardWeight: the weight gradient of conv -> ReLU -> pool, summed band by band; the
//                                     same rigorous bound as conv3x3BackwardWeight (test/native-kernels.test.mjs),
//                                     and bit for bit the band loop of route-then-conv3x3BackwardWeight
//   augmentWarp (tabled; AVX-512 rows): the same double expressions in the same order, so bit-identical
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../dist/src/native.js';
import { rand, rng, tiersUpTo } from './helpers.mjs';

const k = native.kernels;
const U = 2 ** -24;
const gamma = (K) => (K * U) / (1 - K * U);
const cpuIsa = native.buildInfo().cpuIsa;
const ISAS = tiersUpTo(cpuIsa).slice(1);

/** code [N, H/2, W/2, C] of act: the window's first maximum (row-major), or 4 where it is not positive */
function codeOf(code, act, N, H, W, C) {
  const [Hq, Wq] = [H >> 1, W >> 1];
  for (let n = 0; n < N; n++)
    for (let qy = 0; qy < Hq; qy++)
      for (let qx = 0; qx < Wq; qx++)
        for (let c = 0; c < C; c++) {
          const v = [0, 1, 2, 3].map((i) => act[((n * H + 2 * qy + (i >> 1)) * W + 2 * qx + (i & 1)) * C + c]);
          let first = 0;
          for (let i = 1; i < 4; i++) if (v[i] > v[first]) first = i;
          code[((n * Hq + qy) * Wq + qx) * C + c] = v[first] > 0 ? first : 4;
        }
}

const abs64 = (a) => Float64Array.from(a, Math.abs);

// [N, H, W, C]: H or W odd (the floor drops a row/column that must get a zero gradient), C of 1, 2, 4 vectors
// and C = 12 (the reference fallback)
const POOL_SHAPES = [[1, 2, 2, 16], [2, 7, 9, 32], [1, 10, 5, 64], [2, 6, 6, 8], [1, 5, 4, 12]];

for (const isa of ISAS) {
  for (const [N, H, W, C] of POOL_SHAPES) {
    const shape = `N=${N} H=${H} W=${W} C=${C}`;

    test(`${isa} maxpool2x2Forward is the reference bit for bit, ${shape}`, () => {
      const r = rng(H * 100 + W * 10 + C);
      const x = rand(N * H * W * C, r);
      const fast = new Float32Array(N * (H >> 1) * (W >> 1) * C).fill(NaN);
      const ref = new Float32Array(fast.length);
      k.maxpool2x2Forward(fast, x, { N, H, W, C }, isa);
      k.maxpool2x2Forward(ref, x, { N, H, W, C }, 'scalar');
      assert.deepEqual(fast, ref);
    });

    test(`${isa} reluMaxpool2x2Backward is the reference bit for bit, with ties and zeros, ${shape}`, () => {
      const r = rng(H * 1000 + W * 10 + C);
      // ReLU outputs: a quarter exactly 0 (no gradient), values on a coarse grid so windows have ties
      const x = Float32Array.from({ length: N * H * W * C }, () => (r() < 0.25 ? 0 : Math.floor(r() * 4) / 4));
      const dout = rand(N * (H >> 1) * (W >> 1) * C, r);
      const fast = new Float32Array(x.length).fill(NaN); // every element must be written
      const ref = new Float32Array(x.length);
      k.reluMaxpool2x2Backward(fast, dout, x, { N, H, W, C }, isa);
      k.reluMaxpool2x2Backward(ref, dout, x, { N, H, W, C }, 'scalar');
      assert.deepEqual(fast, ref);
      // and the reference is pool-then-ReLU backward
      const pooled = new Float32Array(x.length);
      k.maxpool2x2Backward(pooled, dout, x, { N, H, W, C }, 'scalar');
      const composed = new Float32Array(x.length);
      k.reluBackward(composed, pooled, x);
      assert.deepEqual(ref, composed);
    });

    test(`${isa} maxpool2x2Backward is the reference bit for bit, with ties and signed zeros, ${shape}`, () => {
      const r = rng(H * 3000 + W * 10 + C);
      // signed values on a coarse grid so windows have ties; a tenth of the gradients -0
      const x = Float32Array.from({ length: N * H * W * C }, () => Math.floor(r() * 8) / 4 - 1);
      const dout = Float32Array.from({ length: N * (H >> 1) * (W >> 1) * C }, () => (r() < 0.1 ? -0 : r() - 0.5));
      const fast = new Float32Array(x.length).fill(NaN); // every element must be written
      const ref = new Float32Array(x.length);
      k.maxpool2x2Backward(fast, dout, x, { N, H, W, C }, isa);
      k.maxpool2x2Backward(ref, dout, x, { N, H, W, C }, 'scalar');
      assert.deepEqual(Buffer.from(fast.buffer), Buffer.from(ref.buffer));
      assert.ok(ref.some((v) => v !== 0), 'some gradient routed');
    });
  }

  // [N, H, W, Cin, Cout] of the conv: its output (H-2, W-2) with odd sizes; Cin = 3 as the first layer
  for (const [N, H, W, Cin, Cout] of [[1, 12, 11, 3, 32], [2, 9, 8, 3, 16], [1, 13, 13, 16, 64], [1, 6, 7, 8, 8], [1, 8, 8, 3, 12]]) {
    const shape = `N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`;
    const Ho = H - 2;
    const Wo = W - 2;

    test(`${isa} conv3x3ReluForward = relu(conv3x3Forward), ${shape}`, () => {
      const r = rng(7 + H * 31 + W * 7 + Cin + Cout);
      const x = rand(N * H * W * Cin, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const b = rand(Cout, r);
      const fused = new Float32Array(N * Ho * Wo * Cout).fill(NaN);
      const conv = new Float32Array(fused.length);
      k.conv3x3ReluForward(fused, x, w, b, { N, H, W, Cin, Cout }, isa);
      k.conv3x3Forward(conv, x, w, b, { N, H, W, Cin, Cout }, isa);
      // the same kernel with ReLU on the way out: bit-identical to ReLU after it
      assert.deepEqual(fused, conv.map((v) => (v > 0 ? v : 0)));
      assert.ok(fused.some((v) => v === 0) && fused.some((v) => v > 0));
    });

    test(`${isa} conv3x3ReluMaxpoolForward = pool(relu(conv)), with the code of each window's first maximum, ${shape}`, () => {
      const r = rng(13 + H * 31 + W * 7 + Cin + Cout);
      const x = rand(N * H * W * Cin, r);
      const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
      const b = rand(Cout, r);
      const [Hq, Wq] = [Ho >> 1, Wo >> 1];
      const out = new Float32Array(N * Hq * Wq * Cout).fill(NaN);
      const code = new Uint8Array(out.length).fill(99);
      k.conv3x3ReluMaxpoolForward(out, code, x, w, b, { N, H, W, Cin, Cout }, isa);
      // the same fast conv, then the pool: bit-identical values
      const conv = new Float32Array(N * Ho * Wo * Cout);
      k.conv3x3ReluForward(conv, x, w, b, { N, H, W, Cin, Cout }, isa);
      const pooled = new Float32Array(out.length);
      k.maxpool2x2Forward(pooled, conv, { N, H: Ho, W: Wo, C: Cout });
      assert.deepEqual(out, pooled);
      // the code names the first maximum (4 where it is 0: the ReLU passes no gradient)
      let zeros = 0;
      for (let n = 0; n < N; n++)
        for (let qy = 0; qy < Hq; qy++)
          for (let qx = 0; qx < Wq; qx++)
            for (let c = 0; c < Cout; c++) {
              const o = ((n * Hq + qy) * Wq + qx) * Cout + c;
              const at = (i) => ((n * Ho + 2 * qy + (i >> 1)) * Wo + 2 * qx + (i & 1)) * Cout + c;
              const v = [0, 1, 2, 3].map((i) => conv[at(i)]);
              let first = 0;
              for (let i = 1; i < 4; i++) if (v[i] > v[first]) first = i;
              assert.equal(code[o], v[first] > 0 ? first : 4, `code[${o}]`);
              if (code[o] === 4) zeros++;
            }
      assert.ok(zeros > 0 && zeros < code.length, 'both kinds of code occur');
    });

    test(`${isa} reluMaxpoolConv3x3BackwardWeight accumulates the composed gradient, ${shape}`, () => {
      const r = rng(11 + H * 31 + W * 7 + Cin + Cout);
      const x = rand(N * H * W * Cin, r, 0, 1);
      // ReLU outputs with zeros and ties, and their pool code
      const act = Float32Array.from({ length: N * Ho * Wo * Cout }, () => (r() < 0.3 ? 0 : Math.floor(r() * 4) / 4));
      const npool = N * (Ho >> 1) * (Wo >> 1) * Cout;
      const code = new Uint8Array(npool);
      codeOf(code, act, N, Ho, Wo, Cout);
      const dpool = rand(npool, r);
      // routing by code is routing by the activations, bit for bit
      const byCode = new Float32Array(act.length).fill(NaN);
      k.maxpool2x2BackwardCode(byCode, dpool, code, { N, H: Ho, W: Wo, C: Cout }, isa);
      const byAct = new Float32Array(act.length);
      k.reluMaxpool2x2Backward(byAct, dpool, act, { N, H: Ho, W: Wo, C: Cout }, 'scalar');
      assert.deepEqual(byCode, byAct);
      const dw0 = rand(9 * Cin * Cout, r, -4, 4);
      const db0 = rand(Cout, r, -4, 4);
      const dw = Float32Array.from(dw0);
      const db = Float32Array.from(db0);
      k.reluMaxpoolConv3x3BackwardWeight(dw, db, dpool, code, x, { N, H, W, Cin, Cout }, isa);
      // the composition in double: route the gradient, then the weight gradient
      const dconv = new Float64Array(act.length);
      k.reluMaxpool2x2Backward(dconv, Float64Array.from(dpool), Float64Array.from(act), { N, H: Ho, W: Wo, C: Cout });
      const dwExact = Float64Array.from(dw0);
      const dbExact = Float64Array.from(db0);
      k.conv3x3BackwardWeight(dwExact, dbExact, dconv, Float64Array.from(x), { N, H, W, Cin, Cout });
      const dwS = abs64(dw0);
      const dbS = abs64(db0);
      k.conv3x3BackwardWeight(dwS, dbS, dconv.map(Math.abs), abs64(x), { N, H, W, Cin, Cout });
      const K = N * Ho * Wo + N * Ho + 1; // per-band partial sums add one rounding per band at most
      for (const [name, got, exact, S] of [['dw', dw, dwExact, dwS], ['db', db, dbExact, dbS]])
        for (let i = 0; i < got.length; i++)
          assert.ok(Math.abs(got[i] - exact[i]) <= gamma(K) * S[i] + 1e-12 * S[i], `${name}[${i}]: ${got[i]} vs ${exact[i]}`);
      // it accumulated (an overwrite would be off by dw0) and it used the gradient (not just dw0)
      assert.ok(dw.some((v, i) => Math.abs(v - dw0[i]) > 1e-3));
      // and its sums are the band loop's, bit for bit (the fast kernels route and consume a band a pooled row at a
      // time): per band of 2 pooled rows, route by the code, then one weight gradient of the band on this ISA
      const dwBands = Float32Array.from(dw0);
      const dbBands = Float32Array.from(db0);
      const [Hq, Wq] = [Ho >> 1, Wo >> 1];
      for (let n = 0; n < N; n++)
        for (let qy = 0; qy < Hq; qy += 2) {
          const rows = Math.min(2, Hq - qy);
          const q = (n * Hq + qy) * Wq * Cout;
          const band = new Float32Array(2 * rows * Wo * Cout);
          k.maxpool2x2BackwardCode(band, dpool.subarray(q, q + rows * Wq * Cout), code.subarray(q, q + rows * Wq * Cout), { N: 1, H: 2 * rows, W: Wo, C: Cout }, isa);
          const xBand = x.subarray((n * H + 2 * qy) * W * Cin, (n * H + 2 * qy + 2 * rows + 2) * W * Cin);
          k.conv3x3BackwardWeight(dwBands, dbBands, band, xBand, { N: 1, H: 2 * rows + 2, W, Cin, Cout }, isa);
        }
      assert.deepEqual(dw, dwBands);
      assert.deepEqual(db, dbBands);
    });
  }

  // [H, W, C]: the seed's images; widths that leave 8-column blocks a tail (13), have no block (5, 1) or one
  // exactly (8); grey and 4-channel images (the scalar rows on every tier)
  for (const [H, W, C] of [[150, 150, 3], [7, 13, 3], [9, 5, 3], [1, 1, 3], [6, 8, 3], [11, 10, 1], [5, 9, 4]])
    test(`${isa} augmentWarp: the tier's warp is the reference bit for bit (shear, zoom, flip, edge clamp), ${H}x${W}x${C}`, () => {
      const r = rng(99 + H + W + C);
      const img = Uint8Array.from({ length: H * W * C }, () => Math.floor(r() * 256));
      // a zoom of 0.5 / 2 reaches past both edges, so the clamps and the first and last pixels are sampled
      for (const [shear, zx, zy, flip] of [[0, 1, 1, false], [0.2, 0.8, 1.2, true], [-0.2, 1.2, 0.8, false], [0.05, 1.19, 1.01, true], [0.3, 2, 0.5, true], [-0.3, 0.5, 2, false]]) {
        const fast = new Float32Array(H * W * C).fill(NaN);
        const ref = new Float32Array(H * W * C);
        k.augmentWarp(fast, img, { H, W, C }, shear, zx, zy, flip, 1 / 255, isa);
        k.augmentWarp(ref, img, { H, W, C }, shear, zx, zy, flip, 1 / 255, 'scalar');
        assert.deepEqual(fast, ref, `shear ${shear} zoom ${zx},${zy} flip ${flip}`);
      }
    });
}

test('fused kernels check their arguments like the others', () => {
  const a = new Float32Array(16);
  assert.throws(() => k.reluMaxpool2x2Backward(a, a, new Float32Array(3), { N: 1, H: 2, W: 2, C: 4 }), /in/);
  assert.throws(() => k.reluMaxpoolConv3x3BackwardWeight(a, a, a, new Uint8Array(16), a, { N: 1, H: 2, W: 4, Cin: 1, Cout: 1 }), RangeError);
  // the first block at N=1, 6x6x1 -> 4 channels: out and code [1, 2, 2, 4]
  const [pooled, img, w36, b4] = [new Float32Array(16), new Float32Array(36), new Float32Array(36), new Float32Array(4)];
  assert.throws(() => k.reluMaxpoolConv3x3BackwardWeight(w36, b4, pooled, new Float32Array(16), img, { N: 1, H: 6, W: 6, Cin: 1, Cout: 4 }), /code/);
  assert.throws(() => k.conv3x3ReluMaxpoolForward(pooled, new Uint8Array(1), img, w36, b4, { N: 1, H: 6, W: 6, Cin: 1, Cout: 4 }), /code/);
  const [out, x, w, b] = [new Float32Array(4), new Float32Array(16), new Float32Array(9), new Float32Array(1)];
  assert.throws(() => k.conv3x3ReluForward(out, x, w, b, { N: 1, H: 4, W: 4, Cin: 1, Cout: 1 }, 'avx9'), /isa must be/);
  assert.throws(() => k.conv3x3ReluForward(out, x, w, new Float32Array(2), { N: 1, H: 4, W: 4, Cin: 1, Cout: 1 }), /b must have 1 elements/);
});
