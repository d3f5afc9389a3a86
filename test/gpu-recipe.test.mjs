// The training recipe beyond the seed's on the CUDA backend (native/cuda: batchnorm_cuda.cu, optimizers_cuda.cu and
// the losses, normalisation and crop augmentation of kernels_cuda.cu) against the CPU reference (the `kernels`
// binding's ref:: functions, or their float32 operations repeated here with Math.fround), twice: on the GPU
// (skipped, with the reason, where no CUDA device is usable) and on the CPU emulator (cudaKernelsEmulated and backend
// 'cuda-emulated': the same source, run everywhere). Every random choice is seeded.
//
// Tolerances:
//   batch norm's statistics (double sums over the pixels in another order than the CPU's): 1e-12 relative; its
//     normalisation from them: one float rounding step (2^-22 of the terms' size); inference from the running
//     statistics (computed here in double, as the CPU does): exactly equal. Backward: dgamma, dbeta (the double
//     sums rounded to float) 2^-22 relative; din within 2^-22 relative plus 1e-12 of its terms' size.
//   SGD, AdamW, RMSprop with weight decay, the moving average, the crop augmentation and the normalisation: exactly
//     equal (the kernels repeat the reference's float operations in its order). Clipping: the norm is summed in
//     another order, so the scale may differ in its last bit: 2^-22 relative.
//   softmax / sigmoid losses with label smoothing: 1e-6 relative per value (the GPU's expf/logf may differ from
//     glibc's in the last bit), right answers exactly.
//   Networks: gradients vs the CPU float64 trainer within 1e-4 per tensor (float32 sums in another order) plus
//     1e-7 per element (a bias before a batch norm has a gradient that is only rounding noise); training steps vs
//     the CPU float32 trainer as in gpu-train.test.mjs (the losses; after one step, at most 0.1% of a tensor's
//     elements off by more than lr/10, since AdamW's and RMSprop's first steps move each weight by about lr
//     whatever its gradient's size); the optimizers' updates from the GPU's own gradient, and checkpoints: exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { rand, rng } from './helpers.mjs';
import { gpuSkip } from './gpu-device.mjs';

const skip = gpuSkip('gpu-recipe');

const k = native.kernels;
const f = Math.fround;
const ULP2 = 2 ** -22;

/** A residual net with batch norms (one with a fused ReLU, one without), a 3-way softmax head. */
const BN_RESIDUAL = {
  name: 'bn-residual',
  input: [9, 8, 3],
  head: 'softmax',
  layers: [
    { type: 'conv3x3', filters: 4, name: 'stem' },
    { type: 'batchnorm', name: 'stem.bn', momentum: 0.9 },
    { type: 'relu', name: 'stem.relu' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 4, name: 'a' },
    { type: 'batchnorm', name: 'a.bn' },
    { type: 'add', inputs: ['a.bn', 'stem.relu'], name: 'sum' },
    { type: 'relu', name: 'sum.relu' },
    { type: 'globalavgpool', name: 'gap' },
    { type: 'dense', units: 3, name: 'head' },
  ],
};
const MODERN = { optimizer: 'adamw', labelSmoothing: 0.1, ema: 0.9, normalize: { mean: [0.5, 0.4, 0.3], std: [0.25, 0.3, 0.2] }, augment: 'crop' };
const ADAMW = { lr: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-7, weightDecay: 0.05, clipNorm: 1 };

function batch(spec, B, seed, classes = 3, crop = true) {
  const r = rng(seed);
  const [H, W, C] = spec.input;
  const images = Uint8Array.from({ length: B * H * W * C }, () => Math.floor(r() * 256));
  const labels = Uint8Array.from({ length: B }, (_, i) => i % classes);
  // crop: shift rows and columns by up to 2, flip, a small rotation on every other image, an erased rectangle
  const augment = new Float64Array(B * 8);
  for (let b = 0; b < B; b++)
    augment.set([Math.floor(r() * 5) - 2, Math.floor(r() * 5) - 2, r() < 0.5 ? 1 : 0, b % 2 ? (r() - 0.5) * 0.3 : 0, Math.floor(r() * H), Math.floor(r() * W), b % 3 ? 2 : 0, 3], b * 8);
  return { images, labels, augment: crop ? augment : null };
}

function exact(name, got, ref) {
  assert.equal(got.length, ref.length, `${name}: length`);
  for (let i = 0; i < ref.length; i++) if (!Object.is(got[i], ref[i])) assert.fail(`${name}[${i}]: gpu ${got[i]} vs cpu ${ref[i]}`);
}

function near(name, got, ref, bound) {
  assert.equal(got.length, ref.length, `${name}: length`);
  for (let i = 0; i < ref.length; i++) {
    const b = typeof bound === 'function' ? bound(i) : bound;
    assert.ok(Number.isFinite(got[i]) && Math.abs(got[i] - ref[i]) <= b, `${name}[${i}]: gpu ${got[i]} vs cpu ${ref[i]} (bound ${b})`);
  }
}

/** The batch's statistics as the CPU network forms them from ref::batchnorm_sums (double). */
function statistics(x, P, C, eps) {
  const sum = new Float64Array(C);
  const sumsq = new Float64Array(C);
  k.batchnormSums(sum, sumsq, x, { P, C });
  const mean = new Float64Array(C);
  const invstd = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] = sum[c] / P;
    variance[c] = Math.max(sumsq[c] / P - mean[c] * mean[c], 0);
    invstd[c] = 1 / Math.sqrt(variance[c] + eps);
  }
  return { mean, invstd, variance };
}

function closePerTensor(what, layout, got, ref, tol) {
  for (const p of layout) {
    let num = 0;
    let den = 0;
    for (let i = p.offset; i < p.offset + p.size; i++) {
      assert.ok(Number.isFinite(got[i]), `${what} ${p.name}[${i - p.offset}] is not finite`);
      num += (got[i] - ref[i]) ** 2;
      den += ref[i] ** 2;
    }
    const bound = tol * Math.sqrt(den) + 1e-7 * Math.sqrt(p.size);
    assert.ok(Math.sqrt(num) <= bound, `${what} ${p.name}: difference ${Math.sqrt(num)} > ${bound} (norm ${Math.sqrt(den)})`);
  }
}

/** decay marks [P]: 1 on the kernels, as the networks apply weight decay */
function decayMask(layout, P) {
  const m = new Uint8Array(P);
  for (const p of layout) if (p.name.endsWith('.kernel')) m.fill(1, p.offset, p.offset + p.size);
  return m;
}

const BACKENDS = [
  ['GPU', native.cudaKernels, 'cuda', skip],
  ['emulated', native.cudaKernelsEmulated, 'cuda-emulated', false],
];

for (const [backend, ck, kind, backendSkip] of BACKENDS) {
  const opts = { skip: backendSkip };

  test(`${backend}: batch norm's training forward (statistics in double, running statistics, fused ReLU) and inference follow the reference`, opts, () => {
    const r = rng(21);
    // [P, C]: one slice; several slices of pixels (P > 1024) and two blocks of channels (C > 32); one pixel
    for (const [P, C] of [[30, 3], [2500, 5], [300, 40], [1, 2]]) {
      const tag = `[${P},${C}]`;
      const x = rand(P * C, r, -2, 3);
      const gamma = rand(C, r, 0.5, 1.5);
      const beta = rand(C, r, -0.5, 0.5);
      const running0 = Float32Array.from({ length: 2 * C }, (_, i) => (i < C ? r() - 0.5 : 0.5 + r()));
      const [momentum, eps] = [0.9, 1e-3];
      const ref = statistics(x, P, C, eps);
      for (const relu of [false, true]) {
        const out = new Float32Array(P * C).fill(NaN);
        const stats = new Float64Array(2 * C);
        const running = Float32Array.from(running0);
        ck.batchnormTrain(out, stats, running, x, gamma, beta, { P, C }, momentum, eps, true, relu);
        near(`mean ${tag}`, stats.subarray(0, C), ref.mean, (c) => 1e-12 * (1 + Math.abs(ref.mean[c])));
        near(`invstd ${tag}`, stats.subarray(C), ref.invstd, (c) => 1e-12 * ref.invstd[c]);
        const want = new Float32Array(P * C);
        k.batchnormForward(want, x, ref.mean, ref.invstd, gamma, beta, { P, C }, relu);
        near(`forward ${tag} relu ${relu}`, out, want, (i) => ULP2 * (Math.abs(gamma[i % C] * (x[i] - ref.mean[i % C]) * ref.invstd[i % C]) + Math.abs(beta[i % C])) + 1e-30);
        for (let c = 0; c < C; c++) {
          const unbiased = P > 1 ? (ref.variance[c] * P) / (P - 1) : ref.variance[c];
          const m = f(momentum * running0[c] + (1 - momentum) * ref.mean[c]);
          const v = f(momentum * running0[C + c] + (1 - momentum) * unbiased);
          assert.ok(Math.abs(running[c] - m) <= ULP2 * Math.abs(m) + 1e-30, `running mean ${tag}[${c}]: ${running[c]} vs ${m}`);
          assert.ok(Math.abs(running[C + c] - v) <= ULP2 * v, `running variance ${tag}[${c}]: ${running[C + c]} vs ${v}`);
        }
        // without update the running statistics stay
        const kept = Float32Array.from(running0);
        ck.batchnormTrain(new Float32Array(P * C), new Float64Array(2 * C), kept, x, gamma, beta, { P, C }, momentum, eps, false, relu);
        exact(`running kept ${tag}`, kept, running0);

        // inference by the running statistics: the CPU's doubles, so the same bits
        const mean = Float64Array.from(running0.subarray(0, C));
        const invstd = Float64Array.from(running0.subarray(C), (v) => 1 / Math.sqrt(v + eps));
        const wantInfer = new Float32Array(P * C);
        k.batchnormForward(wantInfer, x, mean, invstd, gamma, beta, { P, C }, relu);
        const gotInfer = new Float32Array(P * C).fill(NaN);
        const inferStats = new Float64Array(2 * C);
        ck.batchnormInfer(gotInfer, inferStats, x, running0, gamma, beta, { P, C }, eps, relu);
        exact(`inference ${tag} relu ${relu}`, gotInfer, wantInfer);
        exact(`inference statistics ${tag}`, inferStats, Float64Array.from([...mean, ...invstd]));
      }
    }
  });

  test(`${backend}: batch norm's backward (dgamma, dbeta, the input gradient, through a fused ReLU) follows the reference`, opts, () => {
    const r = rng(22);
    for (const [P, C] of [[30, 3], [2500, 5], [300, 40]]) {
      const tag = `[${P},${C}]`;
      const x = rand(P * C, r, -2, 3);
      const gamma = rand(C, r, 0.5, 1.5);
      const dout = rand(P * C, r);
      const { mean, invstd } = statistics(x, P, C, 1e-3);
      const stats = Float64Array.from([...mean, ...invstd]);
      // the fused ReLU's output: zero on about half the pixels
      const reluOut = Float32Array.from({ length: P * C }, () => (r() < 0.5 ? 0 : r()));
      for (const relu of [null, reluOut]) {
        const dsum = new Float64Array(C);
        const dxhat = new Float64Array(C);
        k.batchnormBackwardSums(dsum, dxhat, dout, relu, x, mean, invstd, { P, C });
        const din = new Float32Array(P * C);
        k.batchnormBackwardInput(din, dout, relu, x, mean, invstd, gamma, dsum, dxhat, P, { P, C });
        const dgamma0 = rand(C, r);
        const dbeta0 = rand(C, r);
        const gdin = new Float32Array(P * C).fill(NaN);
        const gdgamma = Float32Array.from(dgamma0);
        const gdbeta = Float32Array.from(dbeta0);
        ck.batchnormBackward(gdin, gdgamma, gdbeta, dout, relu, x, stats, gamma, { P, C });
        const wantGamma = Float32Array.from(dgamma0, (v, c) => f(v + f(dxhat[c])));
        const wantBeta = Float32Array.from(dbeta0, (v, c) => f(v + f(dsum[c])));
        const scale = (c) => Math.abs(dgamma0[c]) + Math.abs(dxhat[c]) + Math.abs(dbeta0[c]) + Math.abs(dsum[c]);
        near(`dgamma ${tag}`, gdgamma, wantGamma, (c) => ULP2 * scale(c) + 1e-12 * P);
        near(`dbeta ${tag}`, gdbeta, wantBeta, (c) => ULP2 * scale(c) + 1e-12 * P);
        near(`din ${tag} relu ${!!relu}`, gdin, din, (i) => {
          const c = i % C;
          const g = relu && !(relu[i] > 0) ? 0 : dout[i];
          const xhat = (x[i] - mean[c]) * invstd[c];
          return ULP2 * Math.abs(din[i]) + 1e-12 * Math.abs(gamma[c]) * invstd[c] * (Math.abs(g) + Math.abs(dsum[c] / P) + Math.abs((xhat * dxhat[c]) / P)) + 1e-30;
        });
        // without the input gradient (a batch norm on the image): the same parameter gradients
        const dg2 = Float32Array.from(dgamma0);
        const db2 = Float32Array.from(dbeta0);
        ck.batchnormBackward(null, dg2, db2, dout, relu, x, stats, gamma, { P, C });
        exact(`dgamma without din ${tag}`, dg2, gdgamma);
        exact(`dbeta without din ${tag}`, db2, gdbeta);
      }
    }
  });

  test(`${backend}: SGD (momentum, Nesterov), AdamW and RMSprop with weight decay on the marked elements, and the moving average, equal the reference bit for bit`, opts, () => {
    const r = rng(23);
    for (const n of [1, 1000, 9001]) {
      const p = rand(n, r);
      const g = rand(n, r, -0.1, 0.1);
      const s1 = rand(n, r, -0.01, 0.01);
      const s2 = rand(n, r, 0, 0.01);
      // weight decay on the first half (as on a kernel), none on the rest (as on a bias)
      const decay = Uint8Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 0));
      const h = Math.ceil(n / 2);
      const parts = (fn) => {
        fn(0, h, true);
        fn(h, n, false);
      };
      for (const nesterov of [false, true]) {
        const [wp, wv] = [Float32Array.from(p), Float32Array.from(s1)];
        parts((a, b, on) => k.sgdUpdate(wp.subarray(a, b), wv.subarray(a, b), g.subarray(a, b), 0.05, 0.9, nesterov, on ? 0.01 : 0));
        const [gp, gv] = [Float32Array.from(p), Float32Array.from(s1)];
        ck.sgdUpdate(gp, gv, g, 0.05, 0.9, nesterov, 0.01, decay);
        exact(`sgd param n=${n} nesterov ${nesterov}`, gp, wp);
        exact(`sgd velocity n=${n} nesterov ${nesterov}`, gv, wv);
      }
      for (const t of [1, 7]) {
        const [wp, wm, wv] = [Float32Array.from(p), Float32Array.from(s1), Float32Array.from(s2)];
        parts((a, b, on) => k.adamwUpdate(wp.subarray(a, b), wm.subarray(a, b), wv.subarray(a, b), g.subarray(a, b), 0.01, 0.9, 0.99, 1e-7, on ? 0.1 : 0, t));
        const [gp, gm, gv] = [Float32Array.from(p), Float32Array.from(s1), Float32Array.from(s2)];
        ck.adamwUpdate(gp, gm, gv, g, 0.01, 0.9, 0.99, 1e-7, 0.1, t, decay);
        exact(`adamw param n=${n} t=${t}`, gp, wp);
        exact(`adamw m n=${n} t=${t}`, gm, wm);
        exact(`adamw v n=${n} t=${t}`, gv, wv);
      }
      // RMSprop with coupled decay: Network::update hands it g + wd * p (wd 0 off the kernels) in float
      const wd = f(0.05);
      const coupled = Float32Array.from(g, (v, i) => f(v + f((decay[i] ? wd : 0) * p[i])));
      const [wp, wa] = [Float32Array.from(p), Float32Array.from(s2)];
      k.rmspropUpdate(wp, wa, coupled, 0.001, 0.9, 1e-7);
      const [gp, ga] = [Float32Array.from(p), Float32Array.from(s2)];
      ck.rmspropUpdate(gp, ga, g, 0.001, 0.9, 1e-7, 0.05, decay);
      exact(`rmsprop+decay param n=${n}`, gp, wp);
      exact(`rmsprop+decay accum n=${n}`, ga, wa);
      // the moving average: d * ema + (1 - d) * p in float
      const ema = rand(n, r);
      const d = f(0.99);
      const od = f(1 - 0.99);
      const want = Float32Array.from(ema, (e, i) => f(f(d * e) + f(od * p[i])));
      ck.emaUpdate(ema, p, 0.99);
      exact(`ema n=${n}`, ema, want);
    }
  });

  test(`${backend}: gradient-norm clipping scales to the norm where it is larger and leaves the gradient alone elsewhere`, opts, () => {
    const r = rng(24);
    for (const n of [1, 5000, 70001]) {
      const g = rand(n, r, -0.1, 0.1);
      let sq = 0;
      for (const v of g) sq += v * v;
      const norm = Math.sqrt(sq);
      const clipped = Float32Array.from(g);
      ck.clipGradients(clipped, norm / 3);
      const scale = f(norm / 3 / norm);
      near(`clipped n=${n}`, clipped, Float32Array.from(g, (v) => f(v * scale)), (i) => ULP2 * Math.abs(g[i]) + 1e-30);
      const kept = Float32Array.from(g);
      ck.clipGradients(kept, norm * 2);
      exact(`not clipped n=${n}`, kept, g);
    }
  });

  test(`${backend}: softmax and sigmoid losses with label smoothing follow the reference`, opts, () => {
    const r = rng(25);
    for (const [N, K] of [[1, 3], [33, 5], [300, 10]]) {
      const z = rand(N * K, r, -6, 6);
      const y = Float32Array.from({ length: N }, () => Math.floor(r() * K));
      for (const e of [0, 0.1]) {
        const d = new Float32Array(N * K);
        const loss = k.softmaxCe(d, z, y, { N, K }, 1 / N, e);
        const gd = new Float32Array(N * K).fill(NaN);
        const got = ck.softmaxCe(gd, z, y, { N, K }, 1 / N, e);
        assert.ok(Math.abs(got.loss - loss) <= 1e-6 * (N + Math.abs(loss)), `softmax loss [${N},${K}] e=${e}: ${got.loss} vs ${loss}`);
        near(`softmax dlogits [${N},${K}] e=${e}`, gd, d, (i) => 1e-6 * (1 + Math.abs(d[i])));
        let correct = 0;
        for (let b = 0; b < N; b++) {
          const row = Array.from(z.subarray(b * K, (b + 1) * K));
          correct += row.indexOf(Math.max(...row)) === y[b];
        }
        assert.equal(got.correct, correct);
      }
    }
    for (const N of [1, 40]) {
      const z = Float32Array.from({ length: N }, (_, i) => (i % 7 === 0 ? 40 * (r() < 0.5 ? -1 : 1) : (r() - 0.5) * 20));
      const y = Float32Array.from({ length: N }, () => (r() < 0.5 ? 0 : 1));
      const d = new Float32Array(N);
      const loss = k.sigmoidBce(d, z, y, 1 / N, 0.1);
      const gd = new Float32Array(N).fill(NaN);
      const got = ck.sigmoidBce(gd, z, y, 1 / N, 0.1);
      assert.ok(Math.abs(got.loss - loss) <= 1e-6 * (N + Math.abs(loss)), `sigmoid loss N=${N}: ${got.loss} vs ${loss}`);
      near(`sigmoid dlogit N=${N}`, gd, d, (i) => 1e-6 * (1 + Math.abs(d[i])));
      let correct = 0;
      for (let i = 0; i < N; i++) correct += 1 / (1 + Math.exp(-z[i])) > 0.5 === (y[i] !== 0);
      assert.equal(got.correct, correct, 'right answers count against the label itself');
    }
  });

  test(`${backend}: the crop augmentation and the per-channel normalisation equal the CPU network's preprocessing bit for bit`, opts, () => {
    const r = rng(26);
    const [H, W, C] = [7, 9, 3];
    const isz = H * W * C;
    const params = [
      [0, 0, 0, 0, 0, 0, 0, 0],
      [2, -3, 1, 0, 1, 2, 3, 4],
      [-1, 1, 0, 0.2, 5, 7, 4, 4],
      [0, 0, 1, -0.35, 0, 0, 0, 0],
      [3, 2, 1, Math.PI / 2, 6, 8, 2, 2],
    ];
    const N = params.length;
    const images = Uint8Array.from({ length: N * isz }, () => Math.floor(r() * 256));
    const mean = Float32Array.from([0.5, 0.4, 0.3]);
    const invStd = Float32Array.from([1 / 0.25, 1 / 0.3, 1 / 0.2]);
    const norm = Float32Array.from([...mean, ...invStd]);
    const ERASED = f(-1e30); // (no pixel's value)
    for (const normalized of [false, true]) {
      const want = new Float32Array(N * isz);
      for (let b = 0; b < N; b++) {
        const out = want.subarray(b * isz, (b + 1) * isz);
        // as Network::preprocess: the erased rectangle is 0 after the normalisation (the channels' mean)
        k.augmentCrop(out, images.subarray(b * isz, (b + 1) * isz), { H, W, C }, Float64Array.from(params[b]), 1 / 255, normalized ? ERASED : 0);
        if (normalized) for (let i = 0; i < isz; i++) out[i] = out[i] === ERASED ? 0 : f(f(out[i] - mean[i % C]) * invStd[i % C]);
      }
      const got = new Float32Array(N * isz).fill(NaN);
      ck.augmentCrop(got, images, { H, W, C }, Float64Array.from(params.flat()), 1 / 255, normalized ? norm : null);
      exact(`crop normalized ${normalized}`, got, want);
    }
    // the seed's warp and the plain scaling, normalised
    const img = images.subarray(0, isz);
    for (const shear of [null, 0.3]) {
      const want = new Float32Array(isz);
      if (shear === null) for (let i = 0; i < isz; i++) want[i] = f(img[i] * f(1 / 255));
      else k.augmentWarp(want, img, { H, W, C }, shear, 0.9, 1.1, true, 1 / 255);
      for (let i = 0; i < isz; i++) want[i] = f(f(want[i] - mean[i % C]) * invStd[i % C]);
      const got = new Float32Array(isz).fill(NaN);
      ck.augmentWarp(got, img, { H, W, C }, shear, 0.9, 1.1, true, 1 / 255, norm);
      exact(`warp ${shear} normalized`, got, want);
    }
  });

  const gpuTrainer = (config) => new native.Trainer(trainerConfig({ spec: BN_RESIDUAL, backend: kind, conv: 'direct', ...config }));

  test(`${backend}: a batch-norm residual net's gradients (crop, normalisation, label smoothing) follow the CPU; its running statistics and inference too`, opts, async () => {
    const gpu = gpuTrainer({ seed: 7, ...MODERN });
    const cpu64 = new native.Trainer(trainerConfig({ spec: BN_RESIDUAL, seed: 7, threads: 2, dtype: 'float64', ...MODERN }));
    const cpu = new native.Trainer(trainerConfig({ spec: BN_RESIDUAL, seed: 7, threads: 2, ...MODERN }));
    try {
      assert.deepEqual(
        gpu.plan().steps.filter((s) => s.kind === 'batchnorm').map((s) => [s.kernel, s.ops.length]),
        [['cuda', 2], ['cuda', 1], ['cuda', 1], ['cuda', 2]],
        'the ReLU after stem.bn runs in its passes',
      );
      const layout = gpu.paramLayout();
      assert.deepEqual(gpu.getParams(), cpu.getParams(), 'same initial weights');
      assert.deepEqual(gpu.getState().state, cpu.getState().state, 'same initial running statistics');
      cpu64.setParams(Float64Array.from(gpu.getParams()));
      for (const [B, seed] of [[1, 1], [6, 2]]) {
        const { images, labels, augment } = batch(BN_RESIDUAL, B, seed);
        const ref = cpu64.computeGradients(images, labels, augment);
        const got = gpu.computeGradients(images, labels, augment);
        assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * (1 + ref.loss), `B=${B}: loss ${got.loss} vs ${ref.loss}`);
        assert.equal(got.correct, ref.correct);
        closePerTensor(`gradient B=${B}`, layout, got.gradients, ref.gradients, 1e-4);
      }
      assert.deepEqual(gpu.getState().state, cpu.getState().state, 'gradient checks leave the running statistics');
      for (let s = 0; s < 3; s++) {
        const { images, labels, augment } = batch(BN_RESIDUAL, 8, 10 + s);
        const a = await gpu.trainStep(images, labels, augment, ADAMW);
        const b = await cpu.trainStep(images, labels, augment, ADAMW);
        const tol = s === 0 ? 1e-5 : 1e-3;
        assert.ok(Math.abs(a.loss - b.loss) <= tol * (1 + b.loss), `step ${s}: loss ${a.loss} vs ${b.loss}`);
        if (s > 0) continue;
        const got = gpu.getParams();
        const ref = cpu.getParams();
        for (const p of layout) {
          // a bias right before a batch norm has no gradient (the normalisation takes its mean out): only rounding
          // noise, which AdamW's first step turns into +-lr either way
          if (p.name === 'stem.bias' || p.name === 'a.bias') continue;
          let off = 0;
          for (let i = p.offset; i < p.offset + p.size; i++) off += !(Math.abs(got[i] - ref[i]) <= ADAMW.lr / 10);
          assert.ok(off <= Math.max(1, 0.001 * p.size), `after one step, ${p.name}: ${off} of ${p.size} elements differ by more than lr/10`);
        }
        near('running statistics after one step', gpu.getState().state, cpu.getState().state, (i) => 1e-5 * (1 + Math.abs(cpu.getState().state[i])));
      }
      // inference by the same weights, running statistics and moving average: only the forward's rounding differs
      cpu.setParams(gpu.getParams());
      cpu.setState({ ...gpu.getState() });
      const { images, labels } = batch(BN_RESIDUAL, 5, 20);
      for (const ema of [false, true]) {
        const e1 = await gpu.evaluate(images, labels, { ema });
        const e2 = await cpu.evaluate(images, labels, { ema });
        near(`probabilities ema ${ema}`, e1.probabilities, e2.probabilities, 1e-5);
        assert.equal(e1.correct, e2.correct);
      }
      assert.deepEqual(await gpu.predict(images), (await gpu.evaluate(images, labels)).probabilities);
    } finally {
      gpu.dispose();
      cpu.dispose();
      cpu64.dispose();
    }
  });

  test(`${backend}: each optimizer's step (weight decay on the kernels, clipping, the moving average) is the reference's update of the GPU's own gradient`, opts, async () => {
    const { images, labels } = batch(BN_RESIDUAL, 4, 30, 3, false);
    for (const [optimizer, opt] of [
      ['sgd', { lr: 0.05, momentum: 0.9, nesterov: false, weightDecay: 0.01 }],
      ['sgd', { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.01 }],
      ['adamw', { lr: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-7, weightDecay: 0.1 }],
      ['rmsprop', { lr: 0.001, rho: 0.9, epsilon: 1e-7, weightDecay: 0.05 }],
    ]) {
      const tag = `${optimizer}${opt.nesterov ? ' nesterov' : ''}`;
      const t = gpuTrainer({ seed: 8, optimizer, ema: 0.8 });
      try {
        const layout = t.paramLayout();
        const P = t.getParams().length;
        const mask = decayMask(layout, P);
        for (let s = 0; s < 2; s++) {
          const p = t.getParams();
          const st = t.getState();
          const g = t.computeGradients(images, labels).gradients;
          const ema = Float32Array.from(st.ema);
          const a = Float32Array.from(st.accumulators);
          // the reference per tensor, weight decay on the kernels only
          for (const e of layout) {
            const [lo, hi] = [e.offset, e.offset + e.size];
            const wd = mask[lo] ? opt.weightDecay : 0;
            if (optimizer === 'sgd') k.sgdUpdate(p.subarray(lo, hi), a.subarray(lo, hi), g.subarray(lo, hi), opt.lr, opt.momentum, opt.nesterov, wd);
            else if (optimizer === 'adamw') k.adamwUpdate(p.subarray(lo, hi), a.subarray(lo, hi), a.subarray(P + lo, P + hi), g.subarray(lo, hi), opt.lr, opt.beta1, opt.beta2, opt.epsilon, wd, s + 1);
            else {
              const gw = Float32Array.from(g.subarray(lo, hi), (v, i) => f(v + f(f(wd) * p[lo + i])));
              k.rmspropUpdate(p.subarray(lo, hi), a.subarray(lo, hi), gw, opt.lr, opt.rho, opt.epsilon);
            }
          }
          for (let i = 0; i < P; i++) ema[i] = f(f(f(0.8) * ema[i]) + f(f(1 - 0.8) * p[i]));
          await t.trainStep(images, labels, null, opt);
          exact(`${tag} step ${s}: params`, t.getParams(), p);
          exact(`${tag} step ${s}: optimizer state`, t.getState().accumulators, a);
          exact(`${tag} step ${s}: moving average`, t.getState().ema, ema);
        }
        assert.equal(t.getState().accumulators.length, (optimizer === 'adamw' ? 2 : 1) * P);
        // clipping: the gradient scaled to the norm before the update (its scale may differ in the last bit)
        const p = t.getParams();
        const a = Float32Array.from(t.getState().accumulators);
        const g = t.computeGradients(images, labels).gradients;
        let sq = 0;
        for (const v of g) sq += v * v;
        const clipNorm = Math.sqrt(sq) / 4;
        const scale = f(clipNorm / Math.sqrt(sq));
        const gc = Float32Array.from(g, (v) => f(v * scale));
        for (const e of layout) {
          const [lo, hi] = [e.offset, e.offset + e.size];
          const wd = mask[lo] ? opt.weightDecay : 0;
          if (optimizer === 'sgd') k.sgdUpdate(p.subarray(lo, hi), a.subarray(lo, hi), gc.subarray(lo, hi), opt.lr, opt.momentum, opt.nesterov, wd);
          else if (optimizer === 'adamw') k.adamwUpdate(p.subarray(lo, hi), a.subarray(lo, hi), a.subarray(P + lo, P + hi), gc.subarray(lo, hi), opt.lr, opt.beta1, opt.beta2, opt.epsilon, wd, 3);
          else {
            const gw = Float32Array.from(gc.subarray(lo, hi), (v, i) => f(v + f(f(wd) * p[lo + i])));
            k.rmspropUpdate(p.subarray(lo, hi), a.subarray(lo, hi), gw, opt.lr, opt.rho, opt.epsilon);
          }
        }
        await t.trainStep(images, labels, null, { ...opt, clipNorm });
        near(`${tag} clipped step: optimizer state`, t.getState().accumulators, a, (i) => 1e-6 * Math.abs(a[i]) + 1e-12);
        near(`${tag} clipped step: params`, t.getParams(), p, (i) => 1e-6 * (1 + Math.abs(p[i])));
      } finally {
        t.dispose();
      }
    }
  });

  test(`${backend}: get/setState carries the running statistics, AdamW's moments and the moving average: a restored trainer continues bit for bit`, opts, async () => {
    const a = gpuTrainer({ seed: 9, ...MODERN });
    const b = gpuTrainer({ seed: 1234, ...MODERN });
    try {
      for (let s = 0; s < 2; s++) {
        const { images, labels, augment } = batch(BN_RESIDUAL, 6, 40 + s);
        await a.trainStep(images, labels, augment, ADAMW);
      }
      const state = a.getState();
      const P = a.getParams().length;
      assert.equal(state.step, 2);
      assert.equal(state.accumulators.length, 2 * P);
      assert.equal(state.ema.length, P);
      assert.equal(state.state.length, 2 * (4 + 4)); // two batch norms of 4 channels: mean, variance
      assert.notDeepEqual(state.state, b.getState().state, 'the running statistics moved');
      b.setParams(a.getParams());
      b.setState(state);
      assert.deepEqual(b.getState(), state);
      const { images, labels, augment } = batch(BN_RESIDUAL, 6, 42);
      const ra = await a.trainStep(images, labels, augment, ADAMW);
      const rb = await b.trainStep(images, labels, augment, ADAMW);
      assert.deepEqual(rb, ra);
      assert.deepEqual(b.getParams(), a.getParams());
      assert.deepEqual(b.getState(), a.getState());
      const ea = await a.evaluate(images, labels, { ema: true });
      assert.deepEqual((await b.evaluate(images, labels, { ema: true })).probabilities, ea.probabilities);
      // evaluation by the moving average is evaluation by those weights
      const copy = gpuTrainer({ seed: 9, normalize: MODERN.normalize });
      try {
        copy.setParams(a.getState().ema);
        copy.setState({ ...a.getState(), accumulators: new Float32Array(P), ema: undefined });
        assert.deepEqual((await copy.evaluate(images, labels)).probabilities, ea.probabilities);
        assert.throws(() => copy.evaluate(images, labels, { ema: true }), /ema: this trainer keeps no moving average/);
      } finally {
        copy.dispose();
      }
      assert.throws(() => b.setState({ ...state, state: new Float32Array(3) }), /state\.state must have 16 elements/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test(`${backend}: the indexed step on uploaded images equals the host-data step bit for bit with the modern recipe (AdamW's corrections replayed)`, opts, async () => {
    const n = 10;
    const { images, labels } = batch(BN_RESIDUAL, n, 50);
    const a = gpuTrainer({ seed: 5, ...MODERN });
    const b = gpuTrainer({ seed: 5, ...MODERN });
    try {
      a.uploadImages(images, labels);
      const r = rng(51);
      const IMAGE = BN_RESIDUAL.input.reduce((x, y) => x * y);
      for (let s = 0; s < 3; s++) {
        const B = 4;
        const idx = Int32Array.from({ length: B }, () => Math.floor(r() * n));
        const { augment } = batch(BN_RESIDUAL, B, 60 + s);
        const host = new Uint8Array(B * IMAGE);
        const lab = new Uint8Array(B);
        idx.forEach((j, i) => {
          host.set(images.subarray(j * IMAGE, (j + 1) * IMAGE), i * IMAGE);
          lab[i] = labels[j];
        });
        assert.deepEqual(await a.trainStepIndexed(idx, augment, ADAMW), await b.trainStep(host, lab, augment, ADAMW), `step ${s}`);
      }
      assert.deepEqual(a.getParams(), b.getParams());
      assert.deepEqual(a.getState(), b.getState());
    } finally {
      a.dispose();
      b.dispose();
    }
  });
}
