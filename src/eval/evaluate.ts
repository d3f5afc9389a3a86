// `engine eval`: classify every image of a split (or folder) with an exported or in-memory ONNX model of any
// number of classes and report its figures (class-metrics.ts). A split name is read through the data layer, as
// training reads it: class folders, CelebA's layout or IDX files, and for data without a val split the model's
// recorded validation (the held-out part of train, or test). Images are preprocessed as the model's metadata
// says (channels, resize rule; no EXIF rotation, as Keras' flow_from_directory), the next batches being decoded
// while one runs.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { datasetKind, hasDataSplit, listDataSplit, validationOf, type Validation } from '../data/dataset.js';
import { listSplit, type SplitListing } from '../data/discover.js';
import { isIdxListing, openIdxSource } from '../data/idx.js';
import { InputError } from '../errors.js';
import { refuseThreshold, type Tta } from '../options/common.js';
import { refuseInputsAsOutputs, type NamedPath } from '../io/output.js';
import { autoBatchSize, resolveEvalOptions } from '../options/eval.js';
import { classificationMetrics, classProbability, predictClasses, positiveScores, type ClassScores } from './class-metrics.js';
import { decodingReader, preprocessOfModel, type BatchReader } from './feed.js';
import type { EvalReport, Misclassified } from './report.js';
import { createSession, readModel, scoreColumns, scoreImages, type LoadedModel, type ModelChoice, type ModelFile } from './session.js';

export { formatReport, type EvalReport, type Misclassified } from './report.js';

export interface EvalOptions extends Omit<ModelChoice, 'model'> {
  /** a split name of `data` ('val', 'train', 'test', 'all'), or a folder of class subfolders ('./x', '/x/y') */
  target: string;
  /** the dataset for split names: class folders, CelebA's own layout or IDX files (default ./data) */
  data?: string;
  /** an exported .onnx file, or a model loadModel() opened (then it stays open) */
  model?: string | LoadedModel;
  /** images per inference call (default: options/eval.ts' autoBatchSize of the model's input) */
  batchSize?: number;
  /**
   * 2-class models: predicted classes[1] iff P(classes[1]) > threshold (default 0.5, Keras' round()). Models of
   * more classes predict the most probable class, and refuse a threshold.
   */
  threshold?: number;
  /** 'flip': each image's scores averaged with its mirror image's (default none) */
  tta?: Tta;
  /** the ROC and precision-recall curves in the report (default true; without them, many images score faster) */
  curves?: boolean;
  /** images classified so far, after each batch */
  onProgress?(done: number, total: number): void;
  /**
   * files the caller writes afterwards (`--html`): refused before any inference when one is the model, the
   * checkpoint or an image being evaluated
   */
  outputs?: NamedPath[];
}

/** What evaluation needs to know of a model before running it. */
type ModelDescription = Pick<ModelFile, 'info' | 'source'>;

const isDir = async (p: string) => (await fs.stat(p).catch(() => null))?.isDirectory() ?? false;
/** A target with a path separator ('./val', '/x/y', '.', '..') is a folder; a bare name is a split. */
const isFolderTarget = (target: string) => path.isAbsolute(target) || /[\\/]/.test(target) || target === '.' || target === '..';

/** A bare name ('val') is a split under `data`; anything with a path separator ('./val', '/x/y') is a folder. */
export async function resolveTarget(target: string, data: string): Promise<{ dir: string; dataset: string }> {
  const isPath = isFolderTarget(target);
  const dir = path.resolve(isPath ? target : path.join(data, target));
  if (await isDir(dir)) return { dir, dataset: isPath ? path.basename(dir) : target };
  throw new InputError(
    isPath
      ? `evaluation folder ${dir} does not exist or is not a folder`
      : `no split '${target}': ${dir} is not a folder (set --data, or write ./${target} for a folder here)`,
  );
}

/** The validation the model's training recorded (its metadata's training_config), if any. */
function recordedValidation(info: { metadata: Record<string, string> }): Validation | undefined {
  try {
    return validationOf(JSON.parse(info.metadata.training_config ?? 'null'));
  } catch {
    return undefined;
  }
}

/**
 * What `target` names: a folder of class subfolders, or a split of `data` in any layout. Data without a val split
 * of its own gives 'val' (and 'train') as the model's training run chose them (recorded in its metadata).
 */
async function listTarget(target: string, data: string, model: ModelDescription): Promise<{ listing: SplitListing; dataset: string }> {
  if (isFolderTarget(target)) {
    const { dir, dataset } = await resolveTarget(target, data);
    return { listing: await listSplit(dir), dataset };
  }
  const kind = await datasetKind(data);
  const validation = (target === 'val' || target === 'train') && !(await hasDataSplit(data, 'val')) ? recordedValidation(model.info) : undefined;
  if (kind === 'folders' && !validation) {
    const { dir, dataset } = await resolveTarget(target, data);
    return { listing: await listSplit(dir), dataset };
  }
  return { listing: await listDataSplit(data, target, { validation }), dataset: target };
}

/** Images per IDX source kept converted in memory (a model of another size or channel count converts as it reads beyond). */
const IDX_MEMORY = 512 * 2 ** 20;

/** Reads the listing's images as the model's input: IDX rows from the file's bytes, files decoded. */
async function readerOf(listing: SplitListing, model: ModelDescription): Promise<{ read: BatchReader; close(): Promise<void> }> {
  if (isIdxListing(listing)) {
    const source = await openIdxSource(listing, preprocessOfModel(model.info), IDX_MEMORY);
    return { read: (start, count, dst) => source.range(start, count, dst), close: () => source.close() };
  }
  return { read: decodingReader(model.info, listing.files), close: async () => undefined };
}

/** Label of each file as an index into the model's classes; the folder's classes must be the model's. */
function modelLabels(folderClasses: string[], folderLabels: Uint8Array, model: ModelDescription, dir: string): Uint8Array {
  const classes = model.info.classes;
  const same = folderClasses.length === classes.length && folderClasses.every((c) => classes.includes(c));
  if (!same)
    throw new InputError(
      `class folders of ${dir} (${folderClasses.join(', ')}) do not match the classes of ${model.source} (${classes.join(', ')})`,
    );
  return Uint8Array.from(folderLabels, (l) => classes.indexOf(folderClasses[l]));
}

export async function evaluate(opts: EvalOptions): Promise<EvalReport> {
  const started = performance.now();
  const given = typeof opts.model === 'object' ? opts.model : undefined;
  const { batchSize, threshold, tta, data } = resolveEvalOptions({ ...opts, model: given ? undefined : (opts.model as string | undefined) });
  const read = given ? undefined : await readModel({ ...opts, model: opts.model as string | undefined });
  const file: ModelDescription = given ?? read!;
  const { listing, dataset } = await listTarget(opts.target, data, file);
  const dir = listing.dir;
  const inputFiles = isIdxListing(listing) ? [...new Set(listing.files.map((id) => id.replace(/#\d+$/, '')))] : listing.files;
  if (opts.outputs?.length)
    await refuseInputsAsOutputs(opts.outputs, [
      ...(typeof opts.model === 'string' ? [{ name: 'the model', file: opts.model }] : []),
      ...(opts.weights !== undefined ? [{ name: 'the checkpoint', file: opts.weights }] : []),
      ...inputFiles.map((f) => ({ name: 'an evaluated image,', file: f })),
    ]);
  const labels = modelLabels(listing.classes, listing.labels, file, dir);
  const { classes } = file.info;
  refuseThreshold(classes.length, opts.threshold, file.source);
  const reader = await readerOf(listing, file);
  const model = given ?? (await createSession(read!, opts));
  try {
    const t0 = performance.now();
    const raw = await scoreImages(model, listing.files.length, reader.read, batchSize ?? autoBatchSize(model.info), opts.onProgress, tta);
    const decodeAndInferSeconds = (performance.now() - t0) / 1000;

    const scores: ClassScores = { data: raw, columns: scoreColumns(model.info) };
    const m = classificationMetrics(scores, labels, classes, { threshold, curves: opts.curves });
    const predicted = predictClasses(scores, classes.length, threshold);
    const positive = classes.length === 2 ? positiveScores(scores) : undefined;
    const misclassified: Misclassified[] = [];
    predicted.forEach((p, i) => {
      if (p !== labels[i])
        misclassified.push({
          file: path.relative(dir, listing.files[i]),
          label: classes[labels[i]],
          predicted: classes[p],
          probability: classProbability(scores, i, p),
          ...(positive ? { score: positive[i] } : {}),
        });
    });
    const { info } = model;
    return {
      dataset,
      dir,
      ...m,
      misclassified,
      model: {
        source: model.source,
        head: info.head,
        inputShape: info.inputShape,
        layout: info.layout,
        dtype: info.dtype,
        provider: model.provider,
        threads: model.threads,
        metadata: info.metadata,
      },
      seconds: (performance.now() - started) / 1000,
      decodeAndInferSeconds,
    };
  } finally {
    await reader.close();
    if (!given) await model.session.release();
  }
}
