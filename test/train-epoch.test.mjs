// The training epoch (src/train/epoch.ts) against a fake trainer that records every trainStep: each batch
// gets the images of the seeded permutation and exactly the augmentation rows that replaying permutation +
// drawAugmentation from the same seed gives; without augmentation it gets null and no draws are spent. A
// trainer that takes uploads gets the same batches by index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainEpoch } from '../dist/src/train/epoch.js';
import { AUGMENT_STRIDE, Rng, drawAugmentation, permutation } from '../dist/src/data/random.js';
import { IMAGE_BYTES } from '../dist/src/data/decode.js';
import { memorySource } from '../dist/src/data/image-store.js';
import { TrainingDiverged } from '../dist/src/train/diverged.js';

const OPTIMIZER = { lr: 0.001, rho: 0.9, epsilon: 1e-7 };

/** An in-memory split of `size` images, image i filled with the byte i + 1 (so a batch slot names its image). */
function fakeSet(size) {
  const images = new Uint8Array(size * IMAGE_BYTES);
  for (let i = 0; i < size; i++) images.fill(i + 1, i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);
  return { files: [], classes: ['man', 'woman'], size, images, labels: Uint8Array.from({ length: size }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0) };
}

/** A trainer that records copies of its trainStep arguments (the epoch reuses its buffers) and returns `result(k)`. */
function fakeTrainer(result = (k) => ({ loss: 0.5 + k / 100, correct: k % 2, nonFiniteWeights: 0 })) {
  const calls = [];
  return {
    calls,
    info: () => ({ params: 91329 }),
    getState: () => ({ step: calls.length, accumulators: new Float32Array(0) }),
    async trainStep(images, labels, augment, optimizer) {
      const n = labels.length;
      assert.equal(images.length, n * IMAGE_BYTES, 'images hold exactly the batch');
      const whole = Array.from({ length: n }, (_, i) => images[i * IMAGE_BYTES]);
      for (let i = 0; i < n; i++) {
        const img = images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);
        assert.ok(img.every((v) => v === whole[i]), `batch ${calls.length} slot ${i} is not one whole image`);
      }
      calls.push({ imageIds: whole.map((v) => v - 1), labels: Array.from(labels), augment: augment === null ? null : Float64Array.from(augment), optimizer: { ...optimizer } });
      return result(calls.length - 1);
    },
  };
}

/** What an epoch over `size` images with batch `batchSize` must draw from `rng`: the order and each batch's rows. */
function replayEpoch(size, batchSize, rng, augment) {
  const order = permutation(size, rng);
  const batches = [];
  for (let start = 0; start < size; start += batchSize) {
    const n = Math.min(batchSize, size - start);
    let rows = null;
    if (augment) {
      rows = new Float64Array(n * AUGMENT_STRIDE);
      drawAugmentation(rows, n, rng);
    }
    batches.push({ ids: Array.from(order.subarray(start, start + n)), rows });
  }
  return batches;
}

test('trainEpoch: each batch gets the permutation\'s images and the [n,4] augmentation rows the seed replays', async () => {
  const set = fakeSet(11);
  const trainer = fakeTrainer();
  const rng = new Rng(1234);
  const progress = [];
  const cfg = { batchSize: 4, augment: true, optimizer: OPTIMIZER };
  const result = await trainEpoch(trainer, set, rng, cfg, 1, (b, n, loss) => progress.push([b, n, loss]));

  const replay = new Rng(1234);
  const expected = replayEpoch(11, 4, replay, true);
  assert.equal(trainer.calls.length, 3, '11 images in batches of 4: 4, 4, 3');
  trainer.calls.forEach((call, b) => {
    assert.deepEqual(call.imageIds, expected[b].ids, `batch ${b}: images in the permutation's order`);
    assert.deepEqual(call.labels, expected[b].ids.map((i) => set.labels[i]), `batch ${b}: their labels`);
    assert.equal(call.augment.length, expected[b].ids.length * AUGMENT_STRIDE, `batch ${b}: [n, 4] rows`);
    assert.deepEqual(call.augment, expected[b].rows, `batch ${b}: the replayed augmentation draws`);
    assert.deepEqual(call.optimizer, OPTIMIZER);
  });
  // every image once per epoch, and the rows are real draws (shear within ±0.2°, zoom in [0.8, 1.2), flip 0/1)
  assert.deepEqual(trainer.calls.flatMap((c) => c.imageIds).sort((a, b) => a - b), [...Array(11).keys()]);
  const rows = trainer.calls.flatMap((c) => Array.from(c.augment));
  for (let i = 0; i < rows.length; i += 4) {
    assert.ok(Math.abs(rows[i]) <= (0.2 * Math.PI) / 180 && rows[i] !== 0, `shear ${rows[i]}`);
    assert.ok(rows[i + 1] >= 0.8 && rows[i + 1] < 1.2 && rows[i + 2] >= 0.8 && rows[i + 2] < 1.2);
    assert.ok(rows[i + 3] === 0 || rows[i + 3] === 1);
  }
  // the generator is left where the replay is: the next epoch continues the same stream
  assert.deepEqual(rng.getState(), replay.getState());

  // mean loss and accuracy weighted by batch size; onBatch reports the running mean
  const losses = [0.5, 0.51, 0.52];
  const mean = (0.5 * 4 + 0.51 * 4 + 0.52 * 3) / 11;
  assert.ok(Math.abs(result.loss - mean) < 1e-15, `${result.loss}`);
  assert.equal(result.acc, 1 / 11);
  assert.deepEqual(progress.map(([b, n]) => [b, n]), [[1, 3], [2, 3], [3, 3]]);
  assert.ok(Math.abs(progress[0][2] - losses[0]) < 1e-15 && Math.abs(progress[2][2] - result.loss) < 1e-15);
});

test('trainEpoch with augment:false passes null and draws nothing but the permutations, epoch after epoch', async () => {
  const set = fakeSet(10);
  const trainer = fakeTrainer();
  const rng = new Rng(99);
  const cfg = { batchSize: 3, augment: false, optimizer: OPTIMIZER };
  await trainEpoch(trainer, set, rng, cfg, 1);
  await trainEpoch(trainer, set, rng, cfg, 2);
  const replay = new Rng(99);
  const expected = [...replayEpoch(10, 3, replay, false), ...replayEpoch(10, 3, replay, false)];
  assert.equal(trainer.calls.length, 8);
  trainer.calls.forEach((call, b) => {
    assert.equal(call.augment, null, `batch ${b}`);
    assert.deepEqual(call.imageIds, expected[b].ids, `batch ${b}`);
  });
  assert.deepEqual(rng.getState(), replay.getState());
  // with augmentation the second epoch's order differs: the draws between the permutations move the stream
  const augmented = fakeTrainer();
  const rngA = new Rng(99);
  await trainEpoch(augmented, set, rngA, { ...cfg, augment: true }, 1);
  await trainEpoch(augmented, set, rngA, { ...cfg, augment: true }, 2);
  assert.deepEqual(augmented.calls.slice(0, 4).map((c) => c.imageIds), trainer.calls.slice(0, 4).map((c) => c.imageIds));
  assert.notDeepEqual(augmented.calls.slice(4).map((c) => c.imageIds), trainer.calls.slice(4).map((c) => c.imageIds));
});

/** fakeTrainer plus uploadImages/trainStepIndexed: records the uploads and each indexed step as trainStep's calls. */
function fakeIndexedTrainer() {
  const t = fakeTrainer();
  let dataset = null;
  t.uploads = 0;
  t.uploadImages = (images, labels) => {
    dataset = { images: images.slice(), labels: labels.slice() }; // the native trainer copies too
    t.uploads++;
    return labels.length;
  };
  t.trainStepIndexed = (indices, augment, optimizer) => {
    const ids = Array.from(indices);
    const images = new Uint8Array(ids.length * IMAGE_BYTES);
    ids.forEach((id, j) => images.set(dataset.images.subarray(id * IMAGE_BYTES, (id + 1) * IMAGE_BYTES), j * IMAGE_BYTES));
    return t.trainStep(images, Uint8Array.from(ids, (id) => dataset.labels[id]), augment, optimizer);
  };
  return t;
}

test('trainEpoch: a split in memory goes to a trainer with uploadImages once, then steps by index on the same batches', async () => {
  const set = fakeSet(11);
  const cfg = { batchSize: 4, augment: true, optimizer: OPTIMIZER };
  const copying = fakeTrainer();
  const indexed = fakeIndexedTrainer();
  const steps = [];
  const trainStepIndexed = indexed.trainStepIndexed;
  indexed.trainStepIndexed = (indices, ...rest) => (steps.push(indices.length), trainStepIndexed(indices, ...rest));
  const [rngC, rngI] = [new Rng(77), new Rng(77)];
  for (const epoch of [1, 2]) {
    const c = await trainEpoch(copying, set, rngC, cfg, epoch);
    const i = await trainEpoch(indexed, set, rngI, cfg, epoch);
    assert.deepEqual({ ...i, seconds: 0 }, { ...c, seconds: 0 }, `epoch ${epoch}`);
  }
  assert.equal(indexed.uploads, 1, 'one upload for two epochs on the same split');
  assert.deepEqual(steps, [4, 4, 3, 4, 4, 3], 'every step went by index');
  assert.deepEqual(indexed.calls, copying.calls, 'same images, labels, augmentation rows and optimizer per step');
  assert.deepEqual(rngI.getState(), rngC.getState());
  // another split object is uploaded in its turn
  await trainEpoch(indexed, fakeSet(5), new Rng(1), cfg, 3);
  assert.equal(indexed.uploads, 2);
  // a split read from disk is never uploaded: its batches are copied
  const onDisk = { ...memorySource(set), inMemory: false };
  const before = steps.length;
  await trainEpoch(indexed, onDisk, new Rng(77), cfg, 1);
  assert.equal(indexed.uploads, 2);
  assert.equal(steps.length, before, 'no indexed step for a split on disk');
  assert.deepEqual(indexed.calls.slice(-3), copying.calls.slice(0, 3), 'the disk split gives the same batches');
});

test('trainEpoch stops on a non-finite loss or weights (TrainingDiverged naming epoch and step) and on a failed step', async () => {
  const set = fakeSet(6);
  const cfg = { batchSize: 2, augment: true, optimizer: OPTIMIZER };
  const nanLoss = fakeTrainer((k) => ({ loss: k === 1 ? NaN : 0.5, correct: 0, nonFiniteWeights: 0 }));
  await assert.rejects(trainEpoch(nanLoss, set, new Rng(1), cfg, 7), (e) => {
    assert.ok(e instanceof TrainingDiverged);
    assert.equal(e.exitCode, 1);
    assert.match(e.message, /^training diverged at epoch 7, step 2\/3 \(optimizer step 2\): the loss is NaN/);
    return true;
  });
  assert.equal(nanLoss.calls.length, 2, 'no step after the bad one');
  const badWeights = fakeTrainer((k) => ({ loss: 0.5, correct: 0, nonFiniteWeights: k === 2 ? 5 : 0 }));
  await assert.rejects(trainEpoch(badWeights, set, new Rng(1), cfg, 1), /step 3\/3 .*5 of 91329 weights became NaN or Inf/);
  const failing = fakeTrainer();
  failing.trainStep = async () => {
    throw new Error('native step failed');
  };
  await assert.rejects(trainEpoch(failing, set, new Rng(1), cfg, 1), /native step failed/);
});
