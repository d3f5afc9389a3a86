// MODEL_CARD.md's text: what the model is for and not for, the data it learnt from, its figures on val (with
// their uncertainty: 75 images is few) and the training config from the checkpoint's metadata. A renderer of
// figures computed elsewhere (workflows/model-card.ts measures them): it reads and writes nothing.
import path from 'node:path';
import { wilsonInterval } from '../eval/metrics.js';
import type { EvalReport } from '../eval/report.js';
import type { CheckpointMeta } from '../store/checkpoint.js';
import { ENGINE_VERSION } from '../version.js';

export const MODEL_CARD_NAME = 'MODEL_CARD.md';
/** Images per class of one split, as listed now. */
export interface SplitCounts {
  classes: string[];
  /** images per class, in `classes` order */
  counts: number[];
}

/** What the card says about a data folder: computed from its listing, never assumed. */
export interface DatasetDescription {
  /** the folder, resolved */
  dir: string;
  /** 'training': the checkpoint's recorded training data; 'measured': only the data the figures are measured on */
  role: 'training' | 'measured';
  /**
   * 'seed-extract': the seed's 575 CelebA images (every train/ and val/ file matches manifests/celeba-575.sha256);
   * 'celeba': CelebA's own layout (img_align_celeba/ and its lists); 'other': anything else
   */
  kind: 'seed-extract' | 'celeba' | 'other';
  train?: SplitCounts;
  val?: SplitCounts;
  /** splits that could not be listed, with the reason */
  problems: string[];
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
  /** the data folder described under "Data": the training data when recorded and present, else the measured one */
  dataset?: DatasetDescription;
  /** the day the figures were measured, YYYY-MM-DD */
  measuredOn: string;
}

const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
const cell = (v: unknown) => String(typeof v === 'string' ? v : JSON.stringify(v)).replace(/\|/g, '\\|');

function metricsSection(r: EvalReport, measuredOn: string): string[] {
  const [lo, hi] = wilsonInterval(r.correct, r.images);
  const [neg, pos] = r.classes;
  const [[tn, fp], [fn, tp]] = r.confusion.matrix;
  return [
    `Measured by \`engine eval\` on the exported file itself, ${r.images} images of \`${r.dir}\`, on ${measuredOn}.`,
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

const share = (n: number, total: number) => `${Math.round((100 * n) / total)}%`;
const total = (c: SplitCounts) => c.counts.reduce((a, b) => a + b, 0);
const perClass = (c: SplitCounts) => c.classes.map((name, i) => `${c.counts[i]} ${name}`).join(', ');

/** "500 training images (198 man, 302 woman) and 75 validation images (23 man, 52 woman)" from the listing. */
function countsText(d: DatasetDescription): string {
  const parts = [
    ...(d.train ? [`${total(d.train)} training images (${perClass(d.train)})`] : []),
    ...(d.val ? [`${total(d.val)} validation images (${perClass(d.val)})`] : []),
  ];
  return parts.length ? parts.join(' and ') : 'no images that could be listed';
}

/** "60% woman in training, 69% in validation": the share of the positive class (the one the model outputs). */
function sharesText(d: DatasetDescription, pos: string): string {
  const parts: string[] = [];
  for (const [c, where] of [[d.train, 'in training'], [d.val, 'in validation']] as const) {
    const i = c?.classes.indexOf(pos) ?? -1;
    if (c && i >= 0 && total(c) > 0) parts.push(`${share(c.counts[i], total(c))}${parts.length ? '' : ` ${pos}`} ${where}`);
  }
  return parts.join(', ');
}

/** Is the split far from balanced (a class under 40%)? */
const imbalanced = (c: SplitCounts | undefined) => Boolean(c && total(c) > 0 && c.counts.some((n) => n / total(c) < 0.4));

function provenanceLines(input: ModelCardInput): string[] {
  const { meta, dataset } = input;
  const measured = dataset ? ' The data described here is the data its figures are measured on.' : '';
  if (meta.config.source === 'keras') {
    const from = typeof meta.config.file === 'string' ? ` \`${meta.config.file}\`` : '';
    return [`- Imported from the Keras file${from}: the data it was trained on is not recorded in it.${measured}`];
  }
  if (typeof meta.config.data === 'string') {
    if (dataset?.role === 'training') return [];
    return [`- Trained on \`${meta.config.data}\` (the checkpoint's training config), which is not there to describe now.${measured}`];
  }
  return [`- The checkpoint does not record the data it was trained on.${measured}`];
}

function dataLines(input: ModelCardInput, pos: string): string[] {
  const d = input.dataset;
  if (!d) return ['- No data folder to describe.'];
  const trained = d.role === 'training' ? 'Trained on' : 'Measured on';
  const problems = d.problems.map((p) => `- ${p}`);
  const shares = sharesText(d, pos);
  if (d.kind === 'seed-extract' || d.kind === 'celeba') {
    const size = (d.train ? total(d.train) : 0) + (d.val ? total(d.val) : 0);
    const origin =
      d.kind === 'seed-extract'
        ? [
            `- ${trained} \`${d.dir}\`: a ${size}-image extract of CelebA (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015):`,
            '  celebrity face photos, 178x218 pixels, aligned and cropped; the extract is the one of the seed project',
            `  (github.com/CZhihao/gender-prediction; every file matches manifests/celeba-575.sha256): ${countsText(d)}.`,
          ]
        : [
            `- ${trained} \`${d.dir}\`: CelebA in its own layout (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015):`,
            `  celebrity face photos, aligned and cropped; partitions from list_eval_partition.txt: ${countsText(d)}.`,
          ];
    return [
      ...origin,
      ...problems,
      "- Labels are CelebA's binary `Male` attribute, set by human annotators: a perceived, binary label, with known",
      '  annotation noise in CelebA attributes.',
      '- Demographic skew: CelebA holds celebrities, mostly young, mostly light-skinned, often made up and',
      `  professionally photographed${shares ? `; the classes are ${imbalanced(d.train) || imbalanced(d.val) ? 'imbalanced' : 'shared'} (${shares})` : ''}. Figures`,
      '  for under-represented groups are unknown and likely worse.',
      '- Licence: CelebA is available for non-commercial research purposes only; so is this model.',
    ];
  }
  return [
    `- ${trained} \`${d.dir}\`: ${countsText(d)}. The labels are the names of the class folders${shares ? `; class shares: ${shares}` : ''}.`,
    ...problems,
    '- Nothing else about this data is recorded (where the images come from, how they were labelled, what or whom',
    '  they show, their licence): whoever shares this model should add it here.',
  ];
}

function intendedUseLines(input: ModelCardInput, neg: string, pos: string): string[] {
  const faces = input.dataset?.kind === 'seed-extract' || input.dataset?.kind === 'celeba';
  if (faces)
    return [
      `- Not for decisions about people. It guesses a binary ${neg}/${pos} label from a face photo; gender is not`,
      '  binary and is not visible in a face, and the guess is wrong on some photos even like its training data',
      '  (see the metrics below). Do not use it to identify, sort, admit, refuse or profile anyone.',
      '- Out of scope: photos unlike CelebA (non-frontal faces, children, other lighting, cameras or crops).',
    ];
  return [
    `- It guesses a binary ${neg}/${pos} label from an image, and the guess is wrong on some images even like its`,
    '  training data (see the metrics below); it has not been validated for decisions of any consequence.',
    '- Out of scope: images unlike its training data.',
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
    `\`${path.basename(input.modelFile)}\`, exported by engine ${ENGINE_VERSION} from \`${input.weightsFile}\` (epoch ${meta.epoch ?? 'unknown'}, ` +
      `${meta.step} optimizer steps). ${input.params.toLocaleString('en-US')} parameters; input: an RGB image resized to ` +
      `${meta.spec.input[1]}x${meta.spec.input[0]} with PIL's nearest rule, pixels / 255; output: P(${pos}).`,
    '',
    '## Intended use',
    '',
    '- Research and teaching on small convolutional networks: training speed, reproducibility, export, evaluation.',
    ...intendedUseLines(input, neg, pos),
    '',
    '## Data',
    '',
    ...provenanceLines(input),
    ...dataLines(input, pos),
    ...(input.runDataset ? [`- This checkpoint's run (run.json beside it) trained on ${input.runDataset.train} images and validated on ${input.runDataset.val}.`] : []),
    '',
    '## Metrics on val',
    '',
    ...(report ? metricsSection(report, input.measuredOn) : [`Not measured: ${input.missingReason ?? 'no validation data'}.`]),
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
