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

/** What a training run of a preset does unless options say otherwise. */
export interface Recipe {
  epochs: number;
  batchSize: number;
  /** RMSprop learning rate, decay (Keras' rho) and epsilon */
  lr: number;
  rho: number;
  epsilon: number;
  /** the seed's shear/zoom/flip augmentation */
  augment: boolean;
}

export const RECIPE_KEYS: readonly (keyof Recipe)[] = ['epochs', 'batchSize', 'lr', 'rho', 'epsilon', 'augment'];

/** An architecture with its default training recipe. */
export interface Preset {
  spec: ModelSpec;
  recipe: Recipe;
}

/** The seed's recipe (SPEC §4): RMSprop lr 0.001, batch 32, augmentation; 70 epochs, as the README's figures. */
export const SEED_RECIPE: Readonly<Recipe> = Object.freeze({ epochs: 70, batchSize: 32, lr: 0.001, rho: 0.9, epsilon: 1e-7, augment: true });

export const PRESETS: Readonly<Record<string, Readonly<Preset>>> = Object.freeze({
  seed7: { spec: SEED7, recipe: SEED_RECIPE },
  seed5: { spec: SEED5, recipe: SEED_RECIPE },
  'fmnist-cnn': { spec: FMNIST_CNN, recipe: { ...SEED_RECIPE, epochs: 15, batchSize: 64, augment: false } },
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
