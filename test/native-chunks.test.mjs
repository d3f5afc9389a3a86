// A batch-coupled network's forward phases in chunks of images (native/model/plan.cpp plan_chunks, native/cpu
// network.cpp run_coupled): each thread takes its share from one batch norm's barrier to the next a few images at a
// time, so a phase's tensors stay in cache from step to step. Every kernel there treats the images apart or
// continues its sums image by image, so chunks of any size give the bits of none (ENGINE_CHUNK=0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { residualBlock } from '../dist/src/model/spec.js';
import { randomBatch, withEnv } from './helpers.mjs';

const OPT = { lr: 0.01, rho: 0.9, epsilon: 1e-7 };

/** fmnist-res's ops on 12x12 maps: a padded stem, its residual blocks (residualBlock: batch norms with the add and
 * ReLU in their pass, an identity and a projection block), a max-pool, dropout (whose masks follow the images'
 * indices), a softmax head */
const NET = {
  name: 'chunks',
  input: [12, 12, 1],
  head: 'softmax',
  layers: [
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'stem' },
    { type: 'batchnorm', name: 'stem.bn' },
    { type: 'relu', name: 'stem.relu' },
    ...residualBlock('a', 'stem.relu', 16),
    { type: 'maxpool2x2', name: 'p' },
    { type: 'dropout', rate: 0.3, name: 'drop' },
    ...residualBlock('b', 'drop', 32, { project: true }),
    { type: 'globalavgpool' },
    { type: 'dense', units: 4, name: 'head' },
  ],
};

/** a Trainer created with ENGINE_CHUNK set to `bytes` (undefined: unset) */
const trainerWith = (bytes, options) => withEnv({ ENGINE_CHUNK: bytes }, () => new native.Trainer(trainerConfig(options)));

const chunksOf = (t) => t.plan().steps.filter((s) => s.direction === 'forward' && s.kind === 'batchnorm').map((s) => s.chunkImages ?? 0);

test('the plan chunks the forward phases of a batch-coupled float32 network by bytes; ENGINE_CHUNK sets them, 0 none', () => {
  const opts = { spec: NET, seed: 1, threads: 2 };
  const auto = trainerWith(undefined, opts);
  assert.equal(auto.plan().options.env.ENGINE_CHUNK, null);
  // 512 KB: a phase of the 12x12 stage reads and writes ~9 KB an image per tensor
  assert.ok(chunksOf(auto).every((c) => c >= 10), chunksOf(auto).join());
  const small = trainerWith(60000, opts);
  assert.equal(small.plan().options.env.ENGINE_CHUNK, '60000');
  // the stem's phase: the image, the stem's output and the batch norm's input, 576 + 2 * 9216 bytes an image, 3 at a
  // time; block b's last two (the batch norm's pass before, 2 * 4608 bytes, a conv's input and output, 2304 or
  // 4608 and 4608, the next batch norm's input, 4608), 2; the others, 46 KB an image, 1
  assert.deepEqual(chunksOf(small), [3, 1, 1, 1, 2, 2]);
  assert.ok(chunksOf(trainerWith(0, opts)).every((c) => c === 0));
  // no chunks in the float64 reference
  assert.ok(chunksOf(trainerWith(20000, { ...opts, dtype: 'float64' })).every((c) => c === 0));
  assert.throws(() => trainerWith('lots', opts), (e) => e instanceof RangeError && /ENGINE_CHUNK must be a number of bytes \(0: no chunks\), got 'lots'/.test(e.message));
  assert.throws(() => trainerWith('-5', opts), (e) => e instanceof RangeError && /ENGINE_CHUNK/.test(e.message));
});

test('chunks of 1 to 5 images (ragged ends), or any, give the bits of none: gradients, parameters and running statistics after training steps', async () => {
  // 22 images: shares of 11, chunks that do not divide them
  const { images, labels } = randomBatch(NET, 22, 9, 4);
  const runs = [];
  for (const bytes of [0, 20000, 100000, undefined]) {
    const t = trainerWith(bytes, { spec: NET, seed: 5, threads: 2 });
    const g = t.computeGradients(images, labels);
    for (let s = 0; s < 3; s++) await t.trainStep(images, labels, null, OPT);
    runs.push({ bytes, chunks: chunksOf(t), gradients: g.gradients, loss: g.loss, params: t.getParams(), state: t.getState().state, p: await t.predict(images) });
    t.dispose();
  }
  assert.deepEqual(runs.slice(0, 3).map((r) => r.chunks.join()), ['0,0,0,0,0,0', '1,1,1,1,1,1', '5,2,2,2,4,4']);
  for (const r of runs.slice(1)) {
    assert.deepEqual(r.gradients, runs[0].gradients, `ENGINE_CHUNK=${r.bytes}: gradients`);
    assert.equal(r.loss, runs[0].loss);
    assert.deepEqual(r.params, runs[0].params, `ENGINE_CHUNK=${r.bytes}: parameters after three steps (dropout on)`);
    assert.deepEqual(r.state, runs[0].state, `ENGINE_CHUNK=${r.bytes}: running statistics`);
    assert.deepEqual(r.p, runs[0].p, `ENGINE_CHUNK=${r.bytes}: inference`);
  }
});

// Blocks on AMX tiles (here their C++ model) keep bf16 copies of their outputs for the next block, per image: a chunk
// writes and reads its own images' copies
const TILES = {
  name: 'chunks-tiles',
  input: [20, 20, 3],
  head: 'softmax',
  layers: [
    { type: 'conv3x3', filters: 32, name: 'c1' },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'conv3x3', filters: 32, name: 'c2' },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'batchnorm', name: 'bn' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 3 },
  ],
};

test('bf16 blocks on AMX tiles in chunks of one image give the gradients of none', { skip: !native.buildInfo().bf16 && 'this CPU has no AVX512-BF16' }, () => {
  const { images, labels } = randomBatch(TILES, 12, 3, 3);
  const runs = [0, 2000].map((bytes) => {
    const t = withEnv({ ENGINE_CHUNK: bytes, ENGINE_BF16: 'amx-emulated' }, () => new native.Trainer(trainerConfig({ spec: TILES, seed: 1, threads: 2, precision: 'bf16' })));
    const steps = t.plan().steps.filter((s) => s.direction === 'forward');
    const g = t.computeGradients(images, labels);
    t.dispose();
    return { steps, gradients: g.gradients };
  });
  assert.deepEqual(runs[1].steps.filter((s) => s.bf16Out || s.bf16In).map((s) => `${s.op} ${s.kernel}`), ['c1 amx-emulated', 'c2 amx-emulated']);
  assert.deepEqual(runs.map((r) => r.steps.find((s) => s.op === 'bn').chunkImages ?? 0), [0, 1]);
  assert.deepEqual(runs[1].gradients, runs[0].gradients);
});
