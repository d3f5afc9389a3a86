// Max-pool codes: in a batch-coupled net (batch norm) the fast CPU tiers' max-pool forward keeps a byte per output
// naming which of its window's four inputs is the maximum (with a ReLU before the pool, 4 where that maximum is not
// positive), and the backward routes the gradient by it instead of reading the window's inputs again. The plan says
// where (poolCode); training and inference give the scalar reference's bits, through a plain pool on an odd map, a
// pool after a batch norm's ReLU and one after a batch norm that runs a residual add and its ReLU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { randomBatch, tiersUpTo } from './helpers.mjs';

const OPT = { lr: 0.001, rho: 0.9, epsilon: 1e-7 };

// batch norms, pools, adds and dense layers only: their fast kernels give the reference's bits, so any difference
// is the pools'. 16 channels: the fast tiers' pools take channels in vectors.
const POOLS = {
  name: 'pool-codes',
  input: [9, 9, 16],
  head: 'softmax',
  layers: [
    { type: 'batchnorm', name: 'bn0' },
    { type: 'maxpool2x2', name: 'plain' }, // 9x9 -> 4x4: the odd last row and column get no gradient
    { type: 'batchnorm', name: 'bn1' },
    { type: 'relu', name: 'r1' },
    { type: 'maxpool2x2', name: 'after-relu' }, // 4x4 -> 2x2
    { type: 'batchnorm', name: 'bn2' },
    { type: 'add', inputs: ['bn2', 'after-relu'], name: 'sum' },
    { type: 'relu', name: 'out' },
    { type: 'maxpool2x2', name: 'after-add' }, // 2x2 -> 1x1
    { type: 'flatten' },
    { type: 'dense', units: 3, name: 'head' },
  ],
};

test('max-pool codes: the fast tiers keep them where batch norm couples the batch, with the reference\'s bits', async () => {
  const { images, labels } = randomBatch(POOLS, 7, 31, 3);
  const isas = tiersUpTo(native.buildInfo().isa);
  const runs = [];
  for (const isa of isas) {
    const t = new native.Trainer(trainerConfig({ spec: POOLS, seed: 5, threads: 2, isa }));
    const pools = t.plan().steps.filter((s) => s.kind === 'maxpool');
    const coded = pools.filter((s) => s.poolCode).map((s) => `${s.direction} ${s.op}${s.relu ? ' relu' : ''}`);
    assert.deepEqual(coded, isa === 'scalar' ? [] : ['forward plain', 'forward after-relu relu', 'forward after-add relu', 'backward out relu', 'backward r1 relu', 'backward plain']);
    const g = t.computeGradients(images, labels);
    for (let s = 0; s < 2; s++) await t.trainStep(images, labels, null, OPT);
    runs.push({ isa, gradients: g.gradients, params: t.getParams(), p: await t.predict(images) });
    t.dispose();
  }
  assert.ok(runs[0].gradients.some((v) => v !== 0));
  for (const r of runs.slice(1)) {
    assert.deepEqual(r.gradients, runs[0].gradients, `${r.isa}: gradients`);
    assert.deepEqual(r.params, runs[0].params, `${r.isa}: parameters after two steps`);
    assert.deepEqual(r.p, runs[0].p, `${r.isa}: inference`);
  }
});

test('max-pool codes: none without batch norm (a micro-batch\'s inputs are still in cache for the backward)', () => {
  const layers = POOLS.layers.filter((l) => !l.name?.startsWith('bn') && l.type !== 'add');
  const spec = { ...POOLS, layers: [{ type: 'conv', kernel: 1, filters: 16 }, ...layers] };
  const t = new native.Trainer(trainerConfig({ spec, seed: 5, threads: 2 }));
  assert.equal(t.plan().microBatch > 0, true);
  const pools = t.plan().steps.filter((s) => s.kind === 'maxpool');
  assert.equal(pools.length, 6);
  assert.ok(pools.every((s) => !s.poolCode));
  t.dispose();
});
