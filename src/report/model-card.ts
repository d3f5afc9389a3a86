// MODEL_CARD.md's text: what the model is for and not for, the data it learnt from, its figures on val (with
// their uncertainty: 75 images is few), for any number of classes, and the training config from the
// checkpoint's metadata, under readable names. A renderer of figures computed elsewhere (workflows/model-card.ts
// measures them): it reads and writes nothing. Paths are written relative to the card's folder, so a card says
// nothing of the machine it was made on.
import path from 'node:path';
import { decisionText, fixed4, pct, type EvalReport } from '../eval/report.js';
import { kebabFlag, keyOf } from '../options/table.js';
import { TRAIN_OPTIONS } from '../options/train.js';
import { unreadRecipeKeys } from '../options/recipe.js';
import { RECIPE_KEYS, type Recipe } from '../model/spec.js';
import type { CheckpointMeta } from '../store/checkpoint.js';
import { resizeOf, type ResizeRule } from '../model/spec.js';
import { pythonSnippet, type SnippetModel } from './python-snippet.js';
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
  /** the exported model's interface, for the Python snippet (none without it) */
  info?: SnippetModel;
}

const cell = (v: unknown) => String(typeof v === 'string' ? v : JSON.stringify(v)).replace(/\|/g, '\\|');

/** `p` relative to the card's folder, with forward slashes ('.' for the folder itself). */
type Relative = (p: string) => string;
const relativeTo =
  (cardDir: string): Relative =>
  (p) =>
    path.relative(path.resolve(cardDir), path.resolve(p)).split(path.sep).join('/') || '.';

function metricsSection(r: EvalReport, measuredOn: string, rel: Relative): string[] {
  const [lo, hi] = r.accuracyInterval;
  const { classes, matrix } = r.confusion;
  const binary = classes.length === 2;
  return [
    `Measured by \`engine eval\` on the exported file itself, ${r.images} images of \`${rel(r.dir)}\`, on ${measuredOn}.`,
    `${decisionText(r).replace(/^p/, 'P')}.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| accuracy | ${pct(r.accuracy)} (${r.correct}/${r.images}) |`,
    `| accuracy, 95% confidence interval (Wilson) | ${pct(lo, 1)} to ${pct(hi, 1)} |`,
    ...r.topK.map((t) => `| top-${t.k} accuracy | ${pct(t.accuracy)} (${t.correct}/${r.images}) |`),
    `| mean average precision | ${pct(r.rankedMAP)} (ties grouped: ${pct(r.mAP)}) |`,
    `| ROC AUC${binary ? '' : ', macro mean of one class against the rest'} | ${fixed4(r.rocAuc)} |`,
    '',
    'Per class (average precision: one class against the rest, its images ranked by score, equal scores in file order;',
    '"ties grouped" counts equal scores as one step, as scikit-learn does):',
    '',
    '| class | average precision | precision | recall | F1 | images |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...classes.map((c) => {
      const f = r.perClass[c];
      return `| ${cell(c)} | ${pct(r.rankedAveragePrecision[c])} (ties grouped: ${pct(r.averagePrecision[c])}) | ${pct(f.precision)} | ${pct(f.recall)} | ${pct(f.f1)} | ${f.support} |`;
    }),
    '',
    'Confusion matrix (rows: true class, columns: predicted):',
    '',
    `| | ${classes.map(cell).join(' | ')} |`,
    `| --- |${' ---: |'.repeat(classes.length)}`,
    ...matrix.map((row, i) => `| ${cell(classes[i])} | ${row.join(' | ')} |`),
    ...(binary || r.confusedPairs.length === 0
      ? []
      : ['', `Most confused: ${r.confusedPairs.slice(0, 5).map((p) => `${p.label} as ${p.predicted} (${p.count}, ${pct(p.share, 1)})`).join(', ')}.`]),
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

/**
 * 2 classes: "60% woman in training, 69% in validation", the share of the class the model outputs; more:
 * "in training 10% a, 30% b, 60% c; in validation ...".
 */
function sharesText(d: DatasetDescription, pos: string | undefined): string {
  const parts: string[] = [];
  for (const [c, where] of [[d.train, 'in training'], [d.val, 'in validation']] as const) {
    if (!c || total(c) === 0) continue;
    if (pos === undefined) {
      parts.push(`${where} ${c.classes.map((name, i) => `${share(c.counts[i], total(c))} ${name}`).join(', ')}`);
      continue;
    }
    const i = c.classes.indexOf(pos);
    if (i >= 0) parts.push(`${share(c.counts[i], total(c))}${parts.length ? '' : ` ${pos}`} ${where}`);
  }
  return parts.join(pos === undefined ? '; ' : ', ');
}

/** Is the split far from balanced: a class under 80% of an even share (under 40% of 2 classes)? */
const imbalanced = (c: SplitCounts | undefined) =>
  Boolean(c && total(c) > 0 && c.counts.some((n) => n / total(c) < 0.8 / c.classes.length));

/** A path the checkpoint recorded: relative to the card's folder when it is absolute, else as it was typed. */
const recordedPath = (p: string, rel: Relative) => (path.isAbsolute(p) ? rel(p) : p);

function provenanceLines(input: ModelCardInput, rel: Relative): string[] {
  const { meta, dataset } = input;
  const measured = dataset ? ' The data described here is the data its figures are measured on.' : '';
  if (meta.config.source === 'keras') {
    const from = typeof meta.config.file === 'string' ? ` \`${recordedPath(meta.config.file, rel)}\`` : '';
    return [`- Imported from the Keras file${from}: the data it was trained on is not recorded in it.${measured}`];
  }
  if (typeof meta.config.data === 'string') {
    if (dataset?.role === 'training') return [];
    return [`- Trained on \`${recordedPath(meta.config.data, rel)}\` (the checkpoint's training config), which is not there to describe now.${measured}`];
  }
  return [`- The checkpoint does not record the data it was trained on.${measured}`];
}

function dataLines(input: ModelCardInput, rel: Relative): string[] {
  const d = input.dataset;
  if (!d) return ['- No data folder to describe.'];
  const trained = d.role === 'training' ? 'Trained on' : 'Measured on';
  const dir = rel(d.dir);
  // listing errors name the folder as it was found
  const problems = d.problems.map((p) => `- ${p.split(d.dir).join(dir)}`);
  const classes = input.meta.classes;
  const shares = sharesText(d, classes.length === 2 ? classes[1] : undefined);
  if (d.kind === 'seed-extract' || d.kind === 'celeba') {
    const size = (d.train ? total(d.train) : 0) + (d.val ? total(d.val) : 0);
    const origin =
      d.kind === 'seed-extract'
        ? [
            `- ${trained} \`${dir}\`: a ${size}-image extract of CelebA (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015):`,
            '  celebrity face photos, 178x218 pixels, aligned and cropped; the extract is the one of the seed project',
            `  (github.com/CZhihao/gender-prediction; every file matches manifests/celeba-575.sha256): ${countsText(d)}.`,
          ]
        : [
            `- ${trained} \`${dir}\`: CelebA in its own layout (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015):`,
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
    `- ${trained} \`${dir}\`: ${countsText(d)}. The labels are the names of the class folders${shares ? `; class shares: ${shares}` : ''}.`,
    ...problems,
    '- Nothing else about this data is recorded (where the images come from, how they were labelled, what or whom',
    '  they show, their licence): whoever shares this model should add it here.',
  ];
}

/** "a binary cat/dog label", "one of 3 classes (a, b, c)", "one of 10 classes (T-shirt/top, ...)". */
const guessText = (classes: string[]) => (classes.length === 2 ? `a binary ${classes[0]}/${classes[1]} label` : `one of ${classes.length} classes (${classes.join(', ')})`);

function intendedUseLines(input: ModelCardInput): string[] {
  const faces = input.dataset?.kind === 'seed-extract' || input.dataset?.kind === 'celeba';
  const guess = guessText(input.meta.classes);
  if (faces)
    return [
      `- Not for decisions about people. It guesses ${guess} from a face photo; gender is not`,
      '  binary and is not visible in a face, and the guess is wrong on some photos even like its training data',
      '  (see the metrics below). Do not use it to identify, sort, admit, refuse or profile anyone.',
      '- Out of scope: photos unlike CelebA (non-frontal faces, children, other lighting, cameras or crops).',
    ];
  return [
    `- It guesses ${guess} from an image, and the guess is wrong on some images even like its`,
    '  training data (see the metrics below); it has not been validated for decisions of any consequence.',
    '- Out of scope: images unlike its training data.',
  ];
}

/** Readable names of config keys the words of the key do not say well. */
const SETTING_NAMES: Record<string, string> = {
  lr: 'learning rate',
  isa: 'instruction set',
  rho: 'RMSprop rho',
  epsilon: 'RMSprop epsilon',
  file: 'imported from',
  model_file: 'Keras model file',
};
/** What a setting means where the option table's words would say more than the card should (every preset's name). */
const SETTING_MEANINGS: Record<string, string> = {
  arch: 'the architecture: a preset (which brings its recipe) or a model spec',
};
/** Config keys that hold paths. */
const PATH_SETTINGS = new Set(['data', 'out', 'cacheDir', 'file', 'model_file']);

/** One training setting as a table row: a readable name, the value, and what it means (from the option table). */
function settingRow(key: string, value: unknown, rel: Relative): string {
  const option = TRAIN_OPTIONS.find((o) => keyOf(o) === key);
  const name = SETTING_NAMES[key] ?? kebabFlag(key).replace(/[-_]+/g, ' ');
  const shown = PATH_SETTINGS.has(key) && typeof value === 'string' ? recordedPath(value, rel) : value;
  const meaning = SETTING_MEANINGS[key] ?? option?.description;
  return `| ${cell(name)} | ${cell(shown)} | ${meaning ? cell(meaning) : ''} |`;
}

/** "an RGB image", "a greyscale image", "a 4-channel image". */
const inputText = (channels: number) => (channels === 3 ? 'an RGB image' : channels === 1 ? 'a greyscale image' : `a ${channels}-channel image`);

/** "resized to 150x150 with PIL's nearest rule", "of 28x28 (not resized)" */
function sizeText(rule: ResizeRule, w: number, h: number): string {
  if (rule === 'none') return `of ${w}x${h} (not resized)`;
  return `resized to ${w}x${h} with PIL's ${rule === 'bilinear' ? 'bilinear' : 'nearest'} rule`;
}

export function modelCardMarkdown(input: ModelCardInput): string {
  const { meta, report } = input;
  const rel = relativeTo(path.dirname(input.modelFile));
  const { classes } = meta;
  const softmax = meta.spec.head === 'softmax';
  // a recorded recipe (runs before it grew hold only some keys) shows what the run read: no --momentum of an RMSprop run
  const recorded = meta.config as Partial<Recipe>;
  const unread = new Set<string>(RECIPE_KEYS.every((k) => k in recorded) ? unreadRecipeKeys(recorded as Recipe) : []);
  const config = Object.entries(meta.config).filter(([k, v]) => v !== undefined && !unread.has(k));
  const trained = meta.metrics
    ? Object.entries(meta.metrics).map(([k, v]) => `${k} ${Number(v).toFixed(4)}`).join(', ')
    : 'not recorded';
  const [h, w, c] = meta.spec.input;
  const output = softmax ? `the probability of each class (softmax), classes ${classes.join(', ')}` : `P(${classes[1]})`;
  const lines = [
    `# Model card: ${meta.spec.name} ${classes.length === 2 ? `${classes[0]}/${classes[1]} classifier` : `classifier of ${classes.length} classes`}`,
    '',
    `\`${path.basename(input.modelFile)}\`, exported by engine ${ENGINE_VERSION} from \`${rel(input.weightsFile)}\` (epoch ${meta.epoch ?? 'unknown'}, ` +
      `${meta.step} optimizer steps). ${input.params.toLocaleString('en-US')} parameters; input: ${inputText(c)} ${sizeText(resizeOf(meta.spec), w, h)}, ` +
      `pixels / 255; output: ${output}.`,
    '',
    '## Intended use',
    '',
    '- Research and teaching on small convolutional networks: training speed, reproducibility, export, evaluation.',
    ...intendedUseLines(input),
    '',
    '## Data',
    '',
    ...provenanceLines(input, rel),
    ...dataLines(input, rel),
    ...(input.runDataset ? [`- This checkpoint's run (run.json beside it) trained on ${input.runDataset.train} images and validated on ${input.runDataset.val}.`] : []),
    '',
    '## Metrics on val',
    '',
    ...(report ? metricsSection(report, input.measuredOn, rel) : [`Not measured: ${input.missingReason ?? 'no validation data'}.`]),
    '',
    ...(input.info
      ? [
          '## Using the model elsewhere',
          '',
          `With Python's onnxruntime, Pillow and numpy (\`engine predict\` also applies the EXIF orientation: \`ImageOps.exif_transpose\`):`,
          '',
          '```python',
          ...pythonSnippet(input.info, path.basename(input.modelFile)),
          '```',
          '',
        ]
      : []),
    '## Training',
    '',
    `Figures the trainer recorded for this checkpoint: ${trained}.`,
    '',
    '| setting | value | meaning |',
    '| --- | --- | --- |',
    `| architecture | ${cell(meta.spec.name)}, ${meta.spec.layers.length} layers${softmax ? ', softmax head' : ''} | the model spec |`,
    ...config.map(([k, v]) => settingRow(k, v, rel)),
    '',
  ];
  return lines.join('\n');
}
