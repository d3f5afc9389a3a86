// `engine train`'s options: the table (flags, defaults, descriptions) and resolveTrainOptions, the one check
// shared by the CLI and the library, which turns them into a complete TrainConfig (kernel choices included)
// with messages that say what was expected and what came.
import os from 'node:os';
import { integerIn, oneOf, orList, threadsOption } from './checks.js';
import { perPreset, RECIPE_OPTIONS, resolveRecipe } from './recipe.js';
import { DEFAULT_DATA_DIR } from './common.js';
import { defaultsOf, withDefaults, type OptionTable } from './table.js';
import { readInputTextSync } from '../io/read.js';
import { InputError, UsageError } from '../errors.js';
import {
  checkSpecShape,
  HEADS,
  presetOf,
  PRESETS,
  resizeOf,
  RECIPE_KEYS,
  RESIZE_RULES,
  SEED_RECIPE,
  type AugmentKind,
  type Head,
  type ModelSpec,
  type Preset,
  type Recipe,
  type ResizeRule,
} from '../model/spec.js';
import { defaultConv, native, type Isa } from '../native.js';

/** Where training runs: cpu, cuda, or auto (cuda when usable, else cpu); see train/device.ts. */
export type DeviceChoice = 'cpu' | 'cuda' | 'auto';
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['cpu', 'cuda', 'auto'];
export type Precision = 'fp32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16'];
export type ConvAlgorithm = 'winograd' | 'direct';
export const CONV_ALGORITHMS: readonly ConvAlgorithm[] = ['winograd', 'direct'];
/** lowest to highest: an ISA runs on a CPU whose best is at least it */
export const ISAS: readonly Isa[] = ['scalar', 'avx2', 'avx512'];

/** --val: the data's val split, its test split, or a fraction of train held out (seeded, class-stratified). */
export type ValChoice = 'val' | 'test' | number;

const PRESET_NAMES = Object.keys(PRESETS);

export const TRAIN_OPTIONS: OptionTable = [
  {
    flag: 'data',
    type: 'string',
    default: DEFAULT_DATA_DIR,
    defaultText: `${DEFAULT_DATA_DIR}, fetched when missing`,
    description: 'dataset folder with train/ (and val/), one subfolder per class, or the four MNIST-style IDX files',
  },
  { flag: 'fetch', type: 'boolean', default: true, only: 'cli', description: 'without --data: download ./data when it is missing (--no-fetch: refuse)' },
  {
    flag: 'arch',
    alias: 'model',
    type: 'string',
    default: 'seed7',
    description: `architecture: a preset (${PRESET_NAMES.join(', ')}; it brings its recipe) or a .json file holding a model spec`,
  },
  ...RECIPE_OPTIONS,
  {
    flag: 'head',
    type: 'string',
    choices: HEADS,
    defaultText: "softmax for more than 2 classes, else the preset's",
    description: 'the output: sigmoid (2 classes, P(class 1)) or softmax (one probability per class)',
  },
  {
    flag: 'resize',
    type: 'string',
    choices: RESIZE_RULES,
    defaultText: `the preset's (${perPreset((p) => resizeOf(p.spec))})`,
    description: "how images reach the model's input size: pil-nearest (the seed's), bilinear (PIL's) or none (they must have it)",
  },
  {
    flag: 'val',
    type: 'string',
    defaultText: 'val/; without one: 5,000 of train (50,000 or more), else 10%, held out',
    description: 'validation for data without a val split: test (its test split) or a FRACTION of train held out (seeded, per class)',
  },
  { flag: 'seed', type: 'integer', defaultText: 'random, recorded', description: 'seed for init, data order, augmentation and dropout' },
  { flag: 'save-every', type: 'integer', default: 10, description: 'write weights<epoch>.safetensors every N epochs (0: never)' },
  { flag: 'out', type: 'string', defaultText: 'runs/run-<date>-<time>', description: 'run directory; must be new or empty' },
  { flag: 'threads', type: 'integer', defaultText: 'all cores', description: 'CPU threads' },
  { flag: 'isa', type: 'string', choices: ISAS, yargsChoices: true, defaultText: 'best the CPU has', description: 'cap the instruction set of the native kernels' },
  {
    flag: 'precision',
    type: 'string',
    choices: PRECISIONS,
    yargsChoices: true,
    default: 'fp32',
    description: 'convolution operands: fp32, or bf16 with fp32 sums (CPUs with AVX512-BF16)',
  },
  {
    flag: 'conv',
    type: 'string',
    choices: CONV_ALGORITHMS,
    defaultText: 'winograd',
    description: 'CPU convolutions: winograd (the first conv stays direct; in bf16, with bf16 products on even "same" maps) or direct',
  },
  { flag: 'device', type: 'string', choices: DEVICE_CHOICES, yargsChoices: true, default: 'cpu', description: 'where to train (auto: cuda when usable)' },
  { flag: 'gpu', type: 'boolean', only: 'cli', description: 'train on the CUDA device (= --device cuda)' },
  { flag: 'skip-bad-images', type: 'boolean', default: false, description: 'skip images that fail to decode (with a warning) instead of stopping' },
  { flag: 'cache', type: 'boolean', defaultText: 'for splits over 512 MiB', description: 'on-disk image cache: --cache always, --no-cache never' },
  { flag: 'cache-dir', type: 'string', defaultText: '$ENGINE_CACHE_DIR, $XDG_CACHE_HOME/engine or ~/.cache/engine', description: 'image cache folder (implies --cache)' },
  { flag: 'resume', type: 'string', description: 'continue the interrupted run in this folder from its newest checkpoint (its recorded config)' },
  { flag: 'quiet', type: 'boolean', default: false, only: 'cli', description: 'print nothing but errors (and the --json summary)' },
  { flag: 'html', type: 'string', only: 'cli', description: 'at the end, write an HTML report of best.safetensors on val (as engine eval --html)' },
  { flag: 'json', type: 'boolean', default: false, only: 'cli', description: 'print a machine-readable summary on stdout' },
];

/**
 * The recipe as options (each the preset's unless given; see Recipe in model/spec.ts): augment also takes a
 * boolean (its former sense: on is 'keras', off 'none'), and the erasing ranges their 'LO,HI' text.
 */
export type RecipeOptions = Partial<Omit<Recipe, 'augment' | 'eraseArea' | 'eraseAspect'>> & {
  augment?: AugmentKind | boolean;
  eraseArea?: [number, number] | string;
  eraseAspect?: [number, number] | string;
};

export interface TrainOptions extends RecipeOptions {
  /** the dataset: a folder with train/ (and val/), one folder per class; CelebA's own layout; or MNIST-style IDX files */
  data?: string;
  /**
   * the architecture: a preset's name (seed7, seed5, fmnist-cnn: a spec and its recipe), a model spec, a preset
   * object ({spec, recipe}), or (as on the command line) the path of a .json file holding either; default seed7
   */
  arch?: string | ModelSpec | Preset;
  /** the former name of `arch` (`--model` still works in `engine train`) */
  model?: string | ModelSpec | Preset;
  /** the output: softmax for more than 2 classes, else the preset's (sigmoid for seed7 and seed5) unless given */
  head?: Head;
  /** how images reach the input size: the preset's rule unless given */
  resize?: ResizeRule;
  /**
   * where to validate when the data has no val split: 'test', or a fraction of train held out (seeded, stratified);
   * default 5,000 images of a train split of 50,000 or more, else 10%. Data with a val split validates on it.
   */
  val?: ValChoice | string;
  /** seeds initialisation, data order, augmentation, dropout and the held-out images; random when absent */
  seed?: number;
  /** write weights<epoch>.safetensors every N epochs (0: never) */
  saveEvery?: number;
  /** run directory; default runs/run-<date>-<time> under the working directory */
  out?: string;
  threads?: number;
  /** cap the instruction set of the native kernels (default: the best the CPU has, or ENGINE_ISA's cap) */
  isa?: Isa;
  /** leave out images that fail to decode, with a warning, instead of stopping */
  skipBadImages?: boolean;
  /** operands of the convolutions: fp32, or bf16 with fp32 sums (CPUs with AVX512-BF16); weights stay fp32 */
  precision?: Precision;
  /**
   * how the CPU runs convolutions: winograd (default: Winograd F(2x2, 3x3) or F(4x4, 3x3) for the convolutions
   * after the first where the plan finds it pays; in bf16 on AVX512-BF16, F(2x2) with bf16 products on even
   * 'same' maps of 8x8 or more) or direct (every convolution direct)
   */
  conv?: ConvAlgorithm;
  /** continue the interrupted run in this folder (its recorded config; see train/resume.ts) */
  resume?: string;
  /** the on-disk image cache: true always, false never (decode into memory), absent: for splits over 512 MiB */
  cache?: boolean;
  /** where the image cache lives (implies cache: true); default $XDG_CACHE_HOME/engine or ~/.cache/engine */
  cacheDir?: string;
  /** where to train: cpu (default), cuda, or auto (cuda when usable) */
  device?: DeviceChoice;
}

/** Where the recipe of a run came from: the preset (or spec file) and the options given. */
export interface RecipeSources {
  /** the preset's name, or the spec's for a spec object or file */
  preset: string;
  fromPreset: (keyof Recipe)[];
  given: (keyof Recipe)[];
}

/**
 * Every option decided: what the trainer is built with (seed, threads, isa, precision, conv) and what run.json
 * records. Only `out` (a fresh runs/run-<date>-<time>), `cache` (by size), `cacheDir` (the default folder), `head`
 * and `resize` (the preset's, for the data's classes) and `val` (by what the data has) stay open when not given:
 * they are decided where the folders are made and the data is read.
 */
export interface TrainConfig extends Recipe {
  data: string;
  /** a preset's name, or the model spec itself (given as an object or read from a .json file) */
  arch: string | ModelSpec;
  seed: number;
  saveEvery: number;
  threads: number;
  isa: Isa;
  skipBadImages: boolean;
  precision: Precision;
  conv: ConvAlgorithm;
  device: DeviceChoice;
  head?: Head;
  resize?: ResizeRule;
  val?: ValChoice;
  out?: string;
  cache?: boolean;
  cacheDir?: string;
  /** which recipe values came from the preset, which were given */
  recipe: RecipeSources;
}

/** The constant defaults (the computed ones, seed, threads, isa and conv, and the preset's recipe, are decided in resolveTrainOptions). */
export const TRAIN_DEFAULTS = defaultsOf(TRAIN_OPTIONS) as Readonly<Required<Pick<TrainOptions, 'data' | 'saveEvery' | 'skipBadImages' | 'precision' | 'device'>> & { arch: string }>;

/** The kernels this CPU runs by default, and whether it can run `isa` at all. */
function resolveIsa(isa: unknown): Isa {
  const build = native.buildInfo();
  if (isa === undefined) return build.isa;
  const chosen = oneOf('isa', isa, ISAS);
  if (ISAS.indexOf(chosen) > ISAS.indexOf(build.cpuIsa))
    throw new UsageError(`--isa ${chosen} is not supported by this CPU (its best is ${build.cpuIsa}): choose ${orList(ISAS.slice(0, ISAS.indexOf(build.cpuIsa) + 1))}`);
  return chosen;
}

/** A resolved architecture: its spec (before the data's classes shape its output), its recipe, and what config records. */
export interface ResolvedArch {
  spec: ModelSpec;
  recipe: Recipe;
  /** the preset's name, or the spec itself */
  arch: string | ModelSpec;
  /** the preset's name, or the spec's */
  name: string;
}

function recipeOf(where: string, given: unknown): Recipe {
  if (given === undefined) return { ...SEED_RECIPE };
  if (!given || typeof given !== 'object' || Array.isArray(given)) throw new UsageError(`${where}: recipe must be an object of ${RECIPE_KEYS.join(', ')}`);
  const unknown = Object.keys(given).filter((k) => !(RECIPE_KEYS as readonly string[]).includes(k));
  if (unknown.length) throw new UsageError(`${where}: unknown recipe key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${RECIPE_KEYS.join(', ')})`);
  try {
    return resolveRecipe({ ...SEED_RECIPE, ...(given as Partial<Recipe>) }, SEED_RECIPE);
  } catch (err) {
    if (err instanceof UsageError) err.message = `${where}: recipe: ${err.message}`;
    throw err;
  }
}

/** A spec, or a preset object {spec, recipe}, as given in `where`; its layers are checked by the native layout. */
function specOrPreset(where: string, value: unknown): ResolvedArch {
  const isPreset = value !== null && typeof value === 'object' && 'spec' in value;
  const spec = checkSpecShape(isPreset ? (value as Preset).spec : value, where);
  try {
    native.layout(spec);
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
  return { spec, recipe: recipeOf(where, isPreset ? (value as Preset).recipe : undefined), arch: spec, name: spec.name };
}

/**
 * --arch: a preset's name, a .json file (a spec or {spec, recipe}), a spec object or a preset object. A recorded
 * config's `arch` (a name or a spec) resolves to the same architecture.
 */
export function resolveArch(value: unknown): ResolvedArch {
  if (typeof value !== 'string') return specOrPreset('--arch', value);
  const preset = presetOf(value);
  if (preset) return { spec: preset.spec, recipe: { ...preset.recipe }, arch: value, name: value };
  if (!/\.json$/i.test(value))
    throw new UsageError(`--arch (--model) must be one of ${PRESET_NAMES.join(', ')} or a .json file of a model spec, got ${JSON.stringify(value)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readInputTextSync(value, 'model spec'));
  } catch (err) {
    // the reader's message names the file already: here only the reason, after the flag and the file
    const reason = err instanceof SyntaxError ? `not JSON (${err.message})` : (err as Error).message.startsWith('model spec not found') ? 'no such file' : (err as Error).message.replace(`cannot read model spec ${value}: `, '');
    throw new InputError(`--arch ${value}: ${reason}`);
  }
  return specOrPreset(`--arch ${value}`, parsed);
}

/** A --val value: 'val', 'test', or a fraction in (0, 1) (a number, or its text from the command line). */
function resolveVal(val: unknown): ValChoice | undefined {
  if (val === undefined || val === 'val' || val === 'test') return val;
  const f = typeof val === 'number' ? val : typeof val === 'string' && val.trim() !== '' ? Number(val) : NaN;
  if (!(f > 0 && f < 1)) throw new UsageError(`--val must be test, val or a fraction of train between 0 and 1 (e.g. 0.1), got ${JSON.stringify(val)}`);
  return f;
}

export function resolveTrainOptions(opts: TrainOptions = {}): TrainConfig {
  if (opts.model !== undefined && opts.arch !== undefined && JSON.stringify(opts.model) !== JSON.stringify(opts.arch))
    throw new UsageError(`--arch ${JSON.stringify(opts.arch)} and --model ${JSON.stringify(opts.model)} (its former name) disagree: give one`);
  const { model, ...rest } = opts;
  const o = withDefaults(TRAIN_OPTIONS, { ...rest, arch: opts.arch ?? model }) as TrainOptions & typeof TRAIN_DEFAULTS;
  if (typeof o.data !== 'string' || o.data === '') throw new UsageError(`--data must be a folder path, got ${JSON.stringify(o.data)}`);
  const arch = resolveArch(o.arch);
  const given = RECIPE_KEYS.filter((k) => o[k] !== undefined);
  const recipe = resolveRecipe({ ...arch.recipe, ...Object.fromEntries(given.map((k) => [k, o[k]])) }, arch.recipe);
  if (o.cache === false && o.cacheDir !== undefined) throw new UsageError('--no-cache and --cache-dir contradict each other: give one');
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === ''))
    throw new UsageError(`--cache-dir must be a folder path, got ${JSON.stringify(o.cacheDir)}`);
  const device = oneOf('device', o.device, DEVICE_CHOICES);
  const precision = oneOf('precision', o.precision, PRECISIONS);
  const conv = o.conv === undefined ? undefined : oneOf('conv', o.conv, CONV_ALGORITHMS);
  const head = o.head === undefined ? undefined : oneOf('head', o.head, HEADS);
  const resize = o.resize === undefined ? undefined : oneOf('resize', o.resize, RESIZE_RULES);
  const val = resolveVal(o.val);
  if (conv === 'winograd' && device === 'cuda')
    throw new UsageError('--conv chooses the CPU convolutions; the CUDA path runs its own kernels: drop --conv or --device cuda');
  const isa = resolveIsa(o.isa);
  if (precision === 'bf16') {
    if (!native.buildInfo().bf16) throw new UsageError('--precision bf16 needs a CPU with AVX512-BF16, and this one has none: use fp32');
    if (isa !== 'avx512')
      throw new UsageError(
        o.isa !== undefined
          ? `--precision bf16 runs AVX-512 kernels, so it cannot be combined with --isa ${isa}`
          : `--precision bf16 runs AVX-512 kernels, but ENGINE_ISA caps them at ${isa}: unset it or use fp32`,
      );
    if (device !== 'cpu') throw new UsageError(`--precision bf16 is a CPU mode (AVX512-BF16); the CUDA path trains in fp32: drop --device ${device}`);
  }
  return {
    data: o.data,
    arch: arch.arch,
    ...recipe,
    ...(head !== undefined ? { head } : {}),
    ...(resize !== undefined ? { resize } : {}),
    ...(val !== undefined ? { val } : {}),
    seed: o.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : integerIn('seed', o.seed, 0, 2 ** 32 - 1),
    saveEvery: integerIn('save-every', o.saveEvery, 0, 100000),
    out: o.out,
    threads: threadsOption(o.threads, os.availableParallelism()),
    isa,
    skipBadImages: Boolean(o.skipBadImages),
    precision,
    // (a CUDA run's convolutions are its own: the native trainer is told 'direct' there)
    conv: conv ?? defaultConv({ dtype: 'float32', backend: 'cpu' }),
    cache: o.cache ?? (o.cacheDir !== undefined ? true : undefined),
    cacheDir: o.cacheDir,
    device,
    recipe: { preset: arch.name, fromPreset: RECIPE_KEYS.filter((k) => !given.includes(k)), given },
  };
}
