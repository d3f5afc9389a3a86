#!/usr/bin/env node
// How much rounding Winograd's transformed operands to bf16 costs, against rounding the convolution's own operands
// (the direct bf16 kernels): the relative rms error of one output tile, summed over 64 input channels, in double,
// for F(2x2, 3x3) and F(4x4, 3x3) on random data. Why the plan gives bf16 products to F(2x2) only
// (native/model/plan.cpp, winograd_bf16). Deterministic (a fixed-seed generator).
//
//   node scripts/check/winograd-bf16-error.mjs [--tiles 200] [--channels 64]
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { tiles: { type: 'string', default: '200' }, channels: { type: 'string', default: '64' } } });
const [tiles, C] = [Number(args.tiles), Number(args.channels)];

const u32 = new Uint32Array(1);
const f32 = new Float32Array(u32.buffer);
/** x rounded to float32, then to bf16 (nearest even) */
function bf16(x) {
  f32[0] = x;
  const u = u32[0];
  u32[0] = (((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff) << 16;
  return f32[0];
}

// B^T, G, A^T with their signs (Lavin and Gray, 2016)
const F2 = { m: 2, BT: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], AT: [[1, 1, 1, 0], [0, 1, -1, -1]] };
const F4 = {
  m: 4,
  BT: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
  G: [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
};
const mul = (A, B) => A.map((row) => B[0].map((_, j) => row.reduce((s, a, k) => s + a * B[k][j], 0)));
const transpose = (M) => M[0].map((_, j) => M.map((row) => row[j]));
const sandwich = (L, X) => mul(mul(L, X), transpose(L));
let seed = 7;
const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
const matrix = (n) => Array.from({ length: n }, () => Array.from({ length: n }, random));

console.log(`relative rms error of an output tile over ${C} channels, ${tiles} tiles, in double:`);
for (const [name, f] of [['F(2x2, 3x3)', F2], ['F(4x4, 3x3)', F4]]) {
  const a = f.m + 2;
  let [exact2, winograd2, direct2] = [0, 0, 0];
  for (let t = 0; t < tiles; t++) {
    const y = Array.from({ length: f.m }, () => new Float64Array(f.m)); // exact
    const yd = Array.from({ length: f.m }, () => new Float64Array(f.m)); // operands in bf16 (direct kernels)
    const M = Array.from({ length: a }, () => new Float64Array(a)); // transformed operands in bf16
    for (let c = 0; c < C; c++) {
      const [d, g] = [matrix(a), matrix(3)];
      for (let i = 0; i < f.m; i++)
        for (let j = 0; j < f.m; j++)
          for (let p = 0; p < 3; p++)
            for (let q = 0; q < 3; q++) {
              y[i][j] += d[i + p][j + q] * g[p][q];
              yd[i][j] += bf16(d[i + p][j + q]) * bf16(g[p][q]);
            }
      const [U, V] = [sandwich(f.BT, d), sandwich(f.G, g)];
      for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) M[i][j] += bf16(U[i][j]) * bf16(V[i][j]);
    }
    const Y = sandwich(f.AT, M);
    for (let i = 0; i < f.m; i++)
      for (let j = 0; j < f.m; j++) {
        exact2 += y[i][j] ** 2;
        winograd2 += (Y[i][j] - y[i][j]) ** 2;
        direct2 += (yd[i][j] - y[i][j]) ** 2;
      }
  }
  const rel = (e) => Math.sqrt(e / exact2).toExponential(2);
  console.log(`  ${name}: Winograd with bf16 products ${rel(winograd2)}, direct with bf16 operands ${rel(direct2)}`);
}
