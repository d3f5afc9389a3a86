// One entry point for "split X of the data folder", whichever layout the folder has: the seed's
// DIR/<split>/<class>/ folders, CelebA's own img_align_celeba/ with its attribute and partition lists, or the four
// IDX files of the MNIST family. Also where a run's validation images come from when the data has no val split
// (--val): the test split, or a seeded, class-stratified part of train held out.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { CELEBA_SPLITS, isCelebaLayout, listCelebaSplit } from './celeba-layout.js';
import { loadSplit } from './decode.js';
import { listSplit, resolveSplitDir, type SplitListing } from './discover.js';
import { findIdxFiles, IDX_SPLITS, isIdxListing, listIdxSplit, openIdxDataset, openIdxSource, type IdxListing, type IdxSplit } from './idx.js';
import type { ImageShape } from './image-store.js';
import type { Preprocess } from './preprocess.js';
import { permutation, Rng } from './random.js';

/** folders: DIR/<split>/<class>/*; celeba: CelebA's own layout; idx: the MNIST family's four IDX files */
export type DatasetKind = 'folders' | 'celeba' | 'idx';

/** Which layout `dataDir` has (an IDX folder missing some of the four files is an InputError naming them). */
export async function datasetKind(dataDir: string): Promise<DatasetKind> {
  if (await findIdxFiles(dataDir)) return 'idx';
  return (await isCelebaLayout(dataDir)) ? 'celeba' : 'folders';
}

/** Does `dataDir` have a split called `split` of its own (a folder, a CelebA partition, IDX train/test)? */
export async function hasDataSplit(dataDir: string, split: string): Promise<boolean> {
  const kind = await datasetKind(dataDir);
  if (kind === 'idx') return (IDX_SPLITS as readonly string[]).includes(split);
  if (kind === 'celeba') return Object.hasOwn(CELEBA_SPLITS, split);
  return (await fs.stat(path.join(dataDir, split)).catch(() => null))?.isDirectory() ?? false;
}

// ---------------------------------------------------------------------------------------------------------
// validation

/** Where a run's validation images come from; recorded in run.json and the checkpoint's config (`validation`). */
export interface Validation {
  /** val: the data's own val split; test: its test split; holdout: images held out of train */
  source: 'val' | 'test' | 'holdout' | 'fold';
  /** holdout: how many images, drawn class by class (stratified) */
  heldOut?: number;
  /** holdout: the fraction asked for (--val FRACTION); absent when the count is the default */
  fraction?: number;
  /** holdout and fold: the run's seed (the draw's generator is seeded from it) */
  seed?: number;
  /** fold (`engine cv`): this fold (1-based) of `folds` of the data's train and val images (data/folds.ts) */
  fold?: number;
  folds?: number;
}

/** --val: the data's val split, the test split, or a fraction of train held out. */
export type ValChoice = 'val' | 'test' | number;

/** Train at or above this size holds out DEFAULT_LARGE_HOLDOUT images by default (Fashion-MNIST's 60,000: 5,000). */
export const LARGE_TRAIN = 50_000;
export const DEFAULT_LARGE_HOLDOUT = 5_000;
/** Smaller train splits hold out this fraction by default. */
export const DEFAULT_HOLDOUT_FRACTION = 0.1;

/** 'the val split', 'the test split', '5,000 images held out of train (seeded)' */
export function describeValidation(v: Validation): string {
  if (v.source === 'fold') return `fold ${v.fold} of ${v.folds} of the train and val images (seeded, per class)`;
  if (v.source !== 'holdout') return `the ${v.source} split`;
  const pct = v.fraction !== undefined ? `, ${+(v.fraction * 100).toFixed(4)}%` : '';
  return `${v.heldOut!.toLocaleString('en-US')} images held out of train (seeded${pct})`;
}

/**
 * Decides where a run validates: the data's val split when it has one (then --val may only say 'val'); else
 * --val test, --val FRACTION, or by default 5,000 images of a train split of 50,000 or more, 10% of a smaller one.
 * `train` is the training split's listing (the held-out count is checked against its classes).
 */
export async function resolveValidation(dataDir: string, val: ValChoice | undefined, seed: number, train: SplitListing): Promise<Validation> {
  const root = path.resolve(dataDir);
  if (await hasDataSplit(dataDir, 'val')) {
    if (val === undefined || val === 'val') return { source: 'val' };
    throw new UsageError(`--val ${val}: ${root} has a val split of its own, which is the validation split; --val chooses one only for data without it`);
  }
  if (val === 'val') throw new UsageError(`--val val: ${root} has no val split; use --val test or --val FRACTION (a part of train held out)`);
  if (val === 'test') {
    if (!(await hasDataSplit(dataDir, 'test'))) throw new UsageError(`--val test: ${root} has no test split; use --val FRACTION (a part of train held out)`);
    return { source: 'test' };
  }
  const n = train.labels.length;
  const classes = new Set(train.labels).size;
  const heldOut = val === undefined ? (n >= LARGE_TRAIN ? DEFAULT_LARGE_HOLDOUT : Math.max(1, Math.round(n * DEFAULT_HOLDOUT_FRACTION))) : Math.round(val * n);
  if (heldOut < 1 || heldOut > n - classes)
    throw new UsageError(
      `--val ${val ?? DEFAULT_HOLDOUT_FRACTION}: holding out ${heldOut} of the ${n} training images of ${root} leaves ${heldOut < 1 ? 'no validation image' : 'a class without a training image'}; choose another fraction or --val test`,
    );
  return { source: 'holdout', heldOut, ...(val !== undefined ? { fraction: val } : {}), seed };
}

/** The seed of the holdout's generator: the run's seed xor 'hold', so its draws are not the run's data order. */
const holdoutSeed = (seed: number) => (seed ^ 0x686f6c64) >>> 0;

/**
 * The held-out rows (ascending) of a split whose labels are `labels`: `count` images, shared among the classes in
 * proportion to their sizes (largest remainders, ties to the lower class; each class keeps at least one training
 * image), each class's drawn by a seeded shuffle of its rows in listing order.
 */
export function holdoutRows(labels: Uint8Array, count: number, seed: number): Uint32Array {
  const k = labels.reduce((m, l) => Math.max(m, l + 1), 0);
  const byClass: number[][] = Array.from({ length: k }, () => []);
  labels.forEach((l, i) => byClass[l].push(i));
  const n = labels.length;
  const cap = byClass.map((rows) => Math.max(rows.length - 1, 0));
  const exact = byClass.map((rows) => (count * rows.length) / n);
  const quota = exact.map((q, c) => Math.min(Math.floor(q), cap[c]));
  let left = count - quota.reduce((a, b) => a + b, 0);
  const order = exact.map((q, c) => c).sort((a, b) => exact[b] - Math.floor(exact[b]) - (exact[a] - Math.floor(exact[a])) || a - b);
  while (left > 0) {
    const before = left;
    for (const c of order) {
      if (left === 0) break;
      if (quota[c] < cap[c]) {
        quota[c]++;
        left--;
      }
    }
    if (left === before) throw new RangeError(`cannot hold out ${count} of ${n} images and keep one of each class`);
  }
  const rng = new Rng(holdoutSeed(seed));
  const out: number[] = [];
  byClass.forEach((rows, c) => {
    const p = permutation(rows.length, rng);
    for (let j = 0; j < quota[c]; j++) out.push(rows[p[j]]);
  });
  return Uint32Array.from(out.sort((a, b) => a - b));
}

/** The entries `rows` (ascending) of a listing, as a listing of the same kind. */
export function subsetListing<T extends SplitListing>(listing: T, rows: ArrayLike<number>): T {
  const pick = Array.from(rows);
  const out: SplitListing = {
    dir: listing.dir,
    classes: [...listing.classes],
    files: pick.map((i) => listing.files[i]),
    labels: Uint8Array.from(pick, (i) => listing.labels[i]),
  };
  if (isIdxListing(listing)) (out as IdxListing).idx = { ...listing.idx, rows: Uint32Array.from(pick, (i) => listing.idx.rows[i]) };
  return out as T;
}

/** A training listing split by a holdout: the held-out entries and the rest. */
function splitHoldout(train: SplitListing, v: Validation): { train: SplitListing; val: SplitListing } {
  const held = holdoutRows(train.labels, v.heldOut!, v.seed!);
  const isHeld = new Uint8Array(train.labels.length);
  for (const r of held) isHeld[r] = 1;
  const rest = train.labels.reduce<number[]>((acc, _, i) => (isHeld[i] ? acc : (acc.push(i), acc)), []);
  return { train: subsetListing(train, rest), val: subsetListing(train, held) };
}

/** A recorded validation (a checkpoint's or a model's training config, `validation`), if it is one. */
export function validationOf(config: unknown): Validation | undefined {
  const v = (config as { validation?: Partial<Validation> } | null)?.validation;
  if (!v || !['val', 'test', 'holdout'].includes(v.source as string)) return undefined;
  if (v.source === 'holdout' && !(Number.isInteger(v.heldOut) && Number.isInteger(v.seed))) return undefined;
  return v as Validation;
}

// ---------------------------------------------------------------------------------------------------------
// listing and reading

export interface ListOptions {
  /** the split must have exactly these classes (normally the training split's) */
  classes?: readonly string[];
  /**
   * the run's validation: with a holdout, 'val' is the held-out part of train and 'train' the rest; with 'test',
   * 'val' is the test split. Without it, 'val' of data that has no val split is an InputError.
   */
  validation?: Validation;
}

function checkClasses(dataDir: string, listing: SplitListing, classes: readonly string[] | undefined): void {
  if (classes && classes.join('\n') !== listing.classes.join('\n'))
    throw new InputError(`classes of ${dataDir} (${listing.classes.join(', ')}) do not match the expected ${classes.join(', ')}`);
}

/** Lists `split` of `dataDir` as it is, whatever the layout. */
async function listOwnSplit(dataDir: string, split: string, classes?: readonly string[]): Promise<SplitListing> {
  const kind = await datasetKind(dataDir);
  if (kind === 'folders') return listSplit(await resolveSplitDir(dataDir, split), { classes });
  const listing =
    kind === 'celeba'
      ? await listCelebaSplit(dataDir, split)
      : (IDX_SPLITS as readonly string[]).includes(split)
        ? listIdxSplit(await openIdxDataset(dataDir), split as IdxSplit)
        : undefined;
  if (!listing) throw new InputError(`no split '${split}' in the IDX files of ${path.resolve(dataDir)}: expected ${IDX_SPLITS.join(' or ')}`);
  checkClasses(dataDir, listing, classes);
  return listing;
}

/**
 * Lists `split` of `dataDir`, whatever the layout. Folder and CelebA listings hold image paths; IDX listings hold
 * ids '<images file>#<row>' (and the rows, see idx.ts). With `opts.validation`, 'val' (and 'train') follow the
 * run's validation (see ListOptions).
 */
export async function listDataSplit(dataDir: string, split: string, opts: ListOptions = {}): Promise<SplitListing> {
  const v = opts.validation;
  if (v?.source === 'holdout' && (split === 'train' || split === 'val')) {
    const parts = splitHoldout(await listOwnSplit(dataDir, 'train', opts.classes), v);
    return split === 'train' ? parts.train : parts.val;
  }
  if (split === 'val' && v?.source === 'test') return listOwnSplit(dataDir, 'test', opts.classes);
  if (split === 'val' && (await datasetKind(dataDir)) === 'idx')
    throw new InputError(
      `${path.resolve(dataDir)} has no val split: a run on it validated on images it held out of train (seeded) or on test; ` +
        `read it with the run's recorded validation (the checkpoint's config, 'validation'), or use the test split`,
    );
  return listOwnSplit(dataDir, split, opts.classes);
}

/** The training and validation listings of a run on `dataDir` (see resolveValidation for `val`). */
export async function listTrainingSplits(
  dataDir: string,
  val: ValChoice | undefined,
  seed: number,
): Promise<{ train: SplitListing; val: SplitListing; validation: Validation }> {
  const all = await listOwnSplit(dataDir, 'train');
  const validation = await resolveValidation(dataDir, val, seed, all);
  if (validation.source === 'holdout') return { ...splitHoldout(all, validation), validation };
  return { train: all, val: await listOwnSplit(dataDir, validation.source, all.classes), validation };
}

/** A split read into memory as a model's input. */
export interface SplitData {
  kind: DatasetKind;
  /** the folder of the split's files (CelebA: img_align_celeba/; IDX: the data folder) */
  dir: string;
  split: string;
  classes: string[];
  /** [size] class index per image */
  labels: Uint8Array;
  /** [size, height, width, channels] uint8, HWC */
  images: Uint8Array;
  shape: ImageShape;
  size: number;
  /** per image: its file (folders, CelebA) or '<images file>#<row>' (IDX) */
  ids: string[];
  /** per image, its file; absent for IDX */
  files?: string[];
  /** files left out with skipBadImages, and why */
  skipped: string[];
  skipReasons: string[];
}

export interface ReadOptions extends ListOptions {
  skipBadImages?: boolean;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Reads `split` of `dataDir` (any layout) as the input of a model whose preprocessing is `pre` (preprocessOf(spec)
 * for a spec; for an exported model, its metadata's input size, channels and resize rule): every image decoded,
 * converted to grey or RGB and resized by the rule, in listing order.
 */
export async function readDataSplit(dataDir: string, split: string, pre: Preprocess, opts: ReadOptions = {}): Promise<SplitData> {
  const listing = await listDataSplit(dataDir, split, opts);
  const kind = await datasetKind(dataDir);
  const shape: ImageShape = [pre.height, pre.width, pre.channels];
  if (isIdxListing(listing)) {
    const source = await openIdxSource(listing, pre, Infinity);
    const images = await source.range(0, source.size, new Uint8Array(0));
    opts.onProgress?.(source.size, source.size);
    return { kind, dir: listing.dir, split, classes: listing.classes, labels: listing.labels, images, shape, size: source.size, ids: listing.files, skipped: [], skipReasons: [] };
  }
  const set = await loadSplit(listing, { preprocess: pre, skipBadImages: opts.skipBadImages, concurrency: opts.concurrency, onProgress: opts.onProgress });
  return {
    kind,
    dir: listing.dir,
    split,
    classes: set.classes,
    labels: set.labels,
    images: set.images,
    shape,
    size: set.size,
    ids: set.files,
    files: set.files,
    skipped: set.skipped,
    skipReasons: set.skipReasons,
  };
}
