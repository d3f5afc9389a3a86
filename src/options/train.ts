// `engine train`'s options: the table (flags, defaults, descriptions) and resolveTrainOptions, the one check
// shared by the CLI and the library, which turns them into a complete TrainConfig (kernel choices included)
// with messages that say what was expected and what came.
import os from 'node:os';
import { integerIn, oneOf, orList, positiveNumber, threadsOption } from './checks.js';
import { DEFAULT_DATA_DIR } from './common.js';
import { defaultsOf, withDefaults, type OptionTable } from './table.js';
import { UsageError } from '../errors.js';
import { MODEL_SPECS } from '../model/spec.js';
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

export const TRAIN_OPTIONS: OptionTable = [
  {
    flag: 'data',
    type: 'string',
    default: DEFAULT_DATA_DIR,
    defaultText: `${DEFAULT_DATA_DIR}, fetched when missing`,
    description: 'dataset folder with train/ and val/, one subfolder per class',
  },
  { flag: 'fetch', type: 'boolean', default: true, only: 'cli', description: 'without --data: download ./data when it is missing (--no-fetch: refuse)' },
  { flag: 'epochs', type: 'integer', default: 100, description: 'epochs (full passes over train)' },
  { flag: 'batch-size', type: 'integer', default: 32, description: 'images per step; the last batch may be smaller' },
  { flag: 'lr', type: 'number', default: 0.001, description: 'RMSprop learning rate' },
  { flag: 'rho', type: 'number', default: 0.9, only: 'library', description: "RMSprop decay (Keras' rho)" },
  { flag: 'epsilon', type: 'number', default: 1e-7, only: 'library', description: 'RMSprop epsilon, added outside the square root' },
  { flag: 'seed', type: 'integer', defaultText: 'random, recorded', description: 'seed for init, data order, augmentation and dropout' },
  { flag: 'save-every', type: 'integer', default: 10, description: 'write weights<epoch>.safetensors every N epochs (0: never)' },
  { flag: 'out', type: 'string', defaultText: 'runs/run-<date>-<time>', description: 'run directory; must be new or empty' },
  { flag: 'threads', type: 'integer', defaultText: 'all cores', description: 'CPU threads' },
  { flag: 'model', type: 'string', default: 'seed7', description: `model spec: ${Object.keys(MODEL_SPECS).join(' or ')}` },
  { flag: 'augment', type: 'boolean', default: true, description: "the seed's shear/zoom/flip augmentation (--no-augment to turn off)" },
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
    defaultText: 'winograd in fp32, direct in bf16',
    description: 'CPU fp32 convolutions: winograd (the first conv stays direct) or direct',
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

export interface TrainOptions {
  /** dataset root holding train/ and val/, each with one folder per class */
  data?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** RMSprop decay (Keras' rho) */
  rho?: number;
  /** RMSprop epsilon, added outside the square root */
  epsilon?: number;
  /** seeds initialisation, data order, augmentation and dropout; random when absent */
  seed?: number;
  /** write weights<epoch>.safetensors every N epochs (0: never) */
  saveEvery?: number;
  /** run directory; default runs/run-<date>-<time> under the working directory */
  out?: string;
  threads?: number;
  model?: string;
  /** the seed's shear/zoom/flip augmentation (default on) */
  augment?: boolean;
  /** cap the instruction set of the native kernels (default: the best the CPU has, or ENGINE_ISA's cap) */
  isa?: Isa;
  /** leave out images that fail to decode, with a warning, instead of stopping */
  skipBadImages?: boolean;
  /** operands of the convolutions: fp32, or bf16 with fp32 sums (CPUs with AVX512-BF16); weights stay fp32 */
  precision?: Precision;
  /**
   * how the CPU runs fp32 convolutions: winograd (default in fp32: Winograd F(2x2, 3x3) for the convolutions after
   * the first with an output of 8x8 or more) or direct (every convolution direct; the only choice with bf16)
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

/**
 * Every option decided: what the trainer is built with (seed, threads, isa, precision, conv) and what run.json
 * records. Only `out` (a fresh runs/run-<date>-<time>), `cache` (by size) and `cacheDir` (the default folder)
 * stay open when not given: they are decided where the folders are made.
 */
export type TrainConfig = Required<Omit<TrainOptions, 'out' | 'resume' | 'cache' | 'cacheDir'>> & {
  out?: string;
  cache?: boolean;
  cacheDir?: string;
};

/** The constant defaults (the computed ones, seed, threads, isa and conv, are decided in resolveTrainOptions). */
export const TRAIN_DEFAULTS = defaultsOf(TRAIN_OPTIONS) as Readonly<
  Required<Pick<TrainOptions, 'data' | 'epochs' | 'batchSize' | 'lr' | 'rho' | 'epsilon' | 'saveEvery' | 'model' | 'augment' | 'skipBadImages' | 'precision' | 'device'>>
>;

/** The kernels this CPU runs by default, and whether it can run `isa` at all. */
function resolveIsa(isa: unknown): Isa {
  const build = native.buildInfo();
  if (isa === undefined) return build.isa;
  const chosen = oneOf('isa', isa, ISAS);
  if (ISAS.indexOf(chosen) > ISAS.indexOf(build.cpuIsa))
    throw new UsageError(`--isa ${chosen} is not supported by this CPU (its best is ${build.cpuIsa}): choose ${orList(ISAS.slice(0, ISAS.indexOf(build.cpuIsa) + 1))}`);
  return chosen;
}

export function resolveTrainOptions(opts: TrainOptions = {}): TrainConfig {
  const o = withDefaults(TRAIN_OPTIONS, opts) as TrainOptions & typeof TRAIN_DEFAULTS;
  if (typeof o.data !== 'string' || o.data === '') throw new UsageError(`--data must be a folder path, got ${JSON.stringify(o.data)}`);
  if (typeof o.model !== 'string' || !Object.hasOwn(MODEL_SPECS, o.model))
    throw new UsageError(`--model must be one of ${Object.keys(MODEL_SPECS).join(', ')}, got ${JSON.stringify(o.model)}`);
  const rho = Number(o.rho);
  if (!(rho >= 0 && rho < 1)) throw new UsageError(`--rho must be in [0, 1), got ${JSON.stringify(o.rho)}`);
  if (o.cache === false && o.cacheDir !== undefined) throw new UsageError('--no-cache and --cache-dir contradict each other: give one');
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === ''))
    throw new UsageError(`--cache-dir must be a folder path, got ${JSON.stringify(o.cacheDir)}`);
  const device = oneOf('device', o.device, DEVICE_CHOICES);
  const precision = oneOf('precision', o.precision, PRECISIONS);
  const conv = o.conv === undefined ? undefined : oneOf('conv', o.conv, CONV_ALGORITHMS);
  if (conv === 'winograd' && precision === 'bf16')
    throw new UsageError('--conv winograd runs fp32 convolutions; with --precision bf16 they are direct: drop one of the two');
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
    epochs: integerIn('epochs', o.epochs, 1, 100000),
    batchSize: integerIn('batch-size', o.batchSize, 1, 65536),
    lr: positiveNumber('lr', o.lr, 1e6),
    rho,
    epsilon: positiveNumber('epsilon', o.epsilon, 1),
    seed: o.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : integerIn('seed', o.seed, 0, 2 ** 32 - 1),
    saveEvery: integerIn('save-every', o.saveEvery, 0, 100000),
    out: o.out,
    threads: threadsOption(o.threads, os.availableParallelism()),
    model: o.model,
    augment: Boolean(o.augment),
    isa,
    skipBadImages: Boolean(o.skipBadImages),
    precision,
    // (a CUDA run's convolutions are its own: the native trainer is told 'direct' there)
    conv: conv ?? defaultConv({ dtype: 'float32', backend: 'cpu', precision }),
    cache: o.cache ?? (o.cacheDir !== undefined ? true : undefined),
    cacheDir: o.cacheDir,
    device,
  };
}
