// Exact references and rounding bounds for the 'same' Winograd kernels' tests (native-winograd4, native-winograd-bf16):
// S_w, the Winograd of a convolution evaluated in double on absolute values with absolute coefficients over the
// kernel's own tiles, bounds what the kernel's roundings can move an output; the exact results come from the double
// reference convolution on a zero-padded copy.
import { native } from '../dist/src/native.js';
import { flipKernel, sandwich } from './numerics.mjs';
import { rand } from './helpers.mjs';

// |B^T|, |G|, |A^T| of F(2x2, 3x3) and F(4x4, 3x3); m: the output tile's side
export const F2 = { m: 2, BT: [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]], G: [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]], AT: [[1, 1, 1, 0], [0, 1, 1, 1]] };
export const F4 = {
  m: 4,
  BT: [[4, 0, 5, 0, 1, 0], [0, 4, 4, 1, 1, 0], [0, 4, 4, 1, 1, 0], [0, 2, 1, 2, 1, 0], [0, 2, 1, 2, 1, 0], [0, 4, 0, 5, 0, 1]],
  G: [[1 / 4, 0, 0], [1 / 6, 1 / 6, 1 / 6], [1 / 6, 1 / 6, 1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, 1 / 12, 1 / 6], [0, 0, 1]],
  AT: [[1, 1, 1, 1, 1, 0], [0, 1, 1, 2, 2, 0], [0, 1, 1, 4, 4, 0], [0, 1, 1, 8, 8, 1]],
};
const transpose = (M) => M[0].map((_, j) => M.map((row) => row[j]));
const abs64 = (a) => Float64Array.from(a, Math.abs);

/** The (m+2)x(m+2) patch of img [H][W][C] (image n, channel c) at (y0, x0), zeros outside */
function patch(img, n, H, W, C, c, y0, x0, size) {
  return Array.from({ length: size }, (_, i) =>
    Array.from({ length: size }, (_, j) => {
      const [y, x] = [y0 + i, x0 + j];
      return y >= 0 && y < H && x >= 0 && x < W ? img[((n * H + y) * W + x) * C + c] : 0;
    }),
  );
}

/** S_w [N, H, W, Cout] of a 'same' Winograd forward of tile side f.m on absolute values: tiles at (m ty, m tx) */
function absSameForward(f, x, w, b, N, H, W, Cin, Cout) {
  const { m } = f;
  const a = m + 2;
  const v = []; // [ci][co] a x a
  for (let ci = 0; ci < Cin; ci++)
    for (let co = 0; co < Cout; co++) v[ci * Cout + co] = sandwich(f.G, [0, 1, 2].map((ky) => [0, 1, 2].map((kx) => w[((ky * 3 + kx) * Cin + ci) * Cout + co])), f.G);
  const out = new Float64Array(N * H * W * Cout);
  for (let n = 0; n < N; n++)
    for (let ty = 0; ty < Math.ceil(H / m); ty++)
      for (let tx = 0; tx < Math.ceil(W / m); tx++) {
        const acc = Array.from({ length: Cout }, () => Array.from({ length: a }, () => new Float64Array(a)));
        for (let ci = 0; ci < Cin; ci++) {
          const td = sandwich(f.BT, patch(x, n, H, W, Cin, ci, m * ty - 1, m * tx - 1, a), f.BT);
          for (let co = 0; co < Cout; co++) {
            const tv = v[ci * Cout + co];
            for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) acc[co][i][j] += td[i][j] * tv[i][j];
          }
        }
        for (let co = 0; co < Cout; co++) {
          const y = sandwich(f.AT, acc[co], f.AT);
          for (let i = 0; i < m; i++)
            for (let j = 0; j < m; j++)
              if (m * ty + i < H && m * tx + j < W) out[((n * H + m * ty + i) * W + m * tx + j) * Cout + co] = y[i][j] + b[co];
        }
      }
  return out;
}

/** S_w [3, 3, Cin, Cout] of a 'same' Winograd weight gradient of tile side f.m on absolute values, plus |dw0|; and
 * the number of tiles summed */
function absSameWeight(f, x, g, dw0, N, H, W, Cin, Cout) {
  const { m } = f;
  const a = m + 2;
  const A = transpose(f.AT);
  const Gt = transpose(f.G);
  const td = []; // [tile][ci] a x a
  const tg = []; // [tile][co] a x a
  for (let n = 0; n < N; n++)
    for (let ty = 0; ty < Math.ceil(H / m); ty++)
      for (let tx = 0; tx < Math.ceil(W / m); tx++) {
        td.push(Array.from({ length: Cin }, (_, ci) => sandwich(f.BT, patch(x, n, H, W, Cin, ci, m * ty - 1, m * tx - 1, a), f.BT)));
        tg.push(Array.from({ length: Cout }, (_, co) => sandwich(A, patch(g, n, H, W, Cout, co, m * ty, m * tx, m), A)));
      }
  const S = new Float64Array(dw0.length);
  for (let ci = 0; ci < Cin; ci++)
    for (let co = 0; co < Cout; co++) {
      const s = Array.from({ length: a }, () => new Float64Array(a));
      for (let t = 0; t < td.length; t++)
        for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) s[i][j] += td[t][ci][i][j] * tg[t][co][i][j];
      const y = sandwich(Gt, s, Gt);
      for (let t = 0; t < 9; t++) S[(t * Cin + ci) * Cout + co] = y[Math.floor(t / 3)][t % 3] + Math.abs(dw0[(t * Cin + ci) * Cout + co]);
    }
  return { S, tiles: td.length };
}

/** x [N, H, W, C] inside a border of one zero pixel (pad1), and the interior back (crop1) */
function pad1(x, N, H, W, C) {
  const p = new Float64Array(N * (H + 2) * (W + 2) * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++) p.set(x.subarray((n * H + y) * W * C, (n * H + y + 1) * W * C), ((n * (H + 2) + y + 1) * (W + 2) + 1) * C);
  return p;
}
function crop1(x, N, H, W, C) {
  const p = new Float64Array(N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < H; y++) {
      const at = ((n * (H + 2) + y + 1) * (W + 2) + 1) * C;
      p.set(x.subarray(at, at + W * C), (n * H + y) * W * C);
    }
  return p;
}

// The exact results of a 'same' convolution (the double reference on a zero-padded copy) with S_w of f's Winograd
// of them, for sh = {N, H, W, Cin, Cout} (H x W the input's and the output's size)
const paddedShape = ({ N, H, W, Cin, Cout }) => ({ N, H: H + 2, W: W + 2, Cin, Cout });

/** the forward of x [N, H, W, Cin] by w, b */
export function exactSameForward(f, x, w, b, sh) {
  const { N, H, W, Cin, Cout } = sh;
  const exact = new Float64Array(N * H * W * Cout);
  native.kernels.conv3x3Forward(exact, pad1(Float64Array.from(x), N, H, W, Cin), Float64Array.from(w), Float64Array.from(b), paddedShape(sh));
  return { exact, Sw: absSameForward(f, abs64(x), abs64(w), abs64(b), N, H, W, Cin, Cout) };
}

/** the input gradient from the output gradient g [N, H, W, Cout]: S_w of the 'same' forward of g with the flipped
 * kernel, which the kernels run */
export function exactSameInput(f, g, w, sh) {
  const { N, H, W, Cin, Cout } = sh;
  const exactPadded = new Float64Array(N * (H + 2) * (W + 2) * Cin);
  native.kernels.conv3x3BackwardInput(exactPadded, Float64Array.from(g), Float64Array.from(w), paddedShape(sh));
  return { exact: crop1(exactPadded, N, H, W, Cin), Sw: absSameForward(f, abs64(g), flipKernel(abs64(w), Cin, Cout), new Float64Array(Cin), N, H, W, Cout, Cin) };
}

/** random x, w, b for sh drawn from r in that order (w in [-0.5, 0.5)), with exactSameForward's results */
export function randomSameForward(f, sh, r) {
  const { N, H, W, Cin, Cout } = sh;
  const x = rand(N * H * W * Cin, r);
  const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
  const b = rand(Cout, r);
  return { x, w, b, ...exactSameForward(f, x, w, b, sh) };
}

/** random g, w for sh drawn from r in that order (w in [-0.5, 0.5)), with exactSameInput's results */
export function randomSameInput(f, sh, r) {
  const { N, H, W, Cin, Cout } = sh;
  const g = rand(N * H * W * Cout, r);
  const w = rand(9 * Cin * Cout, r, -0.5, 0.5);
  return { g, w, ...exactSameInput(f, g, w, sh) };
}

/** dw0 + the weight gradient and db0 + the bias gradient of x and g, with S_w and the tiles summed for dw and the
 * sum of absolute values for db */
export function exactSameWeight(f, x, g, dw0, db0, sh) {
  const { N, H, W, Cin, Cout } = sh;
  const [exactW, exactB] = [Float64Array.from(dw0), Float64Array.from(db0)];
  native.kernels.conv3x3BackwardWeight(exactW, exactB, Float64Array.from(g), pad1(Float64Array.from(x), N, H, W, Cin), paddedShape(sh));
  const { S, tiles } = absSameWeight(f, abs64(x), abs64(g), dw0, N, H, W, Cin, Cout);
  const Sb = Float64Array.from(db0, Math.abs);
  for (let i = 0; i < g.length; i++) Sb[i % Cout] += Math.abs(g[i]);
  return { exactW, exactB, S, tiles, Sb };
}
