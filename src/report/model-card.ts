// MODEL_CARD.md, written beside an exported model: what the model is for and not for, the data it learnt from,
// its figures on val measured from the exported file itself (with their uncertainty: 75 images is few), and
// the training config read from the checkpoint's metadata.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { evaluate, type EvalReport } from '../eval/evaluate.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { ENGINE_VERSION } from '../version.js';

export const MODEL_CARD_NAME = 'MODEL_CARD.md';
/** the two-sided 95% normal quantile */
const Z95 = 1.959963984540054;

/** Wilson score interval of a binomial proportion k/n (95% by default); [NaN, NaN] for n = 0. */
export function wilsonInterval(k: number, n: number, z = Z95): [number, number] {
  if (!(n > 0) || k < 0 || k > n) return [NaN, NaN];
  const p = k / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  // Clamp the rounding at the ends: k = 0 gives exactly 0, k = n exactly 1.
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export interface ModelCardInput {
  modelFile: string;
  weightsFile: string;
  meta: CheckpointMeta;
  /** parameters of the model */
  params: number;
  /** the exported model's report on val, or why there is none */
  report: EvalReport | null;
  missingReason?: string;
  /** image counts from the run's run.json, when the checkpoint sits in a run directory */
  runDataset?: { train: number; val: number };
}

const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
const cell = (v: unknown) => String(typeof v === 'string' ? v : JSON.stringify(v)).replace(/\|/g, '\\|');

function metricsSection(r: EvalReport): string[] {
  const [lo, hi] = wilsonInterval(r.correct, r.images);
  const [neg, pos] = r.classes;
  const [[tn, fp], [fn, tp]] = r.confusion.matrix;
  return [
    `Measured by \`engine eval\` on the exported file itself, ${r.images} images of \`${r.dir}\`, on ${new Date().toISOString().slice(0, 10)}.`,
    `Predicted ${pos} iff P(${pos}) > ${r.threshold}.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| accuracy | ${pct(r.accuracy)} (${r.correct}/${r.images}) |`,
    `| accuracy, 95% confidence interval (Wilson) | ${pct(lo, 1)} to ${pct(hi, 1)} |`,
    ...r.classes.map((c) => `| average precision, ${c} | ${pct(r.rankedAveragePrecision[c])} (ties grouped: ${pct(r.averagePrecision[c])}) |`),
    `| mean average precision | ${pct(r.rankedMAP)} (ties grouped: ${pct(r.mAP)}) |`,
    `| ROC AUC | ${Number.isFinite(r.rocAuc) ? r.rocAuc.toFixed(4) : 'n/a'} |`,
    ...r.classes.map((c) => `| precision / recall, ${c} | ${pct(r.perClass[c].precision)} / ${pct(r.perClass[c].recall)} (${r.perClass[c].support} images) |`),
    '',
    'Confusion matrix (rows: true class, columns: predicted):',
    '',
    `| | ${neg} | ${pos} |`,
    '| --- | ---: | ---: |',
    `| ${neg} | ${tn} | ${fp} |`,
    `| ${pos} | ${fn} | ${tp} |`,
    '',
    `With ${r.images} images one image moves the accuracy by ${pct(1 / r.images, 1)}; the interval above is the range of`,
    'accuracies consistent with this sample, so two models whose intervals overlap widely have not been told apart.',
    "Where the validation split also chose the checkpoint (engine's best.safetensors is the epoch of lowest",
    'validation loss; the seed picked its epoch 70 from the validation curve), these figures are biased upwards.',
  ];
}

export function modelCardMarkdown(input: ModelCardInput): string {
  const { meta, report } = input;
  const [neg, pos] = meta.classes;
  const config = Object.entries(meta.config).filter(([, v]) => v !== undefined);
  const trained = meta.metrics
    ? Object.entries(meta.metrics).map(([k, v]) => `${k} ${Number(v).toFixed(4)}`).join(', ')
    : 'not recorded';
  const lines = [
    `# Model card: ${meta.spec.name} ${neg}/${pos} classifier`,
    '',
    `\`${path.basename(input.modelFile)}\`, exported by engine ${ENGINE_VERSION} from \`${input.weightsFile}\` (epoch ${meta.epoch}, ` +
      `${meta.step} optimizer steps). ${input.params.toLocaleString('en-US')} parameters; input: an RGB image resized to ` +
      `${meta.spec.input[1]}x${meta.spec.input[0]} with PIL's nearest rule, pixels / 255; output: P(${pos}).`,
    '',
    '## Intended use',
    '',
    '- Research and teaching on small convolutional networks: training speed, reproducibility, export, evaluation.',
    `- Not for decisions about people. It guesses a binary ${neg}/${pos} label from a face photo; gender is not`,
    '  binary and is not visible in a face, and the guess is wrong on some photos even like its training data',
    '  (see the metrics below). Do not use it to identify, sort, admit, refuse or profile anyone.',
    '- Out of scope: photos unlike CelebA (non-frontal faces, children, other lighting, cameras or crops).',
    '',
    '## Data',
    '',
    '- A 575-image extract of CelebA (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015): celebrity',
    '  face photos, 178x218 pixels, aligned and cropped; the extract is the one of the seed project',
    '  (github.com/CZhihao/gender-prediction): 500 training images (198 man, 302 woman) and 75 validation images',
    '  (23 man, 52 woman).',
    "- Labels are CelebA's binary `Male` attribute, set by human annotators: a perceived, binary label, with known",
    '  annotation noise in CelebA attributes.',
    '- Demographic skew: CelebA holds celebrities, mostly young, mostly light-skinned, often made up and',
    '  professionally photographed; the classes are imbalanced (60% woman in training, 69% in validation). Figures',
    '  for under-represented groups are unknown and likely worse.',
    '- Licence: CelebA is available for non-commercial research purposes only; so is this model.',
    ...(input.runDataset ? [`- This checkpoint's run (run.json beside it) trained on ${input.runDataset.train} images and validated on ${input.runDataset.val}.`] : []),
    '',
    '## Metrics on val',
    '',
    ...(report ? metricsSection(report) : [`Not measured: ${input.missingReason ?? 'no validation data'}.`]),
    '',
    '## Training',
    '',
    `Figures the trainer recorded for this checkpoint: ${trained}.`,
    '',
    '| setting | value |',
    '| --- | --- |',
    `| architecture (spec) | ${cell(meta.spec.name)}, ${meta.spec.layers.length} layers |`,
    ...config.map(([k, v]) => `| ${cell(k)} | ${cell(v)} |`),
    '',
  ];
  return lines.join('\n');
}

const hasVal = async (data: string) => (await fs.stat(path.join(data, 'val')).catch(() => null))?.isDirectory() ?? false;

/** The dataset folder to measure on: the one given, else the checkpoint's training data, else ./data. */
export async function cardDataFolder(given: string | undefined, meta: CheckpointMeta): Promise<string> {
  if (given !== undefined) return given;
  const trainedOn = meta.config.data;
  if (typeof trainedOn === 'string' && (await hasVal(trainedOn))) return trainedOn;
  return './data';
}

async function readRunDataset(runDir: string): Promise<{ train: number; val: number } | undefined> {
  try {
    const d = JSON.parse(await fs.readFile(path.join(runDir, 'run.json'), 'utf8')).dataset;
    return Number.isInteger(d?.train) && Number.isInteger(d?.val) ? { train: d.train, val: d.val } : undefined;
  } catch {
    return undefined; // not a run directory, or not ours: the card just says less
  }
}

export interface WrittenModelCard {
  file: string;
  /** the val report it holds, null when val could not be found */
  report: EvalReport | null;
  /** why there are no metrics, when report is null */
  missingReason?: string;
}

/** Evaluates the exported model on <data>/val and writes MODEL_CARD.md beside it. */
export async function writeModelCard(opts: {
  modelFile: string;
  weightsFile: string;
  meta: CheckpointMeta;
  params: number;
  data?: string;
}): Promise<WrittenModelCard> {
  const data = await cardDataFolder(opts.data, opts.meta);
  let report: EvalReport | null = null;
  let missingReason: string | undefined;
  if (await hasVal(data)) report = await evaluate({ target: 'val', data, model: opts.modelFile });
  else missingReason = `${path.resolve(data, 'val')} is not a folder (export with --data DIR to measure on DIR/val)`;
  const file = path.join(path.dirname(opts.modelFile), MODEL_CARD_NAME);
  const runDataset = await readRunDataset(path.dirname(opts.weightsFile));
  await writeFileAtomic(file, modelCardMarkdown({ ...opts, report, missingReason, runDataset }));
  return { file, report, missingReason };
}
