// `engine predict`: classify single images (the seed's single-image prediction), optionally writing a copy of
// each with its label drawn on it. Unlike training and eval, images are decoded upright (EXIF orientation
// applied): a photo from a phone should be classified the way it is seen.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { refuseThreshold, type Tta } from '../options/common.js';
import { classProbability, predictClasses, type ClassScores } from '../eval/class-metrics.js';
import { openModel, scoreColumns, scoreFiles, type LoadedModel, type ModelChoice } from '../eval/session.js';
import type { ImageInput } from '../data/decode.js';
import { autoBatchSize } from '../options/eval.js';
import { resolvePredictOptions } from '../options/predict.js';
import { checkOutputFile, checkOutputFolder, makeOutputFolder, refuseInputsAsOutputs } from '../io/output.js';
import { annotatedFormat, annotatedName, annotateImage, formatOfOutput, type AnnotatedFormat } from './annotate.js';

export interface PredictOptions extends Omit<ModelChoice, 'model'> {
  /** image files, or encoded images in memory (Buffer, Uint8Array, ArrayBuffer: JPEG, PNG, WebP, TIFF, BMP...) */
  images: readonly ImageInput[];
  /** an exported .onnx file, or a model loadModel() opened (then it stays open) */
  model?: string | LoadedModel;
  /** one image: the annotated file to write (or an existing folder); several: a folder (created). Files only. */
  annotate?: string;
  /** 2-class models: predicted classes[1] iff P(classes[1]) > threshold (default 0.5); more classes: the most probable */
  threshold?: number;
  /** 'flip': each image's scores averaged with its mirror image's (default none) */
  tta?: Tta;
  /** images classified so far, after each batch */
  onProgress?(done: number, total: number): void;
  /** the model, once loaded: its file (or 'in-memory from <weights>') and classes */
  onModel?(model: { source: string; classes: string[] }): void;
}

export interface Prediction {
  /** the image's file; absent for an image given as bytes */
  file?: string;
  /** its place in `images` */
  index: number;
  class: string;
  /** probability of the predicted class */
  probability: number;
  /** probability of each class, in the model's class order */
  scores: Record<string, number>;
  /** the classes by probability, most probable first (equal ones in class order): all of them */
  ranked: { class: string; probability: number }[];
  /** the annotated copy, when asked for */
  annotated?: string;
}

/**
 * Where each annotated copy goes, and in which format. Everything that would make writing them fail or destroy
 * something is refused here, before any inference: a name clash, a file where a folder is needed, a folder that
 * cannot be created, a copy that would replace one of the inputs.
 */
async function annotationTargets(opts: PredictOptions, out: string): Promise<{ file: string; format: AnnotatedFormat }[]> {
  const bytes = opts.images.findIndex((image) => typeof image !== 'string');
  if (bytes >= 0) throw new UsageError(`annotate writes copies of image files; images[${bytes}] is not a file path`);
  const images = opts.images as readonly string[];
  const stat = await fs.stat(out).catch(() => null);
  let targets: { file: string; format: AnnotatedFormat }[];
  if (images.length === 1 && !stat?.isDirectory()) {
    await checkOutputFile('--annotate', out);
    targets = [{ file: out, format: formatOfOutput(out) ?? annotatedFormat(images[0]) }];
  } else {
    await checkOutputFolder('--annotate', out, `a folder for the annotated copies of the ${images.length} images (created if missing)`);
    const seen = new Map<string, string>();
    targets = images.map((image) => {
      const name = annotatedName(image);
      const other = seen.get(name);
      if (other !== undefined) throw new InputError(`${other} and ${image} would both be annotated as ${path.join(out, name)}: annotate them separately`);
      seen.set(name, image);
      return { file: path.join(out, name), format: annotatedFormat(image) };
    });
  }
  await refuseInputsAsOutputs(
    targets.map((t) => ({ name: '--annotate', file: t.file })),
    [
      ...images.map((file) => ({ name: 'the input image', file })),
      ...(typeof opts.model === 'string' ? [{ name: 'the model', file: opts.model }] : []),
      ...(opts.weights !== undefined ? [{ name: 'the checkpoint', file: opts.weights }] : []),
    ],
  );
  return targets;
}

export async function predict(opts: PredictOptions): Promise<Prediction[]> {
  const given = typeof opts.model === 'object' ? opts.model : undefined;
  const { threshold, tta } = resolvePredictOptions({ ...opts, model: given ? undefined : (opts.model as string | undefined) });
  const targets = opts.annotate !== undefined ? await annotationTargets(opts, opts.annotate) : undefined;

  const model = given ?? (await openModel({ ...opts, model: opts.model as string | undefined }));
  const { classes } = model.info;
  let scores: ClassScores;
  try {
    refuseThreshold(classes.length, opts.threshold, model.source);
    opts.onModel?.({ source: model.source, classes });
    const decode = { autoOrient: true, tta, nameOf: (i: number) => `images[${i}]` };
    scores = { data: await scoreFiles(model, opts.images, autoBatchSize(model.info), decode, opts.onProgress), columns: scoreColumns(model.info) };
  } finally {
    if (!given) await model.session.release();
  }
  const predicted = predictClasses(scores, classes.length, threshold);
  const predictions: Prediction[] = Array.from(predicted, (c, i) => {
    const probabilities = classes.map((_, k) => classProbability(scores, i, k));
    const ranked = classes.map((name, k) => ({ class: name, probability: probabilities[k] })).sort((a, b) => b.probability - a.probability);
    const image = opts.images[i];
    return {
      ...(typeof image === 'string' ? { file: image } : {}),
      index: i,
      class: classes[c],
      probability: probabilities[c],
      scores: Object.fromEntries(classes.map((name, k) => [name, probabilities[k]])),
      ranked,
    };
  });
  if (targets) {
    for (const [i, p] of predictions.entries()) {
      await makeOutputFolder('--annotate', path.dirname(path.resolve(targets[i].file)));
      await annotateImage(p.file!, path.resolve(targets[i].file), `${p.class} (p = ${p.probability.toFixed(4)})`, targets[i].format);
      p.annotated = targets[i].file;
    }
  }
  return predictions;
}
