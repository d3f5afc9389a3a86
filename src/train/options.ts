// Training options: defaults and validation, shared by the CLI and the library. Checked once, here, with
// messages that say what was expected and what came.
import os from 'node:os';
import { integerIn, positiveNumber, threadsOption } from '../checks.js';
import { UsageError } from '../errors.js';
import { MODEL_SPECS } from '../model/spec.js';
import { defaultConv, native, type Isa } from '../native.js';

/** Where training runs: cpu, cuda, or auto (cuda when usable, else cpu); see device.ts. */
export type DeviceChoice = 'cpu' | 'cuda' | 'auto';
export const DEVICE_CHOICES: readonly DeviceChoice[] = ['cpu', 'cuda', 'auto'];

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
  /** cap the instruction set of the native kernels */
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

export type Precision = 'fp32' | 'bf16';
export type ConvAlgorithm = 'winograd' | 'direct';

export type TrainConfig = Required<Omit<TrainOptions, 'out' | 'isa' | 'resume' | 'cache' | 'cacheDir'>> & {
  out?: string;
  isa?: Isa;
  cache?: boolean;
  cacheDir?: string;
};

export const TRAIN_DEFAULTS: Readonly<Required<Omit<TrainOptions, 'out' | 'isa' | 'seed' | 'threads' | 'resume' | 'cache' | 'cacheDir' | 'conv'>>> = {
  data: './data',
  epochs: 100,
  batchSize: 32,
  lr: 0.001,
  rho: 0.9,
  epsilon: 1e-7,
  saveEvery: 10,
  model: 'seed7',
  augment: true,
  skipBadImages: false,
  precision: 'fp32',
  device: 'cpu',
};

export function resolveTrainOptions(opts: TrainOptions = {}): TrainConfig {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as TrainOptions;
  const o = { ...TRAIN_DEFAULTS, ...given };
  if (typeof o.data !== 'string' || o.data === '') throw new UsageError(`--data must be a folder path, got ${JSON.stringify(o.data)}`);
  if (typeof o.model !== 'string' || !Object.hasOwn(MODEL_SPECS, o.model))
    throw new UsageError(`--model must be one of ${Object.keys(MODEL_SPECS).join(', ')}, got ${JSON.stringify(o.model)}`);
  const rho = Number(o.rho);
  if (!(rho >= 0 && rho < 1)) throw new UsageError(`--rho must be in [0, 1), got ${JSON.stringify(o.rho)}`);
  if (o.cache === false && o.cacheDir !== undefined) throw new UsageError('--no-cache and --cache-dir contradict each other: give one');
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir === ''))
    throw new UsageError(`--cache-dir must be a folder path, got ${JSON.stringify(o.cacheDir)}`);
  if (o.isa !== undefined && !['scalar', 'avx2', 'avx512'].includes(o.isa))
    throw new UsageError(`--isa must be scalar, avx2 or avx512, got ${JSON.stringify(o.isa)}`);
  if (!DEVICE_CHOICES.includes(o.device)) throw new UsageError(`--device must be cpu, cuda or auto, got ${JSON.stringify(o.device)}`);
  if (o.precision !== 'fp32' && o.precision !== 'bf16')
    throw new UsageError(`--precision must be fp32 or bf16, got ${JSON.stringify(o.precision)}`);
  if (o.conv !== undefined && o.conv !== 'winograd' && o.conv !== 'direct')
    throw new UsageError(`--conv must be winograd or direct, got ${JSON.stringify(o.conv)}`);
  if (o.conv === 'winograd' && o.precision === 'bf16')
    throw new UsageError('--conv winograd runs fp32 convolutions; with --precision bf16 they are direct: drop one of the two');
  if (o.conv === 'winograd' && o.device === 'cuda')
    throw new UsageError('--conv chooses the CPU convolutions; the CUDA path runs its own kernels: drop --conv or --device cuda');
  if (o.precision === 'bf16') {
    if (!native.buildInfo().bf16) throw new UsageError('--precision bf16 needs a CPU with AVX512-BF16, and this one has none: use fp32');
    if (o.isa !== undefined && o.isa !== 'avx512') throw new UsageError(`--precision bf16 runs AVX-512 kernels, so it cannot be combined with --isa ${o.isa}`);
    if (o.device !== 'cpu') throw new UsageError(`--precision bf16 is a CPU mode (AVX512-BF16); the CUDA path trains in fp32: drop --device ${o.device}`);
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
    isa: o.isa,
    skipBadImages: Boolean(o.skipBadImages),
    precision: o.precision,
    conv: o.conv ?? defaultConv({ dtype: 'float32', backend: 'cpu', precision: o.precision }),
    cache: o.cache ?? (o.cacheDir !== undefined ? true : undefined),
    cacheDir: o.cacheDir,
    device: o.device,
  };
}
