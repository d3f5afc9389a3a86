// `engine eval`: classify every image of a split (or folder) with an exported or in-memory ONNX model of any
// number of classes and report its figures (class-metrics.ts). Images are preprocessed like Keras'
// flow_from_directory (no EXIF rotation), decoding the next batch while the current one runs.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listSplit } from '../data/discover.js';
import { CELEBA_IMAGES, isCelebaLayout, listCelebaSplit } from '../data/celeba-layout.js';
import { InputError } from '../errors.js';
import { refuseThreshold, type Tta } from '../options/common.js';
import { refuseInputsAsOutputs, type NamedPath } from '../io/output.js';
import { resolveEvalOptions } from '../options/eval.js';
import { classificationMetrics, classProbability, predictClasses, positiveScores, type ClassScores } from './class-metrics.js';
import type { EvalReport, Misclassified } from './report.js';
import { loadModel, scoreColumns, scoreFiles, type LoadedModel, type ModelChoice } from './session.js';

export { formatReport, type EvalReport, type Misclassified } from './report.js';

export interface EvalOptions extends ModelChoice {
  /** a split name resolved under `data` ('val' -> <data>/val), or a folder */
  target: string;
  /** dataset folder for split names (default ./data) */
  data?: string;
  /** images per inference call (default: options/eval.ts' DEFAULT_BATCH) */
  batchSize?: number;
  /**
   * 2-class models: predicted classes[1] iff P(classes[1]) > threshold (default 0.5, Keras' round()). Models of
   * more classes predict the most probable class, and refuse a threshold.
   */
  threshold?: number;
  /** 'flip': each image's scores averaged with its mirror image's (default none) */
  tta?: Tta;
  /** images classified so far, after each batch */
  onProgress?(done: number, total: number): void;
  /**
   * files the caller writes afterwards (`--html`): refused before any inference when one is the model, the
   * checkpoint or an image being evaluated
   */
  outputs?: NamedPath[];
}

const isDir = async (p: string) => (await fs.stat(p).catch(() => null))?.isDirectory() ?? false;

/** A bare name ('val') is a split under `data`; anything with a path separator ('./val', '/x/y') is a folder. */
export async function resolveTarget(target: string, data: string): Promise<{ dir: string; dataset: string }> {
  const isPath = path.isAbsolute(target) || /[\\/]/.test(target) || target === '.' || target === '..';
  const dir = path.resolve(isPath ? target : path.join(data, target));
  if (await isDir(dir)) return { dir, dataset: isPath ? path.basename(dir) : target };
  throw new InputError(
    isPath
      ? `evaluation folder ${dir} does not exist or is not a folder`
      : `no split '${target}': ${dir} is not a folder (set --data, or write ./${target} for a folder here)`,
  );
}

/** Label of each file as an index into the model's classes; the folder's classes must be the model's. */
function modelLabels(folderClasses: string[], folderLabels: Uint8Array, model: LoadedModel, dir: string): Uint8Array {
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
  const { batchSize, threshold, tta, data } = resolveEvalOptions(opts);
  // A split name under a CelebA-layout --data comes from its partition list, not from a folder.
  const celeba = !/[\\/]/.test(opts.target) && !['.', '..'].includes(opts.target) && (await isCelebaLayout(data));
  const { dir, dataset } = celeba ? { dir: path.resolve(data, CELEBA_IMAGES), dataset: opts.target } : await resolveTarget(opts.target, data);
  const listing = celeba ? await listCelebaSplit(data, opts.target) : await listSplit(dir);
  if (opts.outputs?.length)
    await refuseInputsAsOutputs(opts.outputs, [
      ...(opts.model !== undefined ? [{ name: 'the model', file: opts.model }] : []),
      ...(opts.weights !== undefined ? [{ name: 'the checkpoint', file: opts.weights }] : []),
      ...listing.files.map((file) => ({ name: 'an evaluated image,', file })),
    ]);
  const model = await loadModel(opts);
  try {
    const labels = modelLabels(listing.classes, listing.labels, model, dir);
    const { classes } = model.info;
    refuseThreshold(classes.length, opts.threshold, model.source);
    const t0 = performance.now();
    const raw = await scoreFiles(model, listing.files, batchSize, { tta }, opts.onProgress);
    const decodeAndInferSeconds = (performance.now() - t0) / 1000;

    const scores: ClassScores = { data: raw, columns: scoreColumns(model.info) };
    const m = classificationMetrics(scores, labels, classes, { threshold });
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
    await model.session.release();
  }
}
