// Shared by the kernel tests that compare fast float32 results with exact (double) ones: the summation bound,
// bf16 rounding, a few real training images, and the relative difference of two gradients per tensor.
import assert from 'node:assert/strict';
import path from 'node:path';
import { listSplit } from '../dist/src/data/discover.js';
import { loadSplit } from '../dist/src/data/decode.js';
import { CELEBA } from './helpers.mjs';

const U = 2 ** -24;
/** Higham's gamma_n = n u / (1 - n u): a float32 sum or product chain of n roundings is within gamma_n * S */
export const gamma = (n) => (n * U) / (1 - n * U);

/** |got - exact| <= gamma_K * S + 1e-12 * S element by element (the second term: the double reference's rounding) */
export function assertWithinGamma(name, got, exact, S, K) {
  for (let i = 0; i < got.length; i++)
    assert.ok(Math.abs(got[i] - exact[i]) <= gamma(K) * S[i] + 1e-12 * S[i], `${name}[${i}]: ${got[i]} vs exact ${exact[i]} (S ${S[i]}, K ${K})`);
}

const u32 = new Uint32Array(1);
const f32 = new Float32Array(u32.buffer);
/** float32 -> bf16 bits, round to nearest even (finite inputs) */
export function bf16Bits(x) {
  f32[0] = x;
  const u = u32[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
/** float32 -> bf16 -> float, round to nearest even */
export function bf16(x) {
  u32[0] = bf16Bits(x) << 16;
  return f32[0];
}
export const rounded = (a) => Float64Array.from(a, bf16);
export const absRounded = (a) => Float64Array.from(a, (v) => Math.abs(bf16(v)));

/** n real training images, the first n/2 and the last n/2 of the list (both classes): gradients of random-noise
 * images cancel too much to compare */
export async function trainImages(n) {
  const list = await listSplit(path.join(CELEBA, 'train'));
  const pick = [...Array(n / 2).keys(), ...Array.from({ length: n / 2 }, (_, i) => list.files.length - n / 2 + i)];
  return loadSplit({ ...list, files: pick.map((i) => list.files[i]), labels: Uint8Array.from(pick, (i) => list.labels[i]) });
}

/** L X R^T for small matrices given row by row (a Winograd transform: L = B^T, G or A^T) */
export const sandwich = (L, X, R) => L.map((l) => R.map((r) => l.reduce((s, la, a) => s + la * r.reduce((t, rb, b) => t + rb * X[a][b], 0), 0)));

/** wf [3,3,Cout,Cin] = w [2-ky, 2-kx, Cin, Cout]: the kernel of a convolution's input gradient, in double */
export function flipKernel(w, Cin, Cout) {
  const f = new Float64Array(w.length);
  for (let t = 0; t < 9; t++)
    for (let ci = 0; ci < Cin; ci++)
      for (let co = 0; co < Cout; co++) f[(t * Cout + co) * Cin + ci] = w[((8 - t) * Cin + ci) * Cout + co];
  return f;
}

/** per parameter tensor of `layout`: ||a - b|| / ||b|| of two gradient vectors */
export function relativeDifferences(a, b, layout) {
  return layout.map((p) => {
    let num = 0;
    let den = 0;
    for (let i = p.offset; i < p.offset + p.size; i++) {
      num += (a[i] - b[i]) ** 2;
      den += b[i] ** 2;
    }
    return { name: p.name, rel: Math.sqrt(num / den) };
  });
}
