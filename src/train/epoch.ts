// One pass over a split: the training epoch (shuffle, augmentation draws, one native step per batch) and the
// evaluation pass. Shared by `engine train` and the benchmarks so that both time the same work.
import { EngineError } from '../errors.js';
import { IMAGE_BYTES, type ImageSet } from '../data/decode.js';
import { AUGMENT_STRIDE, drawAugmentation, permutation, type Rng } from '../data/random.js';
import type { NativeTrainer, OptimizerConfig } from '../native.js';

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
 * from `rng`) and one native step. A non-finite loss stops with an error naming the epoch and step.
 */
export async function trainEpoch(
  trainer: NativeTrainer,
  set: ImageSet,
  rng: Rng,
  cfg: EpochConfig,
  epoch: number,
  onBatch?: (batch: number, batches: number, meanLoss: number) => void,
): Promise<EpochResult> {
  const t0 = performance.now();
  const batches = Math.ceil(set.size / cfg.batchSize);
  const images = new Uint8Array(cfg.batchSize * IMAGE_BYTES); // [B, 150, 150, 3]
  const labels = new Uint8Array(cfg.batchSize); // [B]
  const augment = new Float64Array(cfg.batchSize * AUGMENT_STRIDE); // [B, 4]
  const order = permutation(set.size, rng);
  let lossSum = 0;
  let correct = 0;
  for (let b = 0; b < batches; b++) {
    const start = b * cfg.batchSize;
    const n = Math.min(cfg.batchSize, set.size - start);
    for (let i = 0; i < n; i++) {
      const src = order[start + i];
      images.set(set.images.subarray(src * IMAGE_BYTES, (src + 1) * IMAGE_BYTES), i * IMAGE_BYTES);
      labels[i] = set.labels[src];
    }
    if (cfg.augment) drawAugmentation(augment, n, rng);
    const aug = cfg.augment ? augment.subarray(0, n * AUGMENT_STRIDE) : null;
    const r = await trainer.trainStep(images.subarray(0, n * IMAGE_BYTES), labels.subarray(0, n), aug, cfg.optimizer);
    if (!Number.isFinite(r.loss))
      throw new EngineError(`training diverged: the loss is ${r.loss} at epoch ${epoch}, step ${b + 1}/${batches} (try a smaller --lr)`, 1);
    lossSum += r.loss * n;
    correct += r.correct;
    onBatch?.(b + 1, batches, lossSum / (start + n));
  }
  return { loss: lossSum / set.size, acc: correct / set.size, seconds: (performance.now() - t0) / 1000 };
}

/** Mean loss and accuracy of the current weights on a whole split, in chunks (no augmentation, no dropout). */
export async function evaluateSplit(trainer: Pick<NativeTrainer, 'evaluate'>, set: ImageSet, chunk = 256): Promise<{ loss: number; acc: number }> {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < set.size; i += chunk) {
    const n = Math.min(chunk, set.size - i);
    const r = await trainer.evaluate(set.images.subarray(i * IMAGE_BYTES, (i + n) * IMAGE_BYTES), set.labels.subarray(i, i + n));
    loss += r.loss * n;
    correct += r.correct;
  }
  return { loss: loss / set.size, acc: correct / set.size };
}
