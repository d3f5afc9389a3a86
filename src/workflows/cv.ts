// `engine cv` as a library function: K-fold cross-validation of a recipe on a dataset's train and val images.
// The images are read once; per seed they are dealt to K stratified folds (data/folds.ts), and K runs of the same
// recipe each train on K-1 folds and are scored on the one left out, by their final weights (the moving average
// where the recipe keeps one): choosing an epoch by the left-out fold would measure on what chose it. Each run is
// a normal run folder (history, checkpoints, run.json); cv.json holds every fold's figures and their mean and
// standard deviation.
import path from 'node:path';
import type { LoadedSplit } from '../data/cache.js';
import { hasDataSplit, listDataSplit } from '../data/dataset.js';
import { imageBytesOf } from '../data/decode.js';
import { stratifiedFolds } from '../data/folds.js';
import { memorySource } from '../data/image-store.js';
import { preprocessOf } from '../data/preprocess.js';
import { EngineError } from '../errors.js';
import { classificationMetrics } from '../eval/class-metrics.js';
import { writeFileAtomic } from '../io/atomic.js';
import { headOf, trainingSpec } from '../model/spec.js';
import { resolveCvOptions, type CvConfig, type CvOptions } from '../options/cv.js';
import { resolveArch, type TrainConfig } from '../options/train.js';
import { checkRunDirTarget, createRunDir } from '../store/run-dir.js';
import { versions } from '../version.js';
import { openRunSplit, runTraining, type TrainEvents } from './train.js';

export const CV_FILE = 'cv.json';

/** The figures of one fold's model on its left-out images. */
export interface FoldResult {
  seed: number;
  /** 1-based */
  fold: number;
  trainImages: number;
  images: number;
  accuracy: number;
  /** the mean over the classes of the AP (scikit-learn's average_precision_score, one-vs-rest): macro AP */
  macroAP: number;
  /** 2 classes: the ROC AUC of P(classes[1]); more: the macro mean of the one-vs-rest AUCs */
  rocAuc: number;
  /** epochs trained (fewer than the recipe's where --patience stopped the run) */
  epochs: number;
  /** the run folder */
  runDir: string;
  seconds: number;
}

export interface MeanStd {
  mean: number;
  /** the sample standard deviation (n - 1); 0 for one value */
  std: number;
}

export interface CvSummary {
  dir: string;
  config: CvConfig;
  classes: string[];
  /** train and val images of the data, all of which are dealt to the folds */
  images: number;
  results: FoldResult[];
  /** over every fold of every seed */
  accuracy: MeanStd;
  macroAP: MeanStd;
  rocAuc: MeanStd;
  /** with several seeds: each seed's mean over its folds */
  perSeed: { seed: number; accuracy: number; macroAP: number; rocAuc: number }[];
  seconds: number;
}

export interface CvEvents extends TrainEvents {
  onFoldStart?(seed: number, fold: number, folds: number, trainImages: number, images: number): void;
  onFold?(result: FoldResult): void;
}

export function meanStd(xs: number[]): MeanStd {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

/** The rows `rows` of an in-memory split, as a split of their own (images copied). */
function subset(all: { images: Uint8Array; labels: Uint8Array; classes: string[]; shape: [number, number, number] }, rows: number[]): LoadedSplit {
  const bytes = imageBytesOf(all);
  const images = new Uint8Array(rows.length * bytes);
  rows.forEach((r, i) => images.set(all.images.subarray(r * bytes, (r + 1) * bytes), i * bytes));
  const set = { files: [], labels: Uint8Array.from(rows, (r) => all.labels[r]), classes: all.classes, images, size: rows.length, shape: all.shape };
  return Object.assign(memorySource(set), { skipped: [], skipReasons: [] });
}

/** The data's train (and val, where it has one) images read as the model takes them, one after the other. */
async function readPool(config: TrainConfig, events: CvEvents) {
  const arch = resolveArch(config.arch);
  const train = await listDataSplit(config.data, 'train');
  const lists = [train, ...((await hasDataSplit(config.data, 'val')) ? [await listDataSplit(config.data, 'val', { classes: train.classes })] : [])];
  const spec = trainingSpec(arch.spec, { classes: train.classes.length, head: config.head, resize: config.resize });
  const parts: LoadedSplit[] = [];
  for (const [i, list] of lists.entries()) {
    const split = i === 0 ? 'train' : 'val';
    const part = await openRunSplit(config, list, split, preprocessOf(spec), events);
    for (const why of part.skipReasons) events.onLog?.(`warning: skipped ${why}`);
    parts.push(part);
  }
  const size = parts.reduce((n, p) => n + p.size, 0);
  if (size === 0) throw new EngineError(`no usable images in ${config.data}`);
  const bytes = parts[0].imageBytes;
  const images = new Uint8Array(size * bytes);
  const labels = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    images.set(await p.range(0, p.size, new Uint8Array(p.size * bytes)), at * bytes);
    labels.set(p.labels.subarray(0, p.size), at);
    at += p.size;
    await p.close();
  }
  return { images, labels, classes: train.classes, shape: parts[0].shape, size, columns: headOf(spec) === 'softmax' ? train.classes.length : 1 };
}

/** Cross-validates `options` (see CvOptions); writes the folds' runs and cv.json under the cv folder. */
export async function crossValidate(options: CvOptions = {}, events: CvEvents = {}): Promise<CvSummary> {
  const started = performance.now();
  const config = resolveCvOptions(options);
  if (config.out !== undefined) await checkRunDirTarget(config.out);
  const pool = await readPool(config.train, events);
  const { dir, lock } = await createRunDir(config.out, process.cwd(), 'cv');
  try {
    return await runFolds(config, pool, dir, started, events);
  } finally {
    await lock.release();
  }
}

/** The folds of every seed, each a run under `dir`, and their summary (written to cv.json). */
async function runFolds(config: CvConfig, pool: Awaited<ReturnType<typeof readPool>>, dir: string, started: number, events: CvEvents): Promise<CvSummary> {
  events.onLog?.(`cv: ${pool.size} images of ${config.train.data} (train and val), ${config.folds} folds, seed${config.seeds.length > 1 ? 's' : ''} ${config.seeds.join(', ')}; in ${dir}`);
  const results: FoldResult[] = [];
  for (const seed of config.seeds) {
    const fold = stratifiedFolds(pool.labels, config.folds, seed, pool.classes);
    for (let k = 0; k < config.folds; k++) {
      const t0 = performance.now();
      const held: number[] = [];
      const kept: number[] = [];
      fold.forEach((f, i) => (f === k ? held : kept).push(i));
      events.onFoldStart?.(seed, k + 1, config.folds, kept.length, held.length);
      const name = `fold-${k + 1}`;
      const out = path.join(dir, config.seeds.length > 1 ? path.join(`seed-${seed}`, name) : name);
      const run: TrainConfig = { ...config.train, seed, out };
      const summary = await runTraining(run, events, undefined, {
        data: { trainSet: subset(pool, kept), valSet: subset(pool, held), classes: pool.classes, validation: { source: 'fold', fold: k + 1, folds: config.folds, seed } },
        scoreVal: config.tta === 'flip' ? { tta: 'flip' } : {},
      });
      const labels = Uint8Array.from(held, (r) => pool.labels[r]);
      const m = classificationMetrics({ data: summary.valScores!, columns: pool.columns }, labels, pool.classes, { curves: false });
      const result: FoldResult = {
        seed,
        fold: k + 1,
        trainImages: kept.length,
        images: held.length,
        accuracy: m.accuracy,
        macroAP: m.mAP,
        rocAuc: m.rocAuc,
        epochs: summary.history.length,
        runDir: summary.runDir,
        seconds: (performance.now() - t0) / 1000,
      };
      results.push(result);
      events.onFold?.(result);
    }
  }
  const of = (key: 'accuracy' | 'macroAP' | 'rocAuc', rows = results) => meanStd(rows.map((r) => r[key]));
  const summary: CvSummary = {
    dir,
    config,
    classes: pool.classes,
    images: pool.size,
    results,
    accuracy: of('accuracy'),
    macroAP: of('macroAP'),
    rocAuc: of('rocAuc'),
    perSeed: config.seeds.map((seed) => {
      const rows = results.filter((r) => r.seed === seed);
      return { seed, accuracy: of('accuracy', rows).mean, macroAP: of('macroAP', rows).mean, rocAuc: of('rocAuc', rows).mean };
    }),
    seconds: (performance.now() - started) / 1000,
  };
  const record = { ...summary, config: { ...config, train: { ...config.train, data: path.resolve(config.train.data), out: undefined } }, engine: versions() };
  await writeFileAtomic(path.join(dir, CV_FILE), JSON.stringify(record, null, 2) + '\n');
  return summary;
}
