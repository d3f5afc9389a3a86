// Model specs are data: the native engine builds a graph of ops from such a list (native/model/graph.h). A layer
// reads the layer before it, or the layers its `inputs` name ('input' is the image), so a sequential list is the
// common case and a residual block names its shortcut.
import { UsageError } from '../errors.js';

export type LayerSpec = (
  | { type: 'conv3x3'; filters: number }
  /** a convolution of any odd kernel size, stride and padding ('same': the output is ceil(input / stride)) */
  | { type: 'conv'; filters: number; kernel: number; stride?: number; padding?: 'valid' | 'same' }
  | { type: 'relu' }
  | { type: 'maxpool2x2' }
  | { type: 'flatten' }
  | { type: 'dense'; units: number }
  | { type: 'dropout'; rate: number }
  /** the mean over the pixels of each channel: [h, w, c] -> [1, 1, c] */
  | { type: 'globalavgpool' }
  /** the sum of its two inputs, of the same shape (a residual connection) */
  | { type: 'add' }
  /** batch normalisation per channel (statistics of the batch in training, running ones at inference) */
  | { type: 'batchnorm'; momentum?: number; epsilon?: number }
) & {
  /** unique; default <kind><n> counted per kind (conv1, dense2, bn1, pool3, gap1, add1, relu4, ...) */
  name?: string;
  /** the layers it reads ('input': the image); default the layer before it */
  inputs?: string[];
};

/** How an image is brought to the model's input size (its `resize`): see RESIZE_NOTES. */
export type ResizeRule = 'pil-nearest' | 'bilinear' | 'none';
export const RESIZE_RULES: readonly ResizeRule[] = ['pil-nearest', 'bilinear', 'none'];
/** The rule of a spec that names none (every model before the rule was recorded): the seed's. */
export const DEFAULT_RESIZE: ResizeRule = 'pil-nearest';

/** Each rule in words, for the ONNX metadata (`resize_note`) and the docs; w x h is the model's input. */
export function resizeNote(rule: ResizeRule, w: number, h: number): string {
  switch (rule) {
    case 'pil-nearest':
      return `resize to ${w}x${h} (width x height) with PIL's NEAREST rule, source index floor((i + 0.5) * src / dst) per axis; the aspect ratio is not kept`;
    case 'bilinear':
      return `resize to ${w}x${h} (width x height) with PIL's Image.BILINEAR (a triangle filter widened by the scale when shrinking, 8-bit fixed-point coefficients, horizontal pass first); the aspect ratio is not kept`;
    case 'none':
      return `no resize: images must be ${w}x${h} (width x height) already`;
  }
}

export type Head = 'sigmoid' | 'softmax';
export const HEADS: readonly Head[] = ['sigmoid', 'softmax'];

export interface ModelSpec {
  name: string;
  /** input image [height, width, channels], channels-last; 1 channel is grey (luma), 3 is RGB */
  input: [number, number, number];
  layers: LayerSpec[];
  /** sigmoid (default): the last layer is one logit, P(class 1); softmax: one logit per class */
  head?: Head;
  /** how images are brought to the input size (default DEFAULT_RESIZE, the seed's) */
  resize?: ResizeRule;
}

const convBlock = (filters: number): LayerSpec[] => [{ type: 'conv3x3', filters }, { type: 'relu' }, { type: 'maxpool2x2' }];

const head: LayerSpec[] = [
  { type: 'flatten' },
  { type: 'dense', units: 64 },
  { type: 'relu' },
  { type: 'dropout', rate: 0.5 },
  { type: 'dense', units: 1 },
];

/** The seed's 7-layer CNN (SPEC §1): 5 conv blocks and 2 dense layers, 91,329 parameters. */
export const SEED7: ModelSpec = {
  name: 'seed7',
  input: [150, 150, 3],
  layers: [...convBlock(32), ...convBlock(32), ...convBlock(32), ...convBlock(64), ...convBlock(64), ...head],
};

/** The seed's earlier 5-layer net: 3 conv blocks of 32 filters and the same head (its size is an assumption). */
export const SEED5: ModelSpec = {
  name: 'seed5',
  input: [150, 150, 3],
  layers: [...convBlock(32), ...convBlock(32), ...convBlock(64), ...head],
};

/**
 * A plain 2-convolution baseline for 28x28 grey images (Fashion-MNIST, MNIST), in the spirit of TensorFlow's
 * tutorial CNN: conv 32 and conv 64 (3x3 valid, ReLU, 2x2 max-pool), dense 128, dropout 0.4, dense 10 softmax.
 */
export const FMNIST_CNN: ModelSpec = {
  name: 'fmnist-cnn',
  input: [28, 28, 1],
  resize: 'none',
  head: 'softmax',
  layers: [
    ...convBlock(32),
    ...convBlock(64),
    { type: 'flatten' },
    { type: 'dense', units: 128 },
    { type: 'relu' },
    { type: 'dropout', rate: 0.4 },
    { type: 'dense', units: 10 },
  ],
};

/**
 * fmnist-res: a residual net for 28x28 grey images, 96,714 trainable parameters with batch norm's: a 16-channel
 * stem, then three stages of residual blocks (16, 32 and 64 channels; one block each, two in the 14x14 stage, where
 * a block is cheapest per parameter; each block two 3x3 convolutions with batch norm, a 1x1 projection shortcut
 * where the channels change), 2x2 max-pools between them, global average pooling and a 10-way softmax.
 */
export const FMNIST_RES: ModelSpec = {
  name: 'fmnist-res',
  input: [28, 28, 1],
  resize: 'none',
  head: 'softmax',
  layers: [
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'stem' },
    { type: 'batchnorm', name: 'stem.bn' },
    { type: 'relu', name: 'stem.relu' },
    ...residualBlock('b1', 'stem.relu', 16),
    { type: 'maxpool2x2', name: 'p1' },
    ...residualBlock('b2', 'p1', 32, { project: true }),
    ...residualBlock('b2b', 'b2.out', 32),
    { type: 'maxpool2x2', name: 'p2' },
    ...residualBlock('b3', 'p2', 64, { project: true }),
    { type: 'globalavgpool', name: 'gap' },
    { type: 'dense', units: 10, name: 'head' },
  ],
};

/**
 * A residual block of two 3x3 'same' convolutions with batch norm; `stride` 2 (and a 1x1 projection) halves the map.
 * Its ops are named `${name}.c1`, `.bn1`, `.r1`, `.c2`, `.bn2` (`.proj`, `.bnp`), `.add` and `.out`.
 */
export function residualBlock(name: string, input: string, filters: number, opts: { stride?: number; project?: boolean } = {}): LayerSpec[] {
  const stride = opts.stride ?? 1;
  const shortcut: LayerSpec[] = opts.project
    ? [
        { type: 'conv', kernel: 1, stride, filters, name: `${name}.proj`, inputs: [input] },
        { type: 'batchnorm', name: `${name}.bnp` },
      ]
    : [];
  return [
    { type: 'conv', kernel: 3, stride, padding: 'same', filters, name: `${name}.c1`, inputs: [input] },
    { type: 'batchnorm', name: `${name}.bn1` },
    { type: 'relu', name: `${name}.r1` },
    { type: 'conv', kernel: 3, padding: 'same', filters, name: `${name}.c2` },
    { type: 'batchnorm', name: `${name}.bn2` },
    ...shortcut,
    { type: 'add', name: `${name}.add`, inputs: [`${name}.bn2`, opts.project ? `${name}.bnp` : input] },
    { type: 'relu', name: `${name}.out` },
  ];
}

/**
 * face-res: a small residual net for the seed's 150x150 RGB faces (the seed's "future work"). A 5x5 stride-2
 * 'valid' stem (73x73) and a max-pool (36x36) cut the compute early (the pool before the stem's batch norm and
 * ReLU, which costs less and keeps the native plan off its BN+ReLU+pool fusion); then residual stages of 32, 64
 * and 128 channels (the later two strided, with 1x1 projections: 18x18, 9x9), global average pooling, dropout
 * and a dense output (the sigmoid's one logit for 2 classes).
 */
export const FACE_RES: ModelSpec = {
  name: 'face-res',
  input: [150, 150, 3],
  layers: [
    { type: 'conv', kernel: 5, stride: 2, filters: 32, name: 'stem' },
    { type: 'maxpool2x2', name: 'pool' },
    { type: 'batchnorm', name: 'stem.bn' },
    { type: 'relu', name: 'stem.relu' },
    ...residualBlock('b1', 'stem.relu', 32),
    ...residualBlock('b2', 'b1.out', 64, { stride: 2, project: true }),
    ...residualBlock('b3', 'b2.out', 128, { stride: 2, project: true }),
    { type: 'globalavgpool', name: 'gap' },
    { type: 'dropout', rate: 0.2, name: 'drop' },
    { type: 'dense', units: 1, name: 'head' },
  ],
};

export type Optimizer = 'rmsprop' | 'sgd' | 'adamw';
export const OPTIMIZERS: readonly Optimizer[] = ['rmsprop', 'sgd', 'adamw'];
/** keras: the seed's shear/zoom/flip warp; crop: shift (a random crop of the zero-padded image), flip, rotation, erasing */
export type AugmentKind = 'keras' | 'crop' | 'none';
export const AUGMENT_KINDS: readonly AugmentKind[] = ['keras', 'crop', 'none'];
export type Schedule = 'constant' | 'step' | 'cosine' | 'onecycle';
export const SCHEDULES: readonly Schedule[] = ['constant', 'step', 'cosine', 'onecycle'];
/** the validation figure that picks best.safetensors and drives early stopping */
export type Monitor = 'val_loss' | 'val_acc';
export const MONITORS: readonly Monitor[] = ['val_loss', 'val_acc'];
/** auto: per-channel mean and std of the training split (recorded); none: pixels / 255 */
export type NormalizeChoice = 'auto' | 'none';
export const NORMALIZE_CHOICES: readonly NormalizeChoice[] = ['auto', 'none'];

/** What a training run of a preset does unless options say otherwise (src/options/recipe.ts checks each). */
export interface Recipe {
  epochs: number;
  batchSize: number;
  optimizer: Optimizer;
  /** the peak learning rate (the schedule's) */
  lr: number;
  /** RMSprop's decay (Keras' rho); RMSprop's and AdamW's epsilon */
  rho: number;
  epsilon: number;
  /** SGD's momentum and Nesterov's variant */
  momentum: number;
  nesterov: boolean;
  /** AdamW's moment decays */
  beta1: number;
  beta2: number;
  /** on the kernels only: coupled (added to the gradient) for RMSprop and SGD, decoupled for AdamW; 0: none */
  weightDecay: number;
  /** the gradient's global L2 norm at most this (0: no clipping) */
  clipNorm: number;
  labelSmoothing: number;
  /** the share a moving average of the weights keeps each step (0: none); validation and export then use it */
  ema: number;
  normalize: NormalizeChoice;
  augment: AugmentKind;
  /** crop: up to this many pixels of shift each way (a random crop of the image zero-padded by it) */
  shift: number;
  /** crop: mirror half the images left-right */
  flip: boolean;
  /** crop: a rotation uniform in [-rotate, rotate] degrees */
  rotate: number;
  /** crop: the probability of erasing a random rectangle (to the channels' mean), of an area share in eraseArea and aspect (height / width) in eraseAspect (log-uniform) */
  erase: number;
  eraseArea: [number, number];
  eraseAspect: [number, number];
  schedule: Schedule;
  /** epochs of linear warm-up from 0 to lr (onecycle: its rising phase, default 30% of the steps) */
  warmup: number;
  /** step: the lr is multiplied by stepGamma every stepSize epochs (0: a third of the epochs) */
  stepSize: number;
  stepGamma: number;
  monitor: Monitor;
  /** stop after this many epochs without a better monitored figure (0: never) */
  patience: number;
}

export const RECIPE_KEYS: readonly (keyof Recipe)[] = [
  'epochs', 'batchSize', 'optimizer', 'lr', 'rho', 'epsilon', 'momentum', 'nesterov', 'beta1', 'beta2', 'weightDecay', 'clipNorm',
  'labelSmoothing', 'ema', 'normalize', 'augment', 'shift', 'flip', 'rotate', 'erase', 'eraseArea', 'eraseAspect', 'schedule',
  'warmup', 'stepSize', 'stepGamma', 'monitor', 'patience',
];

/** An architecture with its default training recipe. */
export interface Preset {
  spec: ModelSpec;
  recipe: Recipe;
}

/**
 * The seed's recipe (SPEC §4): RMSprop lr 0.001, batch 32, its augmentation; 70 epochs, as the README's figures;
 * best.safetensors by the lowest val_loss. The other fields are the defaults of what the seed did not have
 * (the crop augmentation's settings take effect with augment 'crop').
 */
export const SEED_RECIPE: Readonly<Recipe> = Object.freeze({
  epochs: 70,
  batchSize: 32,
  optimizer: 'rmsprop',
  lr: 0.001,
  rho: 0.9,
  epsilon: 1e-7,
  momentum: 0,
  nesterov: false,
  beta1: 0.9,
  beta2: 0.999,
  weightDecay: 0,
  clipNorm: 0,
  labelSmoothing: 0,
  ema: 0,
  normalize: 'none',
  augment: 'keras',
  shift: 4,
  flip: true,
  rotate: 0,
  erase: 0,
  eraseArea: [0.02, 0.33],
  eraseAspect: [0.3, 3.3],
  schedule: 'constant',
  warmup: 0,
  stepSize: 0,
  stepGamma: 0.1,
  monitor: 'val_loss',
  patience: 0,
} satisfies Recipe) as Readonly<Recipe>;

/**
 * fmnist-res's recipe: SGD with Nesterov momentum, a cosine schedule after a warm-up epoch, shift-and-flip crops,
 * label smoothing 0.1; 26 epochs fit the 10 minutes of the 2-core machine (docs/benchmarks.md, Fashion-MNIST).
 */
export const FMNIST_RES_RECIPE: Readonly<Recipe> = Object.freeze({
  ...SEED_RECIPE,
  epochs: 26,
  batchSize: 128,
  optimizer: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  nesterov: true,
  weightDecay: 5e-4,
  labelSmoothing: 0.1,
  normalize: 'auto',
  augment: 'crop',
  shift: 2,
  flip: true,
  schedule: 'cosine',
  warmup: 1,
  monitor: 'val_acc',
} satisfies Recipe) as Readonly<Recipe>;

/**
 * face-res's recipe: AdamW (lr 0.001, decoupled weight decay 0.05), 70 epochs, cosine after a 2-epoch warm-up,
 * the seed's Keras warp; chosen by 5-fold cross-validation on the seed's faces (docs/benchmarks.md).
 */
export const FACE_RES_RECIPE: Readonly<Recipe> = Object.freeze({
  ...SEED_RECIPE,
  epochs: 70,
  batchSize: 32,
  optimizer: 'adamw',
  lr: 0.001,
  weightDecay: 0.05,
  normalize: 'auto',
  augment: 'keras',
  schedule: 'cosine',
  warmup: 2,
  monitor: 'val_acc',
} satisfies Recipe) as Readonly<Recipe>;

export const PRESETS: Readonly<Record<string, Readonly<Preset>>> = Object.freeze({
  seed7: { spec: SEED7, recipe: SEED_RECIPE },
  seed5: { spec: SEED5, recipe: SEED_RECIPE },
  'fmnist-cnn': { spec: FMNIST_CNN, recipe: { ...SEED_RECIPE, epochs: 15, batchSize: 64, augment: 'none', schedule: 'cosine' } },
  'fmnist-res': { spec: FMNIST_RES, recipe: FMNIST_RES_RECIPE },
  'face-res': { spec: FACE_RES, recipe: FACE_RES_RECIPE },
});

export const MODEL_SPECS: Record<string, ModelSpec> = Object.fromEntries(Object.entries(PRESETS).map(([name, p]) => [name, p.spec]));

const isPresetName = (name: unknown): name is string => typeof name === 'string' && Object.hasOwn(PRESETS, name);

export function modelSpec(name: string): ModelSpec {
  // Own keys only: 'toString' or '__proto__' are properties of every object, not models.
  if (!isPresetName(name)) throw new UsageError(`unknown model '${name}': expected one of ${Object.keys(MODEL_SPECS).join(', ')}`);
  return MODEL_SPECS[name];
}

/** The preset called `name`, or undefined. */
export function presetOf(name: unknown): Readonly<Preset> | undefined {
  return isPresetName(name) ? PRESETS[name] : undefined;
}

const isPositiveInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 1;

/**
 * Checks the parts of a model spec that are not the native layer graph's (which native.layout checks): a name,
 * an input of [height, width, 1 or 3], a list of layers, a known head and resize rule. `where` starts the message.
 */
export function checkSpecShape(spec: unknown, where: string): ModelSpec {
  const s = spec as Partial<ModelSpec> | null;
  const fail = (why: string): never => {
    throw new UsageError(`${where}: ${why}`);
  };
  if (!s || typeof s !== 'object' || Array.isArray(s)) fail(`a model spec must be an object with name, input and layers, got ${JSON.stringify(spec)}`);
  if (typeof s!.name !== 'string' || s!.name === '') fail(`the spec needs a name (a non-empty string), got ${JSON.stringify(s!.name)}`);
  const input = s!.input;
  if (!Array.isArray(input) || input.length !== 3 || !input.every(isPositiveInt))
    fail(`input must be [height, width, channels] of positive whole numbers, got ${JSON.stringify(input)}`);
  if (input![2] !== 1 && input![2] !== 3) fail(`input channels must be 1 (grey) or 3 (RGB), got ${input![2]}`);
  if (!Array.isArray(s!.layers) || s!.layers.length === 0) fail('layers must be a non-empty list');
  if (s!.head !== undefined && !HEADS.includes(s!.head)) fail(`head must be ${HEADS.join(' or ')}, got ${JSON.stringify(s!.head)}`);
  if (s!.resize !== undefined && !RESIZE_RULES.includes(s!.resize)) fail(`resize must be ${RESIZE_RULES.join(', ')}, got ${JSON.stringify(s!.resize)}`);
  return s as ModelSpec;
}

/** The head a spec computes: its own, or sigmoid (specs before heads existed). */
export const headOf = (spec: ModelSpec): Head => spec.head ?? 'sigmoid';
/** The resize rule a spec records, or the seed's. */
export const resizeOf = (spec: ModelSpec): ResizeRule => spec.resize ?? DEFAULT_RESIZE;

/**
 * The spec a training run builds: `base` (a preset's or the user's) for `classes` classes. The one place where a
 * dataset shapes the model. The head is `head` when given, softmax for more than 2 classes, else the base's own
 * (so 2 classes keep the seed's sigmoid); the last layer (a dense layer) gets one unit per class, or 1 for a
 * sigmoid. `resize` replaces the base's rule. A base that already fits is returned as it is (the same object).
 */
export function trainingSpec(base: ModelSpec, opts: { classes: number; head?: Head; resize?: ResizeRule }): ModelSpec {
  const { classes } = opts;
  const head = opts.head ?? (classes > 2 ? 'softmax' : headOf(base));
  if (head === 'sigmoid' && classes !== 2)
    throw new UsageError(`--head sigmoid gives one output, P(class 1), for 2 classes; the data has ${classes}: use --head softmax`);
  const units = head === 'sigmoid' ? 1 : classes;
  const last = base.layers[base.layers.length - 1];
  if (last?.type !== 'dense')
    throw new UsageError(`model '${base.name}': its last layer is ${last ? `a ${last.type} layer` : 'missing'}; it must be a dense layer (it gets one unit per class)`);
  const resize = opts.resize ?? resizeOf(base);
  if (last.units === units && headOf(base) === head && resizeOf(base) === resize) return base;
  const { head: _h, resize: _r, ...rest } = base;
  return {
    ...rest,
    layers: [...base.layers.slice(0, -1), { ...last, units }],
    ...(head === 'softmax' ? { head } : {}),
    ...(resize !== DEFAULT_RESIZE ? { resize } : {}),
  };
}
