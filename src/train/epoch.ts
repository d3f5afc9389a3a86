// One pass over a split: the training epoch (shuffle, augmentation draws, one native step per batch) and the
// evaluation pass. Shared by `engine train` and the benchmarks so that both time the same work.
import { checkStepFinite } from './diverged.js';
import { IMAGE_BYTES, type ImageSet } from '../data/decode.js';
import { AUGMENT_STRIDE, drawAugmentation, permutation, type Rng } from '../data/random.js';
import type { NativeTrainer, OptimizerConfig } from '../native.js';
import { isImageSource, memorySource, type ImageSource } from '../data/image-store.js';

export interface EpochConfig {
  batchSize: number;
  augment: boolean;
  optimizer: OptimizerConfig;
}

export interface EpochResult {
  /** mean training loss and accuracy over the epoch's images, as Keras reports them */
  loss: number;
  acc: number;
  seconds: number;
}

/**
 * Trains one epoch: a permutation of `set` drawn from `rng`, then per batch the augmentation parameters (also
 * from `rng`) and one native step. A NaN/Inf loss or weight stops with TrainingDiverged naming the epoch and step.
 */
export async function trainEpoch(
  trainer: NativeTrainer,
  set: ImageSet | ImageSource,
  rng: Rng,
  cfg: EpochConfig,
  epoch: number,
  onBatch?: (batch: number, batches: number, meanLoss: number) => void,
): Promise<EpochResult> {
  const t0 = performance.now();
  const source = isImageSource(set) ? set : memorySource(set);
  const batches = Math.ceil(set.size / cfg.batchSize);
  // Two batch buffers: the next batch is read (from disk, for a cached split) while the current step runs.
  const slots = [0, 1].map(() => ({
    images: new Uint8Array(cfg.batchSize * IMAGE_BYTES), // [B, 150, 150, 3]
    labels: new Uint8Array(cfg.batchSize), // [B]
  }));
  const augment = new Float64Array(cfg.batchSize * AUGMENT_STRIDE); // [B, 4]
  const order = permutation(set.size, rng);
  const fill = async (b: number) => {
    const slot = slots[b % 2];
    const picks = order.subarray(b * cfg.batchSize, Math.min((b + 1) * cfg.batchSize, set.size));
    for (let i = 0; i < picks.length; i++) slot.labels[i] = source.labels[picks[i]];
    await source.gather(slot.images, picks);
  };
  let lossSum = 0;
  let correct = 0;
  let pending = fill(0);
  for (let b = 0; b < batches; b++) {
    const start = b * cfg.batchSize;
    const n = Math.min(cfg.batchSize, set.size - start);
    await pending;
    const { images, labels } = slots[b % 2];
    if (b + 1 < batches) {
      pending = fill(b + 1);
      pending.catch(() => undefined); // awaited next iteration; this only keeps a failed read from being "unhandled"
    }
    if (cfg.augment) drawAugmentation(augment, n, rng);
    const aug = cfg.augment ? augment.subarray(0, n * AUGMENT_STRIDE) : null;
    const r = await trainer.trainStep(images.subarray(0, n * IMAGE_BYTES), labels.subarray(0, n), aug, cfg.optimizer);
    checkStepFinite(r.loss, trainer.getParams(), epoch, b + 1, batches, () => trainer.getState().step);
    lossSum += r.loss * n;
    correct += r.correct;
    onBatch?.(b + 1, batches, lossSum / (start + n));
  }
  return { loss: lossSum / set.size, acc: correct / set.size, seconds: (performance.now() - t0) / 1000 };
}

/** Mean loss and accuracy of the current weights on a whole split, in chunks (no augmentation, no dropout). */
export async function evaluateSplit(trainer: Pick<NativeTrainer, 'evaluate'>, set: ImageSet | ImageSource, chunk = 256): Promise<{ loss: number; acc: number }> {
  const source = isImageSource(set) ? set : memorySource(set);
  const scratch = new Uint8Array(source.inMemory ? 0 : chunk * IMAGE_BYTES); // [chunk, 150, 150, 3] when read from disk
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < set.size; i += chunk) {
    const n = Math.min(chunk, set.size - i);
    const r = await trainer.evaluate(await source.range(i, n, scratch), set.labels.subarray(i, i + n));
    loss += r.loss * n;
    correct += r.correct;
  }
  return { loss: loss / set.size, acc: correct / set.size };
}
