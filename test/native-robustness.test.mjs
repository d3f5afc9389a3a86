// The addon under hostile arguments: each gives a JS exception naming the field (RangeError for a bad argument,
// Error for memory the system refuses) and the process lives on. Cases that used to crash the process (a
// segfault, std::terminate) run in a child process (this file, with ENGINE_ROBUSTNESS_CASE set), so that a
// regression fails its assertion instead of killing the test runner.
//
// Not tested here, for the memory they would need: a batch split whose B * threads passes 2^31 (network.cpp;
// over 1 GiB of images and ~12 GiB of outputs), a GPU batch whose conv GEMM would pass int (over 2 GiB of images
// copied), the bf16/AMX kernels' scratch refused, and a thread the system refuses (ThreadPool; needs a
// pthread_create that fails, which an unprivileged limit cannot give root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { native, trainerConfig } from '../dist/src/native.js';
import { runNode } from './helpers.mjs';

const OPT = { lr: 0.001, rho: 0.9, epsilon: 1e-7 };
const SMALL = {
  input: [6, 7, 3],
  layers: [{ type: 'conv3x3', filters: 4 }, { type: 'relu' }, { type: 'maxpool2x2' }, { type: 'flatten' }, { type: 'dense', units: 1 }],
};
const IMG = 6 * 7 * 3;
// shear near -pi/2 with zooms of 1e308: the warp's terms overflow to +Inf and -Inf, whose sum is a NaN coordinate
const EXTREME = [-1.5707963, 1e308, 1e308];

/** {name, message} of what fn throws (null if nothing), so that it survives JSON */
function caught(fn) {
  try {
    fn();
    return null;
  } catch (e) {
    return { name: e.constructor.name, message: e.message };
  }
}

/** B images of bytes from a small LCG, labels alternating, and augment(i, v): identity rows with entry i set to v */
function batch(B) {
  let s = 12345;
  const images = Uint8Array.from({ length: B * IMG }, () => (s = (s * 1103515245 + 12345) % 2147483648) >>> 23);
  const labels = Uint8Array.from({ length: B }, (_, i) => i % 2);
  const augment = (i, v) => {
    const a = Float64Array.from({ length: 4 * B }, (_, j) => (j % 4 === 1 || j % 4 === 2 ? 1 : 0)); // shear 0, zoom 1, no flip
    a[i] = v;
    return a;
  };
  return { images, labels, augment };
}

// ---------- the child's cases: each returns a JSON-able result ----------

const CASES = {
  async cpuAugment() {
    const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 1, threads: 2 }));
    const { images, labels, augment } = batch(2);
    const r = {
      trainNaN: caught(() => t.trainStep(images, labels, augment(5, NaN), OPT)),
      trainInf: caught(() => t.trainStep(images, labels, augment(0, -Infinity), OPT)),
      gradients: caught(() => t.computeGradients(images, labels, augment(2, NaN))),
      step: t.getState().step,
    };
    r.loss = (await t.trainStep(images, labels, augment(0, 0), OPT)).loss;
    return r;
  },

  async gpuAugment() {
    const t = new native.Trainer(trainerConfig({ spec: SMALL, seed: 1, backend: 'cuda-emulated', conv: 'direct' }));
    const { images, labels, augment } = batch(2);
    t.uploadImages(images, labels);
    const r = {
      trainNaN: caught(() => t.trainStep(images, labels, augment(6, NaN), OPT)),
      indexed: caught(() => t.trainStepIndexed(Int32Array.of(1, 0), augment(1, Infinity), OPT)),
      gradients: caught(() => t.computeGradients(images, labels, augment(3, NaN))),
      step: t.getState().step,
    };
    r.loss = (await t.trainStep(images, labels, augment(0, 0), OPT)).loss;
    return r;
  },

  async extremeZoom() {
    const [H, W, C] = [16, 19, 3]; // 19 columns: two 8-wide AVX-512 blocks and a scalar tail
    const { images } = batch(Math.ceil((H * W * C) / IMG));
    const inp = images.subarray(0, H * W * C);
    const warp = (k, Arr, isa) => {
      const out = new Arr(H * W * C).fill(NaN);
      k.augmentWarp(out, inp, { H, W, C }, ...EXTREME, false, 1 / 255, isa);
      return out;
    };
    const summary = (a) => ({ finite: a.every(Number.isFinite), min: Math.min(...a), max: Math.max(...a) });
    const same = (a, b) => Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)) === 0;
    const ref32 = warp(native.kernels, Float32Array, 'scalar');
    const fast32 = warp(native.kernels, Float32Array);
    const ref64 = warp(native.kernels, Float64Array, 'scalar');
    const fast64 = warp(native.kernels, Float64Array);
    const gpu = warp(native.cudaKernelsEmulated, Float32Array);
    const { images: imgs, labels } = batch(2);
    const aug = Float64Array.of(...EXTREME, 0, ...EXTREME, 1);
    const cpu = new native.Trainer(trainerConfig({ spec: SMALL, seed: 1, threads: 1 }));
    const gpuTrainer = new native.Trainer(trainerConfig({ spec: SMALL, seed: 1, backend: 'cuda-emulated', conv: 'direct' }));
    return {
      ref32: summary(ref32),
      ref64: summary(ref64),
      fastEqualsRef32: same(fast32, ref32),
      fastEqualsRef64: same(fast64, ref64),
      gpuEqualsRef: same(gpu, ref32),
      cpuLoss: (await cpu.trainStep(imgs, labels, aug, OPT)).loss,
      gpuLoss: (await gpuTrainer.trainStep(imgs, labels, aug, OPT)).loss,
    };
  },

  async workspace() {
    // 10,000 dropout layers on a 46340 x 46340 image (just under 2^31 values, the most one layer may hold): a
    // float64 workspace of ~156 TiB per thread, past any 47-bit address space, whatever the overcommit policy
    const layers = [];
    for (let i = 0; i < 10000; i++) layers.push({ type: 'dropout', rate: 0.5 });
    for (let i = 0; i < 15; i++) layers.push({ type: 'maxpool2x2' });
    layers.push({ type: 'flatten' }, { type: 'dense', units: 1 });
    const error = caught(() => new native.Trainer(trainerConfig({ spec: { input: [46340, 46340, 1], layers }, dtype: 'float64' })));
    return { error, paramsAfter: new native.Trainer(trainerConfig({ spec: SMALL, seed: 1 })).info().params };
  },

  async flatten() {
    const flat = { input: [65536, 32769, 1], layers: [{ type: 'flatten' }, { type: 'dense', units: 1 }] };
    const relu = { input: [65536, 32769, 1], layers: [{ type: 'relu' }, { type: 'flatten' }, { type: 'dense', units: 1 }] };
    return {
      float32: caught(() => new native.Trainer(trainerConfig({ spec: flat }))),
      float64: caught(() => new native.Trainer(trainerConfig({ spec: flat, dtype: 'float64' }))),
      relu: caught(() => new native.Trainer(trainerConfig({ spec: relu, conv: 'direct' }))),
      gpu: caught(() => new native.Trainer(trainerConfig({ spec: flat, backend: 'cuda-emulated', conv: 'direct' }))),
    };
  },
};

const CASE = process.env.ENGINE_ROBUSTNESS_CASE;
if (CASE) {
  console.log('RESULT ' + JSON.stringify(await CASES[CASE]()));
} else {
  /** Runs CASES[name] in a child process; asserts that the child lived and returns the case's result. */
  async function inChild(name) {
    const r = await runNode([fileURLToPath(import.meta.url)], { env: { ENGINE_ROBUSTNESS_CASE: name } });
    assert.equal(r.code, 0, `the child process running '${name}' died (exit code ${r.code}); stderr: ${r.stderr.slice(-2000)}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `no result from '${name}': ${r.stdout}`);
    return JSON.parse(line.slice('RESULT '.length));
  }

  const rangeError = (got, re) => {
    assert.ok(got, `expected a RangeError matching ${re}, nothing was thrown`);
    assert.equal(got.name, 'RangeError', got.message);
    assert.match(got.message, re);
  };

  test('augment: a NaN or Inf entry is a RangeError naming augment[i] (CPU trainer), nothing runs, and the trainer still works', async () => {
    const r = await inChild('cpuAugment');
    rangeError(r.trainNaN, /^augment\[5\] must be finite, got NaN$/);
    rangeError(r.trainInf, /^augment\[0\] must be finite, got -Infinity$/);
    rangeError(r.gradients, /^augment\[2\] must be finite, got NaN$/);
    assert.equal(r.step, 0);
    assert.ok(Number.isFinite(r.loss));
  });

  test('augment: a NaN or Inf entry is a RangeError naming augment[i] (emulated GPU trainer: trainStep, trainStepIndexed, computeGradients)', async () => {
    const r = await inChild('gpuAugment');
    rangeError(r.trainNaN, /^augment\[6\] must be finite, got NaN$/);
    rangeError(r.indexed, /^augment\[1\] must be finite, got Infinity$/);
    rangeError(r.gradients, /^augment\[3\] must be finite, got NaN$/);
    assert.equal(r.step, 0);
    assert.ok(Number.isFinite(r.loss));
  });

  test('augmentWarp: an extreme finite zoom (Inf - Inf coordinates) samples the edge: finite output, the fast and CUDA warps equal to the reference bit for bit', async () => {
    const r = await inChild('extremeZoom');
    for (const k of ['ref32', 'ref64']) {
      assert.ok(r[k].finite, `${k} has non-finite values`);
      assert.ok(r[k].min >= 0 && r[k].max <= 1, `${k} outside [0, 1]: ${r[k].min}..${r[k].max}`);
    }
    assert.ok(r.fastEqualsRef32, 'float32 fast warp differs from the reference');
    assert.ok(r.fastEqualsRef64, 'float64 fast warp differs from the reference');
    assert.ok(r.gpuEqualsRef, 'the emulated CUDA warp differs from the reference');
    assert.ok(Number.isFinite(r.cpuLoss) && Number.isFinite(r.gpuLoss), `losses ${r.cpuLoss}, ${r.gpuLoss}`);
  });

  test('a spec whose workspace cannot be allocated is an Error (out of host memory), and the process lives on', async () => {
    const r = await inChild('workspace');
    assert.ok(r.error, 'the trainer was built');
    assert.equal(r.error.name, 'Error');
    assert.match(r.error.message, /^out of host memory$/);
    assert.equal(r.paramsAfter, 4 * 27 + 4 + 2 * 2 * 4 + 1);
  });

  test('flatten (or any layer) of more than 2^31 - 1 values is a RangeError "spec: " naming the layer, on the CPU and the GPU trainers', async () => {
    const r = await inChild('flatten');
    const flat = /^spec: layer 0 '\w+' \(flatten\): output 65536x32769x1 has 2147549184 values, more than 2\^31 - 1$/;
    rangeError(r.float32, flat); // (float32 defaults to conv 'winograd': its spec errors said "conv: " before)
    rangeError(r.float64, flat);
    rangeError(r.gpu, flat);
    rangeError(r.relu, /^spec: layer 0 '\w+' \(relu\): output 65536x32769x1 has 2147549184 values/);
  });

  test('a batch of more than 2^31 - 1 images is a RangeError naming images, before anything is copied', async () => {
    // 2^31 + 1 one-byte images: the zero-filled buffer is virtual memory, never touched when the check holds
    const tiny = { input: [1, 1, 1], layers: [{ type: 'flatten' }, { type: 'dense', units: 1 }] };
    const huge = new Uint8Array(2 ** 31 + 1);
    const re = /^images must hold a whole number \(1 to 2\^31 - 1\) of 1-byte images \(H\*W\*C uint8\), got 2147483649 bytes$/;
    const t = new native.Trainer(trainerConfig({ spec: tiny, seed: 1, threads: 2 }));
    rangeError(caught(() => t.predict(huge)), re);
    rangeError(caught(() => t.evaluate(huge, new Uint8Array(1))), re);
    rangeError(caught(() => t.trainStep(huge, new Uint8Array(1), null, OPT)), re);
    const g = new native.Trainer(trainerConfig({ spec: tiny, seed: 1, backend: 'cuda-emulated', conv: 'direct' }));
    rangeError(caught(() => g.predict(huge)), re);
    rangeError(caught(() => g.uploadImages(huge, new Uint8Array(1))), re);
    assert.equal((await t.predict(new Uint8Array(3))).length, 3);
    t.dispose();
    g.dispose();
  });
}
