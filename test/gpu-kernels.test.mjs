// Every CUDA launcher (native/cuda/kernels_cuda.h) against the CPU reference (the `kernels` binding) on random
// inputs at several shapes, twice: on the GPU (cudaKernels; skipped, with the reason, where no CUDA device is
// usable: built without CUDA, no driver, no device) and on the CPU emulator (cudaKernelsEmulated: the same
// kernel source compiled for the CPU, run everywhere; it checks indexing, tiling, split reductions and rounding,
// not real-GPU timing or races).
//
// Tolerances, per tensor:
//   conv forward / input gradient / weight gradient, dense forward / backward: each output is a sum of K
//     products; any float32 evaluation order is within gamma_K * S of the exact sum (S = the same sum over
//     absolute values, gamma_K = K u / (1 - K u), u = 2^-24), so GPU and CPU differ by at most 2 gamma_K S
//     (see native-kernels.test.mjs). K = 9 Cin + 1, 9 Cout, N Ho Wo + 1 (conv); I + 1, O, N + 1 (dense).
//   ReLU, max-pool (first maximum on ties), dropout masks, RMSprop, the augmentation warp: exactly equal (the
//     kernels repeat the reference's operations with explicitly rounded intrinsics).
//   sigmoid BCE: 4 ulp-scale relative (1e-6 * (1 + |ref|)) per value, since expf/log1pf may differ in the
//     last bit between the GPU's and glibc's float functions; `correct` exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../dist/src/native.js';
import { rand, rng } from './helpers.mjs';
import { gpuSkip } from './gpu-device.mjs';

const skip = gpuSkip('gpu-kernels');

const k = native.kernels;
const BACKENDS = [
  ['GPU', native.cudaKernels, skip],
  ['emulated', native.cudaKernelsEmulated, false],
];
const U = 2 ** -24;
const gamma = (K) => (K * U) / (1 - K * U);
const abs64 = (a) => Float64Array.from(a, Math.abs);

function within(name, gpu, ref, S, K) {
  const g = 2 * gamma(K);
  for (let i = 0; i < ref.length; i++) {
    assert.ok(Number.isFinite(gpu[i]), `${name}[${i}] is not finite`);
    assert.ok(Math.abs(gpu[i] - ref[i]) <= g * S[i] + 1e-30, `${name}[${i}]: gpu ${gpu[i]} vs cpu ${ref[i]} (bound ${g * S[i]}, K ${K})`);
  }
}

function exact(name, gpu, ref) {
  assert.equal(gpu.length, ref.length);
  for (let i = 0; i < ref.length; i++) if (!Object.is(gpu[i], ref[i])) assert.fail(`${name}[${i}]: gpu ${gpu[i]} vs cpu ${ref[i]}`);
}

for (const [backend, ck, backendSkip] of BACKENDS) {
  // [N, H, W, Cin, Cout]; the last has N*Ho*Wo = 1296 so the weight gradient is split into several slices
  const CONV_SHAPES = [
    [1, 3, 3, 3, 16],
    [2, 9, 13, 3, 32],
    [2, 8, 11, 32, 32],
    [1, 7, 9, 32, 64],
    [3, 6, 6, 64, 64],
    [4, 20, 20, 8, 32],
  ];

  test(`${backend}: ` + 'conv3x3 forward (with and without the fused ReLU), input and weight gradients match the CPU', { skip: backendSkip }, () => {
    const r = rng(11);
    for (const [N, H, W, Ci, Co] of CONV_SHAPES) {
      const tag = `[${N},${H},${W},${Ci},${Co}]`;
      const Ho = H - 2;
      const Wo = W - 2;
      const x = rand(N * H * W * Ci, r);
      const w = rand(9 * Ci * Co, r);
      const b = rand(Co, r);
      const dout = rand(N * Ho * Wo * Co, r);

      const ref = new Float32Array(N * Ho * Wo * Co);
      k.conv3x3Forward(ref, x, w, b, { N, H, W, Cin: Ci, Cout: Co });
      const S = new Float64Array(ref.length);
      k.conv3x3Forward(S, abs64(x), abs64(w), abs64(b), { N, H, W, Cin: Ci, Cout: Co });
      const gpu = new Float32Array(ref.length).fill(NaN);
      ck.conv3x3Forward(gpu, x, w, b, { N, H, W, Cin: Ci, Cout: Co });
      within(`forward ${tag}`, gpu, ref, S, 9 * Ci + 1);
      const fused = new Float32Array(ref.length).fill(NaN);
      ck.conv3x3Forward(fused, x, w, b, { N, H, W, Cin: Ci, Cout: Co }, true);
      for (let i = 0; i < ref.length; i++) assert.equal(fused[i], gpu[i] > 0 ? gpu[i] : 0, `fused relu ${tag}[${i}]`);

      const din = new Float32Array(N * H * W * Ci);
      k.conv3x3BackwardInput(din, dout, w, { N, H, W, Cin: Ci, Cout: Co });
      const Sd = new Float64Array(din.length);
      k.conv3x3BackwardInput(Sd, abs64(dout), abs64(w), { N, H, W, Cin: Ci, Cout: Co });
      const gdin = new Float32Array(din.length).fill(NaN);
      ck.conv3x3BackwardInput(gdin, dout, w, { N, H, W, Cin: Ci, Cout: Co });
      within(`input gradient ${tag}`, gdin, din, Sd, 9 * Co);

      // weight gradients accumulate: start from the same nonzero values
      const dw0 = rand(9 * Ci * Co, r);
      const db0 = rand(Co, r);
      const dw = Float32Array.from(dw0);
      const db = Float32Array.from(db0);
      k.conv3x3BackwardWeight(dw, db, dout, x, { N, H, W, Cin: Ci, Cout: Co });
      const Sw = abs64(dw0);
      const Sb = abs64(db0);
      k.conv3x3BackwardWeight(Sw, Sb, abs64(dout), abs64(x), { N, H, W, Cin: Ci, Cout: Co });
      const gdw = Float32Array.from(dw0);
      const gdb = Float32Array.from(db0);
      ck.conv3x3BackwardWeight(gdw, gdb, dout, x, { N, H, W, Cin: Ci, Cout: Co });
      within(`weight gradient ${tag}`, gdw, dw, Sw, N * Ho * Wo + 1);
      within(`bias gradient ${tag}`, gdb, db, Sb, N * Ho * Wo + 1);
    }
  });

  test(`${backend}: ` + 'dense forward and backward match the CPU (with and without din)', { skip: backendSkip }, () => {
    const r = rng(12);
    for (const [N, I, O] of [
      [1, 5, 1],
      [32, 256, 64],
      [7, 64, 1],
      [300, 33, 70],
      [600, 20, 3],
    ]) {
      const tag = `[${N},${I},${O}]`;
      const x = rand(N * I, r);
      const w = rand(I * O, r);
      const b = rand(O, r);
      const g = rand(N * O, r);
      const ref = new Float32Array(N * O);
      k.denseForward(ref, x, w, b, { N, I, O });
      const S = new Float64Array(N * O);
      k.denseForward(S, abs64(x), abs64(w), abs64(b), { N, I, O });
      const gpu = new Float32Array(N * O).fill(NaN);
      ck.denseForward(gpu, x, w, b, { N, I, O });
      within(`dense forward ${tag}`, gpu, ref, S, I + 1);

      const dw0 = rand(I * O, r);
      const db0 = rand(O, r);
      const din = new Float32Array(N * I);
      const dw = Float32Array.from(dw0);
      const db = Float32Array.from(db0);
      k.denseBackward(din, dw, db, g, x, w, { N, I, O });
      const Sdin = new Float64Array(N * I);
      const Sdw = abs64(dw0);
      const Sdb = abs64(db0);
      k.denseBackward(Sdin, Sdw, Sdb, abs64(g), abs64(x), abs64(w), { N, I, O });
      const gdin = new Float32Array(N * I).fill(NaN);
      const gdw = Float32Array.from(dw0);
      const gdb = Float32Array.from(db0);
      ck.denseBackward(gdin, gdw, gdb, g, x, w, { N, I, O });
      within(`dense din ${tag}`, gdin, din, Sdin, O);
      within(`dense dw ${tag}`, gdw, dw, Sdw, N + 1);
      within(`dense db ${tag}`, gdb, db, Sdb, N + 1);
      const gdw2 = Float32Array.from(dw0);
      const gdb2 = Float32Array.from(db0);
      ck.denseBackward(null, gdw2, gdb2, g, x, w, { N, I, O });
      exact(`dense dw without din ${tag}`, gdw2, gdw);
    }
  });

  test(`${backend}: ` + 'ReLU and max-pool forward/backward equal the CPU exactly, ties included', { skip: backendSkip }, () => {
    const r = rng(13);
    for (const [N, H, W, C] of [
      [1, 2, 2, 1],
      [2, 7, 9, 3],
      [3, 148, 148, 32],
      [2, 5, 4, 64],
    ]) {
      // values from a small set so that windows hold ties; some negatives for the ReLU
      const x = Float32Array.from({ length: N * H * W * C }, () => Math.floor(r() * 5) - 2);
      const ref = new Float32Array(N * (H >> 1) * (W >> 1) * C);
      k.maxpool2x2Forward(ref, x, { N, H, W, C });
      const gpu = new Float32Array(ref.length).fill(NaN);
      ck.maxpool2x2Forward(gpu, x, { N, H, W, C });
      exact(`maxpool forward [${N},${H},${W},${C}]`, gpu, ref);
      const dout = rand(ref.length, r);
      const din = new Float32Array(x.length);
      k.maxpool2x2Backward(din, dout, x, { N, H, W, C });
      const gdin = new Float32Array(x.length).fill(NaN);
      ck.maxpool2x2Backward(gdin, dout, x, { N, H, W, C });
      exact(`maxpool backward [${N},${H},${W},${C}]`, gdin, din);

      const relu = new Float32Array(x.length);
      k.reluForward(relu, x);
      const grelu = new Float32Array(x.length).fill(NaN);
      ck.reluForward(grelu, x);
      exact('relu forward', grelu, relu);
      const g = rand(x.length, r);
      const rb = new Float32Array(x.length);
      k.reluBackward(rb, g, relu);
      const grb = new Float32Array(x.length).fill(NaN);
      ck.reluBackward(grb, g, relu);
      exact('relu backward', grb, rb);
    }
  });

  test(`${backend}: ` + 'dropout masks are the CPU masks bit for bit; the training layer applies them per image', { skip: backendSkip }, () => {
    for (const [n, rate, seed, key] of [
      [1, 0.5, 0, 0],
      [64, 0.5, 7, 12345],
      [10007, 0.3, 2 ** 31 - 1, 99],
      [500, 0, 1, 1],
    ]) {
      const ref = new Float32Array(n);
      k.dropoutMask(ref, rate, seed, key);
      const gpu = new Float32Array(n).fill(NaN);
      ck.dropoutMask(gpu, rate, seed, key);
      exact(`dropout mask n=${n} rate=${rate}`, gpu, ref);
    }
    const r = rng(14);
    const N = 32;
    const n = 64;
    const x = rand(N * n, r);
    const out = new Float32Array(N * n).fill(NaN);
    const mask = new Float32Array(N * n).fill(NaN);
    ck.dropoutForward(out, mask, x, { N }, 0.5, 5, 3, 19);
    let dropped = 0;
    for (let i = 0; i < N * n; i++) {
      assert.ok(mask[i] === 0 || mask[i] === 2, `mask[${i}] = ${mask[i]}`);
      assert.equal(out[i], x[i] * mask[i]);
      dropped += mask[i] === 0;
    }
    assert.ok(dropped > 0.4 * N * n && dropped < 0.6 * N * n, `dropped ${dropped} of ${N * n}`);
    // images get different masks; the same (seed, step, layer) gives the same masks again
    assert.notDeepEqual(mask.subarray(0, n), mask.subarray(n, 2 * n));
    const again = new Float32Array(N * n);
    ck.dropoutForward(new Float32Array(N * n), again, x, { N }, 0.5, 5, 3, 19);
    exact('dropout forward repeat', again, mask);
    const g = rand(N * n, r);
    const gdin = new Float32Array(N * n).fill(NaN);
    ck.dropoutBackward(gdin, g, mask);
    for (let i = 0; i < N * n; i++) assert.equal(gdin[i], g[i] * mask[i]);
  });

  test(`${backend}: ` + 'sigmoid BCE (Keras clip) and RMSprop match the CPU', { skip: backendSkip }, () => {
    const r = rng(15);
    for (const N of [1, 33, 300]) {
      // logits across the clip (|z| > 16.1 is clipped) and labels 0/1
      const z = Float32Array.from({ length: N }, (_, i) => (i % 7 === 0 ? (r() < 0.5 ? -40 : 40) : (r() - 0.5) * 30));
      const y = Float32Array.from({ length: N }, () => (r() < 0.5 ? 0 : 1));
      const d = new Float32Array(N);
      const loss = k.sigmoidBce(d, z, y, 1 / N);
      const gd = new Float32Array(N).fill(NaN);
      const g = ck.sigmoidBce(gd, z, y, 1 / N);
      assert.ok(Math.abs(g.loss - loss) <= 1e-6 * (N + Math.abs(loss)), `loss ${g.loss} vs ${loss}`);
      for (let i = 0; i < N; i++) assert.ok(Math.abs(gd[i] - d[i]) <= 1e-6 * (1 + Math.abs(d[i])), `dlogit[${i}] ${gd[i]} vs ${d[i]}`);
      let correct = 0;
      for (let i = 0; i < N; i++) correct += 1 / (1 + Math.exp(-z[i])) > 0.5 === (y[i] !== 0);
      assert.equal(g.correct, correct);
    }
    for (const n of [1, 91329]) {
      const p = rand(n, r);
      const a = rand(n, r, 0, 0.01);
      const grad = rand(n, r, -0.01, 0.01);
      const [p1, a1, p2, a2] = [Float32Array.from(p), Float32Array.from(a), Float32Array.from(p), Float32Array.from(a)];
      k.rmspropUpdate(p1, a1, grad, 0.001, 0.9, 1e-7);
      ck.rmspropUpdate(p2, a2, grad, 0.001, 0.9, 1e-7);
      exact('rmsprop accum', a2, a1);
      exact('rmsprop param', p2, p1);
    }
  });

  test(`${backend}: ` + 'the augmentation warp (and plain scaling) equals the CPU bit for bit', { skip: backendSkip }, () => {
    const r = rng(16);
    for (const [H, W, C] of [
      [150, 150, 3],
      [7, 11, 2],
    ]) {
      const img = Uint8Array.from({ length: H * W * C }, () => Math.floor(r() * 256));
      for (const [shear, zx, zy, flip] of [
        [0, 1, 1, false],
        [0.0034, 0.83, 1.17, true],
        [-0.0031, 1.19, 0.81, false],
        [0.5, 1.4, 0.6, true],
      ]) {
        const ref = new Float32Array(H * W * C);
        k.augmentWarp(ref, img, { H, W, C }, shear, zx, zy, flip, 1 / 255);
        const gpu = new Float32Array(H * W * C).fill(NaN);
        ck.augmentWarp(gpu, img, { H, W, C }, shear, zx, zy, flip, 1 / 255);
        exact(`warp ${H}x${W}x${C} (${shear}, ${zx}, ${zy}, ${flip})`, gpu, ref);
      }
      const plain = new Float32Array(H * W * C).fill(NaN);
      ck.augmentWarp(plain, img, { H, W, C }, null, 1, 1, false, 1 / 255);
      for (let i = 0; i < img.length; i++) assert.equal(plain[i], Math.fround(Math.fround(img[i]) * Math.fround(1 / 255)));
    }
  });

  test(`${backend}: ` + 'CUDA kernel bindings check their arguments like the CPU ones', { skip: backendSkip }, () => {
    assert.throws(() => ck.reluForward(new Float32Array(2), new Float32Array(3)), /out must have 3 elements/);
    assert.throws(() => ck.conv3x3Forward(new Float32Array(1), new Float32Array(9), new Float32Array(9), new Float32Array(1), { N: 1, H: 3, W: 3, Cin: 1, Cout: 2 }), /out must have 2 elements/);
    assert.throws(() => ck.conv3x3Forward(new Float32Array(1), new Float32Array(9), new Float32Array(9), new Float32Array(1), { N: 1, H: 2, W: 3, Cin: 1, Cout: 2 }), (e) => e instanceof RangeError && /^shape\.H must be an integer in \[3, 65536\], got 2$/.test(e.message));
    assert.throws(() => ck.dropoutMask(new Float32Array(2), 1, 0, 0), /rate must be in \[0, 1\)/);
  });
}
