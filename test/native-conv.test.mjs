// Convolutions of other geometries than the seed's 3x3 valid ones: kernels 1, 3 and 5, stride 1 or 2, Keras'
// 'valid' and 'same' padding. The reference takes any geometry (float64 gradient checks); on the CPU a 3x3
// convolution of stride 1 runs the seed's 3x3 kernels (a 'same' one on a zero-padded copy of its input) and the
// others run as matrix products (gemm); the CUDA backend's implicit GEMM takes any geometry (checked on its CPU
// emulator). Which kernel runs is asked of the plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { randomBatch, rng } from './helpers.mjs';

const EPS = 2 ** -52;

/**
 * Every geometry once: 3x3 same (padded copy of the 3x3 kernels), 5x5 same and valid, 1x1, stride-2 3x3 same and 5x5
 * valid, and a stem as face-res's (5x5 of stride 2 on the 2-channel image: kernel rows of 10 floats, so the gemm
 * kernels' im2col copies end in a part of a vector with AVX2 and AVX-512 alike), added to the stride-2 3x3's output.
 */
const GEOMETRY = {
  name: 'geometry',
  input: [13, 11, 2],
  head: 'softmax',
  layers: [
    { type: 'conv', kernel: 3, padding: 'same', filters: 8, name: 'same3' },
    { type: 'relu' },
    { type: 'conv', kernel: 5, padding: 'same', filters: 16, name: 'same5' },
    { type: 'conv', kernel: 1, filters: 8, name: 'one' },
    { type: 'relu' },
    { type: 'conv', kernel: 3, stride: 2, padding: 'same', filters: 8, name: 'down3' },
    { type: 'conv', kernel: 5, stride: 2, padding: 'same', filters: 8, name: 'stem5', inputs: ['input'] },
    { type: 'add', inputs: ['down3', 'stem5'], name: 'sum7' },
    { type: 'conv', kernel: 5, filters: 16, name: 'valid5' },
    { type: 'conv', kernel: 5, stride: 2, padding: 'same', filters: 8, name: 'down5', inputs: ['relu2'] },
    { type: 'globalavgpool', name: 'gap5' },
    { type: 'globalavgpool', name: 'gap16', inputs: ['valid5'] },
    { type: 'dense', units: 8, name: 'proj', inputs: ['gap16'] },
    { type: 'add', inputs: ['gap5', 'proj'] },
    { type: 'dense', units: 3, name: 'head' },
  ],
};

function randomizeBiases(trainer, seed) {
  const r = rng(seed);
  const p = trainer.getParams();
  for (const e of trainer.paramLayout()) if (e.name.endsWith('.bias')) for (let i = 0; i < e.size; i++) p[e.offset + i] = 0.05 + 0.1 * r();
  trainer.setParams(p);
}

const relative = (a, b, from = 0, to = a.length) => {
  let num = 0;
  let den = 0;
  for (let i = from; i < to; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
};

test('layout: output sizes of valid and same padding at stride 1 and 2 (same: ceil(input / stride))', () => {
  const L = native.layout(GEOMETRY);
  const shape = (name) => L.ops.find((o) => o.name === name).shape.join('x');
  assert.equal(shape('same3'), '13x11x8');
  assert.equal(shape('same5'), '13x11x16');
  assert.equal(shape('one'), '13x11x8');
  assert.equal(shape('down3'), '7x6x8');
  assert.equal(shape('stem5'), '7x6x8');
  assert.equal(shape('valid5'), '3x2x16');
  assert.equal(shape('down5'), '7x6x8');
  assert.deepEqual(L.params.find((p) => p.name === 'same5.kernel').shape, [5, 5, 8, 16]);
  assert.throws(() => native.layout({ ...GEOMETRY, layers: [{ type: 'conv', kernel: 5, filters: 2 }, ...GEOMETRY.layers.slice(1)], input: [4, 4, 2] }), /smaller than the 5x5 kernel/);
});

test('gradients (float64) of every geometry against finite differences', (t) => {
  const { images, labels } = randomBatch(GEOMETRY, 3, 1, 3);
  const trainer = new native.Trainer(trainerConfig({ spec: GEOMETRY, seed: 2, threads: 2, dtype: 'float64' }));
  randomizeBiases(trainer, 3);
  const params = trainer.getParams();
  const g = trainer.computeGradients(images, labels);
  const atol = (8 * EPS * 10 * (3 + g.loss)) / 1e-5;
  const work = Float64Array.from(params);
  let worst = 0;
  // every parameter of the smaller tensors, a spread of the larger ones (the 5x5 kernels have 3,200 weights)
  for (const p of trainer.paramLayout()) {
    const step = Math.max(1, Math.floor(p.size / 40));
    for (let i = p.offset; i < p.offset + p.size; i += step) {
      const p0 = work[i];
      work[i] = p0 + 1e-5;
      trainer.setParams(work);
      const fp = trainer.computeGradients(images, labels).loss;
      work[i] = p0 - 1e-5;
      trainer.setParams(work);
      const fm = trainer.computeGradients(images, labels).loss;
      work[i] = p0;
      const fd = (fp - fm) / 2e-5;
      const tol = 1e-6 * Math.max(Math.abs(g.gradients[i]), Math.abs(fd)) + atol;
      assert.ok(Math.abs(g.gradients[i] - fd) <= tol, `${p.name}[${i - p.offset}]: analytic ${g.gradients[i]} vs finite difference ${fd}`);
      worst = Math.max(worst, Math.abs(g.gradients[i] - fd) / tol);
    }
    assert.ok(g.gradients.subarray(p.offset, p.offset + p.size).some((v) => v !== 0), `${p.name}: all-zero gradient`);
  }
  t.diagnostic(`worst error/tolerance ${worst.toExponential(2)}`);
});

test('the fast kernels (padded copies, gemm for 1x1, 5x5 and strided) and the emulated CUDA backend follow the float64 reference', () => {
  const { images, labels } = randomBatch(GEOMETRY, 4, 5, 3);
  const ref = new native.Trainer(trainerConfig({ spec: GEOMETRY, seed: 6, threads: 2, dtype: 'float64' }));
  const want = ref.computeGradients(images, labels);
  const trainers = [['cpu', trainerConfig({ spec: GEOMETRY, seed: 6, threads: 2 })], ['cuda-emulated', trainerConfig({ spec: GEOMETRY, seed: 6, backend: 'cuda-emulated', conv: 'direct' })]];
  if (native.buildInfo().cpuIsa !== 'scalar') trainers.push(['cpu avx2', trainerConfig({ spec: GEOMETRY, seed: 6, threads: 1, isa: 'avx2' })]);
  for (const [name, config] of trainers) {
    const t = new native.Trainer(config);
    const got = t.computeGradients(images, labels);
    assert.ok(Math.abs(got.loss - want.loss) < 1e-5 * Math.max(1, want.loss), `${name}: loss ${got.loss} vs ${want.loss}`);
    for (const p of t.paramLayout()) {
      const rel = relative(got.gradients, want.gradients, p.offset, p.offset + p.size);
      assert.ok(rel < 1e-4, `${name} ${p.name}: ${rel} from float64`);
    }
    t.dispose();
  }
});

test('plan: a same 3x3 convolution runs the 3x3 kernels on a padded copy (Winograd F(4x4): on the input, its border read as zeros), 1x1, 5x5 and strided ones the gemm kernels (the reference in a scalar network)', () => {
  const isa = native.buildInfo().isa;
  if (isa === 'scalar') return;
  const plan = new native.Trainer(trainerConfig({ spec: GEOMETRY, seed: 1, isa: 'avx2', conv: 'direct' })).plan();
  const forward = (op) => plan.steps.find((s) => s.op === op && s.direction === 'forward');
  const backward = (op) => plan.steps.find((s) => s.op === op && s.direction === 'backward');
  assert.equal(forward('same3').kernel, 'avx2');
  assert.equal(forward('same3').workspaceBytes, 4 * 15 * 13 * 2); // the padded copy of its 13x11x2 input
  assert.equal(forward('same5').kernel, 'gemm-avx2');
  assert.equal(forward('same5').workspaceBytes, 0); // gemm takes the padding itself
  assert.equal(backward('same5').inputGradient, 'gemm-avx2');
  assert.equal(forward('one').kernel, 'gemm-avx2');
  assert.equal(forward('down3').kernel, 'gemm-avx2');
  assert.equal(forward('stem5').kernel, 'gemm-avx2');
  assert.equal(backward('down5').kernel, 'gemm-avx2');
  const scalar = new native.Trainer(trainerConfig({ spec: GEOMETRY, seed: 1, isa: 'scalar' })).plan();
  assert.equal(scalar.steps.find((s) => s.op === 'down5' && s.direction === 'backward').kernel, 'reference');
  assert.equal(backward('same3').inputGradient, null); // its input is the image
  // Winograd F(4x4) takes the 'same' 3x3 convolution whose input needs a gradient, even or odd, on its unpadded
  // input (the border read as zeros)
  const wino = { ...GEOMETRY, layers: [{ type: 'conv3x3', filters: 8 }, { type: 'relu' }, { type: 'conv', kernel: 3, padding: 'same', filters: 8, name: 'w' }, { type: 'globalavgpool' }, { type: 'dense', units: 3 }] };
  for (const size of [12, 13]) {
    const p = new native.Trainer(trainerConfig({ spec: { ...wino, input: [size, size, 2] }, seed: 1, isa: 'avx2' })).plan();
    const w = p.steps.find((s) => s.op === 'w' && s.direction === 'forward');
    assert.equal(w.kernel, 'winograd4-avx2', `${size - 2}x${size - 2}`);
    assert.equal(w.workspaceBytes, 0, `${size - 2}x${size - 2}`);
  }
  // under F(2x2)'s 8x8 outputs a same 3x3 convolution runs Winograd F(4x4) (native-winograd4.test.mjs), with --conv
  // direct a matrix product; neither on a padded copy
  for (const [conv, kernel] of [['winograd', 'winograd4-avx2'], ['direct', 'gemm-avx2']]) {
    const small = new native.Trainer(trainerConfig({ spec: { ...wino, input: [6, 6, 2] }, seed: 1, isa: 'avx2', conv })).plan();
    const w = small.steps.find((s) => s.op === 'w' && s.direction === 'forward');
    assert.equal(w.kernel, kernel, conv);
    assert.equal(w.workspaceBytes, 0, conv);
  }
});
