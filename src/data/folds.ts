// Stratified, seeded K-fold assignment for `engine cv`: every class's images are shuffled by a generator seeded
// from the run's seed and dealt round-robin to the folds, each class starting where the one before stopped, so
// the folds' sizes differ by at most one and each fold holds its share of every class (scikit-learn's
// StratifiedKFold keeps the same proportions; the draw here is the engine's own).
import { UsageError } from '../errors.js';
import { permutation, Rng } from './random.js';

/** The seed of the fold draw: the run's seed xor 'fold', so it is not the run's data order. */
const foldSeed = (seed: number) => (seed ^ 0x666f6c64) >>> 0;

/**
 * The fold (0..k-1) of each image, by its class label. Every class needs at least k images (one in each fold);
 * `classes` names them in the message.
 */
export function stratifiedFolds(labels: ArrayLike<number>, k: number, seed: number, classes?: readonly string[]): Uint8Array {
  if (!Number.isInteger(k) || k < 2 || k > 255) throw new UsageError(`--folds must be an integer in [2, 255], got ${JSON.stringify(k)}`);
  const count = Array.from(labels).reduce((m, l) => Math.max(m, l + 1), 0);
  const byClass: number[][] = Array.from({ length: count }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  byClass.forEach((rows, c) => {
    if (rows.length < k)
      throw new UsageError(`--folds ${k}: class '${classes?.[c] ?? c}' has ${rows.length} image${rows.length === 1 ? '' : 's'}; every class needs at least one in each fold`);
  });
  const rng = new Rng(foldSeed(seed));
  const fold = new Uint8Array(labels.length);
  let next = 0;
  for (const rows of byClass) {
    const p = permutation(rows.length, rng);
    for (let j = 0; j < rows.length; j++) fold[rows[p[j]]] = (next + j) % k;
    next = (next + rows.length) % k;
  }
  return fold;
}
