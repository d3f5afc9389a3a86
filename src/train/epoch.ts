// One pass over a split: the training epoch (shuffle, augmentation draws, one native step per batch) and the
// evaluation pass. Shared by `engine train` and the benchmarks so that both time the same work.
import { checkStepFinite } from './diverged.js';
import { type ImageSet } from '../data/decode.js';
import { AUGMENT_STRIDE, drawAugmentation, permutation, type Rng } from '../data/random.js';
import { CROP_STRIDE, drawCropAugmentation, type CropAugmentConfig } from '../data/crop-augment.js';
import type { NativeTrainer, OptimizerConfig } from '../native.js';
import { isImageSource, memorySource, type ImageSource } from '../data/image-store.js';
import { averageScores, mirrorImages } from '../data/tta.js';

export interface EpochConfig {
  batchSize: number;
  /** true or 'keras': the seed's warp (4 numbers an image); 'crop': the small-image augmentation (8); false: none */
  augment: boolean | 'keras' | 'crop';
  /** with augment 'crop': what it draws, and the images' [height, width] */
  crop?: CropAugmentConfig & { height: number; width: number };
  /** the optimizer's settings; `lr` is every step's unless lrAt is given */
  optimizer: OptimizerConfig;
  /** the learning rate of the epoch's step b (0-based): the schedule's */
  lrAt?: (b: number) => number;
}

export interface EpochResult {
  /** mean training loss and accuracy over the epoch's images, as Keras reports them */
  loss: number;
  acc: number;
  seconds: number;
  /** the learning rate of the epoch's last step */
  lr: number;
}

/** One training step of an epoch: batch `b` of `batches` holds the images order[start, start + n). */
export interface EpochStep {
  b: number;
  batches: number;
  order: Uint32Array;
  start: number;
  n: number;
  /** [n, 4] (keras) or [n, 8] (crop) augmentation parameters, or null without augmentation */
  augment: Float64Array | null;
  /** the step's optimizer settings (the schedule's lr) */
  optimizer: OptimizerConfig;
}

/**
 * The skeleton of every training epoch, whatever runs the step: a permutation of `size` images drawn from
 * `rng`, then per batch the augmentation parameters (also from `rng`, in this order, so that every trainer sees
 * the same batches and warps for a seed), one step, and the running mean loss and accuracy.
 */
export async function runEpochSteps(
  size: number,
  rng: Rng,
  cfg: EpochConfig,
  step: (s: EpochStep) => Promise<{ loss: number; correct: number }>,
  onBatch?: (batch: number, batches: number, meanLoss: number) => void,
): Promise<EpochResult> {
  const t0 = performance.now();
  const batches = Math.ceil(size / cfg.batchSize);
  const kind = cfg.augment === true ? 'keras' : cfg.augment;
  if (kind === 'crop' && !cfg.crop) throw new RangeError("augment 'crop' needs the crop settings");
  const stride = kind === 'crop' ? CROP_STRIDE : AUGMENT_STRIDE;
  const augment = new Float64Array(cfg.batchSize * stride); // [B, 4] or [B, 8]
  const order = permutation(size, rng);
  let lossSum = 0;
  let correct = 0;
  let optimizer = cfg.optimizer;
  for (let b = 0; b < batches; b++) {
    const start = b * cfg.batchSize;
    const n = Math.min(cfg.batchSize, size - start);
    if (kind === 'keras') drawAugmentation(augment, n, rng);
    else if (kind === 'crop') drawCropAugmentation(augment, n, rng, cfg.crop!, cfg.crop!.height, cfg.crop!.width);
    if (cfg.lrAt) optimizer = { ...cfg.optimizer, lr: cfg.lrAt(b) };
    const r = await step({ b, batches, order, start, n, augment: kind ? augment.subarray(0, n * stride) : null, optimizer });
    lossSum += r.loss * n;
    correct += r.correct;
    onBatch?.(b + 1, batches, lossSum / (start + n));
  }
  return { loss: lossSum / size, acc: correct / size, seconds: (performance.now() - t0) / 1000, lr: optimizer.lr };
}

/** A trainer that holds a dataset (uploadImages) and steps on images picked by index: the CPU and CUDA trainers. */
export type IndexedTrainer = Pick<NativeTrainer, 'trainStepIndexed' | 'getState'> & { info(): { params: number } };

/** The split each trainer last got through uploadImages from trainEpoch. */
const uploaded = new WeakMap<object, ImageSet | ImageSource>();

/**
 * Trains one epoch on the CPU trainer (runEpochSteps). A split in memory goes to the trainer once
 * (uploadImages: a native copy, made again only for another split object; a split changed in place after that
 * is not seen) and each step sends only indices; a split read from disk is copied batch by batch, the next
 * batch read while the current step runs. A NaN/Inf loss or weight stops with TrainingDiverged naming the epoch
 * and step.
 */
export async function trainEpoch(
  trainer: NativeTrainer,
  set: ImageSet | ImageSource,
  rng: Rng,
  cfg: EpochConfig,
  epoch: number,
  onBatch?: (batch: number, batches: number, meanLoss: number) => void,
): Promise<EpochResult> {
  const source = isImageSource(set) ? set : memorySource(set);
  if (source.inMemory && typeof trainer.uploadImages === 'function') {
    if (uploaded.get(trainer) !== set) {
      const images = await source.range(0, set.size, new Uint8Array(0));
      trainer.uploadImages(images, source.labels.subarray(0, set.size));
      uploaded.set(trainer, set);
    }
    return trainEpochIndexed(trainer, set, rng, cfg, epoch, onBatch);
  }
  // Two batch buffers: the next batch is read (from disk, for a cached split) while the current step runs.
  const bytes = source.imageBytes;
  const slots = [0, 1].map(() => ({
    images: new Uint8Array(cfg.batchSize * bytes), // [B, H, W, C]
    labels: new Uint8Array(cfg.batchSize), // [B]
  }));
  const fill = async (order: Uint32Array, b: number) => {
    const slot = slots[b % 2];
    const picks = order.subarray(b * cfg.batchSize, Math.min((b + 1) * cfg.batchSize, set.size));
    for (let i = 0; i < picks.length; i++) slot.labels[i] = source.labels[picks[i]];
    await source.gather(slot.images, picks);
  };
  let pending: Promise<void> | undefined;
  const weights = trainer.info().params;
  return runEpochSteps(
    set.size,
    rng,
    cfg,
    async ({ b, batches, order, n, augment, optimizer }) => {
      await (pending ?? fill(order, 0));
      const { images, labels } = slots[b % 2];
      pending = undefined;
      // the step takes its copy of the batch when called; the next batch is gathered (a copy on this thread, for
      // images in memory) while the step runs on the native threads
      const step = trainer.trainStep(images.subarray(0, n * bytes), labels.subarray(0, n), augment, optimizer);
      if (b + 1 < batches) {
        pending = fill(order, b + 1);
        pending.catch(() => undefined); // awaited next step; this only keeps a failed read from being "unhandled"
      }
      const r = await step;
      checkStepFinite(r.loss, r.nonFiniteWeights, weights, epoch, b + 1, batches, () => trainer.getState().step);
      return r;
    },
    onBatch,
  );
}

/** trainEpoch for a trainer that holds `set` (uploadImages): per step only indices and augmentation go in. */
export async function trainEpochIndexed(
  trainer: IndexedTrainer,
  set: ImageSet | ImageSource,
  rng: Rng,
  cfg: EpochConfig,
  epoch: number,
  onBatch?: (batch: number, batches: number, meanLoss: number) => void,
): Promise<EpochResult> {
  const indices = new Int32Array(cfg.batchSize); // [B]
  const weights = trainer.info().params;
  return runEpochSteps(
    set.size,
    rng,
    cfg,
    async ({ b, batches, order, start, n, augment, optimizer }) => {
      for (let i = 0; i < n; i++) indices[i] = order[start + i];
      const r = await trainer.trainStepIndexed(indices.subarray(0, n), augment, optimizer);
      checkStepFinite(r.loss, r.nonFiniteWeights, weights, epoch, b + 1, batches, () => trainer.getState().step);
      return r;
    },
    onBatch,
  );
}

/**
 * Mean loss and accuracy of the current weights (`ema`: their moving average) on a whole split, in chunks (no
 * augmentation, no dropout).
 */
export async function evaluateSplit(
  trainer: Pick<NativeTrainer, 'evaluate'>,
  set: ImageSet | ImageSource,
  chunk = 256,
  opts: { ema?: boolean } = {},
): Promise<{ loss: number; acc: number }> {
  const source = isImageSource(set) ? set : memorySource(set);
  const scratch = new Uint8Array(source.inMemory ? 0 : chunk * source.imageBytes); // [chunk, H, W, C] when read from disk
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < set.size; i += chunk) {
    const n = Math.min(chunk, set.size - i);
    const [images, labels] = [await source.range(i, n, scratch), set.labels.subarray(i, i + n)];
    const r = await (opts.ema ? trainer.evaluate(images, labels, { ema: true }) : trainer.evaluate(images, labels));
    loss += r.loss * n;
    correct += r.correct;
  }
  return { loss: loss / set.size, acc: correct / set.size };
}

/**
 * The model's scores of every image of a split ([size, columns]: P(class 1) for a sigmoid head, every class's
 * probability for a softmax head), by the current weights or (`ema`) their moving average; with tta 'flip', the
 * average of the scores of each image and of its mirror image.
 */
export async function predictSplit(
  trainer: Pick<NativeTrainer, 'predict'>,
  set: ImageSet | ImageSource,
  opts: { ema?: boolean; tta?: 'none' | 'flip'; chunk?: number } = {},
): Promise<Float32Array> {
  const source = isImageSource(set) ? set : memorySource(set);
  const chunk = opts.chunk ?? 256;
  const scratch = new Uint8Array(source.inMemory ? 0 : chunk * source.imageBytes);
  const mirrored = new Uint8Array(opts.tta === 'flip' ? chunk * source.imageBytes : 0);
  const run = (images: Uint8Array) => (opts.ema ? trainer.predict(images, { ema: true }) : trainer.predict(images));
  const parts: Float32Array[] = [];
  for (let i = 0; i < set.size; i += chunk) {
    const n = Math.min(chunk, set.size - i);
    const images = await source.range(i, n, scratch);
    const scores = await run(images);
    if (opts.tta === 'flip') {
      const [h, w, c] = source.shape;
      parts.push(averageScores(scores, await run(mirrorImages(mirrored.subarray(0, n * source.imageBytes), images, n, h, w, c))));
    } else parts.push(scores);
  }
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
}
