// The fast dense kernels (native/kernels/fp32/dense_simd.inc, AVX2 and AVX-512) against the reference: every
// output is the reference's sum in its order with its roundings (a multiply, then an add), so the results are
// equal bit for bit, at every tier, for one image per call or several, with the vectors' tails and the register
// tiles' ragged ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../dist/src/native.js';
import { rng } from './helpers.mjs';

const k = native.kernels;
const isas = ['avx2', 'avx512'].filter((isa) => ['avx2', 'avx512'].indexOf(isa) <= ['avx2', 'avx512'].indexOf(native.buildInfo().cpuIsa));
const rand = (n, r) => Float32Array.from({ length: n }, () => 2 * r() - 1);

// N: 1, a register tile of images (6 with AVX-512, 4 with AVX2) and ragged ends; I, O: whole vectors, tails of
// vectors (O not a multiple of 16 takes AVX2, of 8 the reference) and the 4-vector blocks
const SHAPES = [
  [1, 16, 16],
  [7, 40, 64],
  [13, 1600, 128],
  [5, 24, 8],
  [3, 33, 10],
  [9, 64, 80],
];

test('dense forward: the fast tiers give the reference bit for bit', { skip: isas.length ? false : 'no AVX2 here' }, () => {
  for (const [N, I, O] of SHAPES) {
    const r = rng(N * 1000 + I + O);
    const x = rand(N * I, r);
    const w = rand(I * O, r);
    const b = rand(O, r);
    const ref = new Float32Array(N * O);
    k.denseForward(ref, x, w, b, { N, I, O });
    for (const isa of isas) {
      const out = new Float32Array(N * O).fill(NaN);
      k.denseForward(out, x, w, b, { N, I, O }, isa);
      assert.deepEqual(out, ref, `${isa} N=${N} I=${I} O=${O}`);
    }
  }
});

test('dense backward: weight, bias and input gradients of the fast tiers give the reference bit for bit (accumulated)', { skip: isas.length ? false : 'no AVX2 here' }, () => {
  for (const [N, I, O] of SHAPES) {
    const r = rng(N * 7 + I * 3 + O);
    const x = rand(N * I, r);
    const w = rand(I * O, r);
    const g = rand(N * O, r);
    const dw0 = rand(I * O, r); // accumulated onto
    const db0 = rand(O, r);
    const ref = { din: new Float32Array(N * I), dw: Float32Array.from(dw0), db: Float32Array.from(db0) };
    k.denseBackward(ref.din, ref.dw, ref.db, g, x, w, { N, I, O });
    for (const isa of isas) {
      const got = { din: new Float32Array(N * I).fill(NaN), dw: Float32Array.from(dw0), db: Float32Array.from(db0) };
      k.denseBackward(got.din, got.dw, got.db, g, x, w, { N, I, O }, isa);
      assert.deepEqual(got, ref, `${isa} N=${N} I=${I} O=${O}`);
      const noInput = { dw: Float32Array.from(dw0), db: Float32Array.from(db0) };
      k.denseBackward(null, noInput.dw, noInput.db, g, x, w, { N, I, O }, isa);
      assert.deepEqual(noInput, { dw: ref.dw, db: ref.db });
    }
  }
});
