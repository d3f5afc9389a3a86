// The model as a graph of ops (native/model/graph.h) and the kernel plan chosen once (native/model/plan.h):
// named layers and inputs (a residual add), global average pooling, batch norm (statistics over the whole batch,
// reduced across threads at a barrier), an N-way softmax head; their gradients against finite differences in
// float64, float32 against float64, and which kernel runs each op, asked of the plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { randomBatch, rng, tiersUpTo } from './helpers.mjs';

const EPS = 2 ** -52;
const OPT = { lr: 0.001, rho: 0.9, epsilon: 1e-7 };

/** A residual net: conv -> BN -> ReLU, two branches added, global average pooling, a 3-way softmax head. */
const RESIDUAL = {
  name: 'residual',
  input: [9, 8, 2],
  head: 'softmax',
  layers: [
    { type: 'conv3x3', filters: 4, name: 'stem' },
    { type: 'batchnorm', name: 'stem.bn' },
    { type: 'relu', name: 'stem.relu' },
    { type: 'conv', kernel: 3, filters: 4, name: 'a' },
    { type: 'relu', name: 'a.relu' },
    { type: 'conv', kernel: 3, filters: 4, name: 'b', inputs: ['stem.relu'] },
    { type: 'add', inputs: ['a.relu', 'b'], name: 'sum' },
    { type: 'relu', name: 'sum.relu' },
    { type: 'globalavgpool', name: 'gap' },
    { type: 'dense', units: 3, name: 'head' },
  ],
};

/** RESIDUAL with a batch norm before the add, whose pass then runs the add and the ReLU after it. */
const RESIDUAL_BN = {
  ...RESIDUAL,
  name: 'residual-bn',
  layers: RESIDUAL.layers.flatMap((l) => (l.name === 'sum' ? [{ type: 'batchnorm', name: 'b.bn' }, { ...l, inputs: ['a.relu', 'b.bn'] }] : [l])),
};

/** GAP and a residual add without batch norm, sigmoid head: the per-image path. */
const GAP_ADD = {
  name: 'gap-add',
  input: [8, 8, 3],
  layers: [
    { type: 'conv3x3', filters: 8 },
    { type: 'relu' },
    { type: 'conv3x3', filters: 8, name: 'c2', inputs: ['relu1'] },
    { type: 'conv3x3', filters: 8, name: 'c3', inputs: ['relu1'] },
    { type: 'add', inputs: ['c2', 'c3'] },
    { type: 'globalavgpool' },
    { type: 'dense', units: 1 },
  ],
};

/** Small random biases (and betas): the ReLUs open, the gradient reaches every layer. */
function randomize(trainer, seed) {
  const r = rng(seed);
  const p = trainer.getParams();
  for (const e of trainer.paramLayout())
    if (/\.(bias|beta)$/.test(e.name)) for (let i = 0; i < e.size; i++) p[e.offset + i] = 0.05 + 0.1 * r();
    else if (e.name.endsWith('.gamma')) for (let i = 0; i < e.size; i++) p[e.offset + i] = 0.8 + 0.4 * r();
  trainer.setParams(p);
}

/** Every parameter's gradient against central differences of the loss (h = 1e-5), as native-gradcheck does. */
function gradcheck(trainer, images, labels) {
  const params = trainer.getParams();
  const g = trainer.computeGradients(images, labels);
  const M = 10 * (labels.length + g.loss);
  const atol = (8 * EPS * M) / 1e-5;
  const work = Float64Array.from(params);
  let worst = 0;
  for (let i = 0; i < work.length; i++) {
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
    assert.ok(Math.abs(g.gradients[i] - fd) <= tol, `param ${i}: analytic ${g.gradients[i]} vs finite difference ${fd}`);
    worst = Math.max(worst, Math.abs(g.gradients[i] - fd) / tol);
  }
  trainer.setParams(params);
  for (const p of trainer.paramLayout())
    assert.ok(g.gradients.subarray(p.offset, p.offset + p.size).some((v) => v !== 0), `${p.name}: all-zero gradient`);
  return worst;
}

test('layout: named layers and inputs, output shapes and parameters; a bad graph names the layer', () => {
  const L = native.layout(RESIDUAL);
  assert.deepEqual(
    L.ops.map((o) => `${o.name}:${o.type}:${o.shape.join('x')}`),
    ['stem:conv:7x6x4', 'stem.bn:batchnorm:7x6x4', 'stem.relu:relu:7x6x4', 'a:conv:5x4x4', 'a.relu:relu:5x4x4', 'b:conv:5x4x4', 'sum:add:5x4x4', 'sum.relu:relu:5x4x4', 'gap:globalavgpool:1x1x4', 'head:dense:1x1x3'],
  );
  assert.deepEqual(L.params.map((p) => p.name), ['stem.kernel', 'stem.bias', 'stem.bn.gamma', 'stem.bn.beta', 'a.kernel', 'a.bias', 'b.kernel', 'b.bias', 'head.kernel', 'head.bias']);
  assert.equal(L.stateCount, 8); // running mean and variance of 4 channels
  assert.equal(L.classes, 3);
  // the sequential seed keeps its parameter names and count
  assert.equal(native.layout(SEED7).paramCount, 91329);
  const bad = (spec, re) => assert.throws(() => native.layout(spec), (e) => e instanceof RangeError && re.test(e.message), `${re}`);
  const L0 = RESIDUAL.layers;
  bad({ ...RESIDUAL, layers: [...L0.slice(0, 6), { type: 'add', inputs: ['a.relu', 'stem.relu'] }, ...L0.slice(7)] }, /layer 6 'add1' \(add\): adds tensors of different shapes: 5x4x4 and 7x6x4/);
  bad({ ...RESIDUAL, layers: [...L0.slice(0, 6), { type: 'add', inputs: ['a.relu', 'nope'] }, ...L0.slice(7)] }, /input 'nope' names no earlier layer/);
  bad({ ...RESIDUAL, layers: [...L0.slice(0, 6), { type: 'add', inputs: ['b'] }, ...L0.slice(7)] }, /takes 2 inputs, got 1/);
  bad({ ...RESIDUAL, layers: [...L0.slice(0, 3), { type: 'relu', name: 'stem' }, ...L0.slice(4)] }, /the name 'stem' is used twice/);
  bad({ ...RESIDUAL, layers: [...L0.slice(0, 8), { type: 'relu', name: 'loose', inputs: ['a'] }, { ...L0[8], inputs: ['sum.relu'] }, L0[9]] }, /layer 8 'loose': its output is not used/);
  bad({ ...RESIDUAL, head: 'sigmoid' }, /dense with 1 unit .* for a sigmoid head, got 3 units/);
  bad({ ...GAP_ADD, head: 'softmax' }, /softmax head needs a last layer of at least 2 units/);
});

test('plan: the seed in fp32 runs the first block fused, Winograd for conv2-conv4, direct conv5; float64 runs the reference', () => {
  const t = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, isa: 'avx2' }));
  const plan = t.plan();
  assert.equal(plan.options.isa, 'avx2');
  assert.equal(plan.options.conv, 'winograd');
  assert.equal(plan.microBatch, 1);
  const line = (s) => `${s.direction[0]} ${s.ops.join('+')} ${s.kernel}${s.inputGradient ? `/${s.inputGradient}` : ''}`;
  const lines = plan.steps.map(line);
  for (const want of [
    'f conv1+relu1+pool1 avx2', // fused: the 148x148 output is never stored
    'b conv1+relu1+pool1 avx2', // no input gradient: the image is not trained
    'f conv2+relu2 winograd-avx2',
    'b conv2 winograd-avx2/winograd-avx2',
    'b relu2+pool2 avx2', // the ReLU's backward inside the pool's
    'f conv5+relu5 avx2', // 5x5 output: direct
    'b conv5 avx2/avx2',
    'f dense1 avx2', // the dense kernels give the reference's bits at any tier
    'b dense1 avx2',
  ])
    assert.ok(lines.includes(want), `${want} in ${lines.join(', ')}`);
  assert.ok(plan.steps.find((s) => s.op === 'conv2' && s.direction === 'forward').packing === 'winograd');
  assert.equal(plan.steps.find((s) => s.op === 'conv5' && s.direction === 'backward').packing, 'flipped');
  t.dispose();
  const ref = new native.Trainer(trainerConfig({ spec: SEED7, dtype: 'float64' })).plan();
  assert.ok(ref.steps.every((s) => s.kernel === 'reference' || s.kernel === 'none'), ref.steps.map(line).join(', '));
  const direct = new native.Trainer(trainerConfig({ spec: SEED7, conv: 'direct', isa: 'scalar' })).plan();
  assert.ok(direct.steps.filter((s) => s.kind.startsWith('conv')).every((s) => s.kernel === 'reference'));
});

test('plan: batch norm makes the step run each thread\'s share at once; a tensor read twice gets its gradients added', () => {
  const t = new native.Trainer(trainerConfig({ spec: RESIDUAL, seed: 1 }));
  const plan = t.plan();
  assert.equal(plan.microBatch, 'share');
  const backward = plan.steps.filter((s) => s.direction === 'backward').map((s) => `${s.kind} ${s.op}`);
  // stem.relu feeds a and b: b's backward forms its gradient, a's adds into it; the first conv passes none on
  assert.deepEqual(backward, ['dense head', 'globalavgpool gap', 'relu sum.relu', 'add sum', 'conv b', 'relu a.relu', 'conv a', 'grad-add a', 'batchnorm stem.bn', 'conv stem']);
  // the ReLU after the batch norm runs in its passes, both ways, on the tier of the CPU (any channel count)
  const bn = plan.steps.filter((s) => s.kind === 'batchnorm');
  assert.deepEqual(bn.map((s) => s.ops.join('+')), ['stem.bn+stem.relu', 'stem.bn+stem.relu']);
  // a residual add that reads a batch norm, and the ReLU after it, run in the batch norm's forward pass; their
  // backward steps stay
  const fused = new native.Trainer(trainerConfig({ spec: RESIDUAL_BN, seed: 1 })).plan();
  assert.deepEqual(fused.steps.filter((s) => s.kind === 'batchnorm' || s.kind === 'add' || s.op === 'sum.relu').map((s) => `${s.direction} ${s.kind} ${s.ops.join('+')}${s.residual ? ` + ${s.residual}` : ''}`), [
    'forward batchnorm stem.bn+stem.relu',
    'forward batchnorm b.bn+sum+sum.relu + a.relu',
    'backward relu sum.relu',
    'backward add sum',
    'backward batchnorm b.bn',
    'backward batchnorm stem.bn+stem.relu',
  ]);
  assert.ok(bn.every((s) => s.kernel === native.buildInfo().isa.replace('scalar', 'reference')), bn.map((s) => s.kernel).join());
  assert.equal(plan.steps.find((s) => s.op === 'stem' && s.direction === 'backward').inputGradient, null);
  const simple = new native.Trainer(trainerConfig({ spec: GAP_ADD, seed: 1 })).plan();
  // small images: several per kernel call (the seed's 150x150 ones take a call each)
  assert.ok(simple.microBatch > 1 && simple.microBatch <= 32, `${simple.microBatch}`);
  // 8 channels fill an AVX2 vector, not an AVX-512 one
  assert.equal(simple.steps.find((s) => s.kind === 'globalavgpool').kernel, native.buildInfo().isa === 'scalar' ? 'reference' : 'avx2');
});

test('gradients (float64) of a residual net with batch norm, global average pooling and a softmax head, on 1 and 3 threads', (t) => {
  const { images, labels } = randomBatch(RESIDUAL, 5, 3, 3);
  for (const threads of [1, 3]) {
    const trainer = new native.Trainer(trainerConfig({ spec: RESIDUAL, seed: 2, threads, dtype: 'float64' }));
    randomize(trainer, 4);
    const worst = gradcheck(trainer, images, labels);
    t.diagnostic(`${threads} threads: worst error/tolerance ${worst.toExponential(2)}`);
    trainer.dispose();
  }
});

test('gradients (float64) of a batch norm that runs the residual add and its ReLU in its forward pass', () => {
  const { images, labels } = randomBatch(RESIDUAL_BN, 5, 3, 3);
  const trainer = new native.Trainer(trainerConfig({ spec: RESIDUAL_BN, seed: 2, threads: 2, dtype: 'float64' }));
  randomize(trainer, 4);
  gradcheck(trainer, images, labels);
});

test('gradients (float64) of a batch norm whose ReLU feeds a max-pool (the pool\'s backward takes the ReLU\'s)', () => {
  // (a plan that gave the ReLU's backward to both the batch norm and the pool corrupted memory at construction)
  const spec = {
    name: 'bn-relu-pool',
    input: [7, 7, 2],
    head: 'softmax',
    layers: [
      { type: 'conv3x3', filters: 4 }, { type: 'batchnorm', name: 'bn' }, { type: 'relu', name: 'r' },
      { type: 'maxpool2x2', name: 'p' }, { type: 'flatten' }, { type: 'dense', units: 3 },
    ],
  };
  const { images, labels } = randomBatch(spec, 5, 3, 3);
  const trainer = new native.Trainer(trainerConfig({ spec, seed: 2, threads: 2, dtype: 'float64' }));
  const steps = trainer.plan().steps.filter((s) => s.direction === 'backward').map((s) => `${s.kind} ${s.op}${s.relu ? ' relu' : ''}`);
  assert.deepEqual(steps.slice(2, 4), ['maxpool r relu', 'batchnorm bn']);
  randomize(trainer, 4);
  gradcheck(trainer, images, labels);
});

test('gradients (float64) of global average pooling and a residual add without batch norm (one image at a time)', () => {
  const { images, labels } = randomBatch(GAP_ADD, 3, 5);
  const trainer = new native.Trainer(trainerConfig({ spec: GAP_ADD, seed: 3, threads: 2, dtype: 'float64' }));
  randomize(trainer, 6);
  gradcheck(trainer, images, labels);
});

test('float32 follows float64 on these nets; the same seed and thread count give the same bits; another thread count agrees closely', async () => {
  const relative = (a, b) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) ** 2;
      den += b[i] ** 2;
    }
    return Math.sqrt(num / den);
  };
  for (const [spec, classes] of [[RESIDUAL, 3], [RESIDUAL_BN, 3], [GAP_ADD, 2]]) {
    const { images, labels } = randomBatch(spec, 6, 7, classes);
    const f64 = new native.Trainer(trainerConfig({ spec, seed: 9, threads: 2, dtype: 'float64' }));
    const g64 = f64.computeGradients(images, labels);
    const runs = [];
    for (const threads of [2, 2, 3]) {
      const f32 = new native.Trainer(trainerConfig({ spec, seed: 9, threads }));
      const g = f32.computeGradients(images, labels);
      assert.ok(Math.abs(g.loss - g64.loss) < 1e-5 * Math.max(1, g64.loss), `${spec.name}: loss ${g.loss} vs ${g64.loss}`);
      assert.ok(relative(g.gradients, g64.gradients) < 1e-4, `${spec.name}: gradients ${relative(g.gradients, g64.gradients)} from float64`);
      for (let s = 0; s < 3; s++) await f32.trainStep(images, labels, null, OPT);
      runs.push({ params: f32.getParams(), gradients: g.gradients });
    }
    assert.deepEqual(runs[0].params, runs[1].params, `${spec.name}: same threads, same bits`);
    // another split of the batch sums in another order: the same gradient up to float32 rounding
    assert.ok(relative(runs[2].gradients, runs[0].gradients) < 1e-5, `${spec.name}: 2 vs 3 threads`);
  }
});

test('batch norm: training normalises by the batch and keeps running statistics (momentum), inference uses them', async () => {
  // batch norm straight on the image: its statistics are the scaled pixels' own
  const spec = { name: 'bn-first', input: [3, 4, 3], head: 'softmax', layers: [{ type: 'batchnorm', momentum: 0.25 }, { type: 'flatten' }, { type: 'dense', units: 2 }] };
  const B = 5;
  const { images, labels } = randomBatch(spec, B, 11);
  const trainer = new native.Trainer(trainerConfig({ spec, seed: 1, threads: 2 }));
  const before = trainer.getState().state;
  assert.deepEqual([...before], [0, 0, 0, 1, 1, 1]);
  await trainer.trainStep(images, labels, null, OPT);
  const state = trainer.getState().state;
  const n = B * 12;
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let s2 = 0;
    for (let i = c; i < images.length; i += 3) {
      const x = Math.fround(images[i] * Math.fround(1 / 255));
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    const unbiased = ((s2 / n - mean * mean) * n) / (n - 1);
    assert.ok(Math.abs(state[c] - 0.75 * mean) < 1e-6, `running mean ${state[c]} vs ${0.75 * mean}`);
    assert.ok(Math.abs(state[3 + c] - (0.25 + 0.75 * unbiased)) < 1e-6, `running variance ${state[3 + c]}`);
  }
  // gradient checks do not move them
  trainer.computeGradients(images, labels);
  assert.deepEqual(trainer.getState().state, state);
  // inference normalises by the running statistics: a state with other statistics gives other probabilities
  const p1 = await trainer.predict(images);
  assert.equal(p1.length, B * 2);
  for (let b = 0; b < B; b++) assert.ok(Math.abs(p1[2 * b] + p1[2 * b + 1] - 1) < 1e-6);
  trainer.setState({ ...trainer.getState(), state: Float32Array.from([0.5, 0.5, 0.5, 0.01, 0.01, 0.01]) });
  const p2 = await trainer.predict(images);
  assert.notDeepEqual(p1, p2);
  assert.throws(() => trainer.setState({ ...trainer.getState(), state: new Float32Array(5) }), /state\.state must have 6 elements/);
});

test('batch norm: the AVX2 and AVX-512 kernels give the reference\'s bits (blocks of vectors of channels and a tail, a fused ReLU, its bits kept)', async () => {
  // dense layers (their fast kernels give the reference's bits) around batch norms of 3, 12 and 43 channels (the
  // kernels' blocks of 4, 2 and 1 vectors of channels, and a tail), the last with a residual add and a ReLU in its
  // pass; of 16 and 40 channels with a ReLU, whose backward reads the ReLU's bits (one image's a byte or five), the
  // 12 and 43 the ReLU's output
  const spec = {
    name: 'bn-tiers',
    input: [4, 4, 3],
    head: 'softmax',
    layers: [
      { type: 'batchnorm' }, { type: 'flatten' }, { type: 'dense', units: 12 }, { type: 'batchnorm' }, { type: 'relu' },
      { type: 'dense', units: 43 }, { type: 'batchnorm' }, { type: 'relu', name: 'r' },
      { type: 'dense', units: 43 }, { type: 'batchnorm', name: 'last' }, { type: 'add', inputs: ['last', 'r'] }, { type: 'relu' },
      { type: 'dense', units: 16 }, { type: 'batchnorm', name: 'm16' }, { type: 'relu' },
      { type: 'dense', units: 40 }, { type: 'batchnorm', name: 'm40' }, { type: 'relu' },
      { type: 'dense', units: 3 },
    ],
  };
  const { images, labels } = randomBatch(spec, 9, 21);
  const isas = tiersUpTo(native.buildInfo().isa);
  const runs = [];
  for (const isa of isas) {
    const t = new native.Trainer(trainerConfig({ spec, seed: 4, threads: 2, isa }));
    assert.equal(t.plan().steps.find((s) => s.kind === 'batchnorm').kernel, isa === 'scalar' ? 'reference' : isa);
    assert.equal(t.plan().steps.find((s) => s.op === 'last' && s.direction === 'forward').residual, 'r');
    const masked = t.plan().steps.filter((s) => s.reluMask).map((s) => `${s.direction} ${s.op}`);
    assert.deepEqual(masked, isa === 'scalar' ? [] : ['forward m16', 'forward m40', 'backward m40', 'backward m16']);
    const g = t.computeGradients(images, labels);
    for (let s = 0; s < 2; s++) await t.trainStep(images, labels, null, OPT);
    runs.push({ isa, gradients: g.gradients, params: t.getParams(), state: t.getState().state, p: await t.predict(images) });
  }
  for (const r of runs.slice(1)) {
    assert.deepEqual(r.gradients, runs[0].gradients, `${r.isa}: gradients`);
    assert.deepEqual(r.params, runs[0].params, `${r.isa}: parameters after two steps`);
    assert.deepEqual(r.state, runs[0].state, `${r.isa}: running statistics`);
    assert.deepEqual(r.p, runs[0].p, `${r.isa}: inference`);
  }
});

test('batch norm with a residual in its pass: the bits of the batch norm, then the add in float, then the ReLU', () => {
  const [P, C] = [37, 5];
  const r = rng(31);
  const x = Float32Array.from({ length: P * C }, () => 4 * r() - 2);
  // zeros among the residuals: where y + s is zero or -0, the ReLU must see what a separate add gives
  const s = Float32Array.from({ length: P * C }, () => (r() < 0.2 ? 0 : 4 * r() - 2));
  const mean = Float64Array.from({ length: C }, () => r() - 0.5);
  const invstd = Float64Array.from({ length: C }, () => 0.5 + r());
  const gamma = Float32Array.from({ length: C }, () => 0.5 + r());
  const beta = Float32Array.from({ length: C }, () => r() - 0.5);
  for (const relu of [false, true]) {
    const y = new Float32Array(P * C);
    native.kernels.batchnormForward(y, x, mean, invstd, gamma, beta, { P, C }, false);
    const want = y.map((v, i) => {
      const a = Math.fround(v + s[i]);
      return relu && !(a > 0) ? 0 : a;
    });
    const got = new Float32Array(P * C).fill(NaN);
    native.kernels.batchnormForward(got, x, mean, invstd, gamma, beta, { P, C }, relu, s);
    assert.deepEqual(got, want, `relu=${relu}`);
  }
});

test('softmax head: loss and accuracy by argmax; probabilities sum to 1; labels past the classes are refused', async () => {
  const { images, labels } = randomBatch(GAP_ADD, 4, 13);
  const spec = { ...GAP_ADD, head: 'softmax', layers: [...GAP_ADD.layers.slice(0, -1), { type: 'dense', units: 4 }] };
  const trainer = new native.Trainer(trainerConfig({ spec, seed: 1, threads: 2 }));
  const four = Uint8Array.from([0, 1, 2, 3]);
  const r = await trainer.evaluate(images, four);
  assert.equal(r.probabilities.length, 16);
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < 4; b++) {
    const p = r.probabilities.subarray(4 * b, 4 * b + 4);
    assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-6);
    loss -= Math.log(p[four[b]]);
    correct += p.indexOf(Math.max(...p)) === four[b];
  }
  assert.ok(Math.abs(r.loss - loss / 4) < 1e-5, `${r.loss} vs ${loss / 4}`);
  assert.equal(r.correct, correct);
  assert.throws(() => trainer.evaluate(images, Uint8Array.from([0, 1, 4, 2])), /labels\[2\] must be in \[0, 4\), got 4/);
  void labels;
});

test('the emulated CUDA backend runs global average pooling and the residual add as the CPU does', async () => {
  const { images, labels } = randomBatch(GAP_ADD, 3, 17);
  const gpu = new native.Trainer(trainerConfig({ spec: GAP_ADD, seed: 4, backend: 'cuda-emulated', conv: 'direct' }));
  const cpu = new native.Trainer(trainerConfig({ spec: GAP_ADD, seed: 4, threads: 1, dtype: 'float64' }));
  assert.deepEqual(gpu.plan().steps.filter((s) => s.kind === 'globalavgpool' || s.kind === 'add').map((s) => s.kernel), ['cuda', 'cuda', 'cuda', 'cuda']);
  const g = gpu.computeGradients(images, labels);
  const c = cpu.computeGradients(images, labels);
  assert.ok(Math.abs(g.loss - c.loss) < 1e-5, `loss ${g.loss} vs ${c.loss}`);
  for (const p of cpu.paramLayout()) {
    let num = 0;
    let den = 0;
    for (let i = p.offset; i < p.offset + p.size; i++) {
      num += (g.gradients[i] - c.gradients[i]) ** 2;
      den += c.gradients[i] ** 2;
    }
    assert.ok(Math.sqrt(num / den) < 1e-4, `${p.name}: ${Math.sqrt(num / den)}`);
  }
  // batch norm runs there too, its ReLU fused both ways as on the CPU (its kernels: gpu-recipe.test.mjs)
  const bn = new native.Trainer(trainerConfig({ spec: RESIDUAL, backend: 'cuda-emulated', conv: 'direct' }));
  assert.deepEqual(bn.plan().steps.filter((s) => s.kind === 'batchnorm').map((s) => [s.kernel, s.relu === true]), [['cuda', true], ['cuda', true]]);
  bn.dispose();
});
