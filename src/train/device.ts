// Where training runs: `--device cpu|cuda|auto` (`--gpu` = cuda). The choice is checked before anything is
// loaded or written: asking for CUDA where it cannot run is a usage error naming the reason (never a silent
// fallback to the CPU); `auto` takes CUDA when it is usable and says which it took.
import { EngineError, UsageError } from '../errors.js';
import { imageBytesOf, type ImageSet } from '../data/decode.js';
import { isImageSource, type ImageSource } from '../data/image-store.js';
import type { Rng } from '../data/random.js';
import type { ModelSpec } from '../model/spec.js';
import { native, trainerConfig, type ConvAlgorithm, type CudaDevice, type Isa, type NativeTrainer, type Precision, type TrainerConfig } from '../native.js';
import { trainEpoch, trainEpochIndexed, type EpochConfig, type EpochResult } from './epoch.js';
import type { DeviceChoice } from '../options/train.js';


export interface CudaStatus {
  usable: boolean;
  devices: CudaDevice[];
  /** why CUDA is not usable (absent when it is) */
  reason?: string;
}

/**
 * ENGINE_CUDA_EMULATE=1 makes the CUDA device the CPU emulator of the CUDA backend (backend 'cuda-emulated': the
 * backend's own code, slowly, on the CPU), so that the whole `--gpu` path can be tested where no GPU exists.
 */
const emulate = () => process.env.ENGINE_CUDA_EMULATE === '1';
const EMULATED_DEVICE: CudaDevice = { index: 0, name: 'CUDA emulation on the CPU (ENGINE_CUDA_EMULATE=1)', computeCapability: '0.0', memoryBytes: 0, multiprocessors: 1 };

/** Whether this addon can train on a CUDA device here, and if not, why. */
export function cudaStatus(): CudaStatus {
  if (emulate()) return { usable: true, devices: [EMULATED_DEVICE] };
  if (!native.buildInfo().cuda)
    return { usable: false, devices: [], reason: 'the addon was built without CUDA (no nvcc found at build time, or ENGINE_CUDA=OFF)' };
  const list = native.cudaDevices();
  if (list.devices.length === 0) return { usable: false, devices: [], reason: list.reason ?? 'no CUDA device is visible' };
  // Machine code for an architecture runs on it; PTX for compute_XY is compiled by the driver for XY and newer.
  const archs = (native.buildInfo().cudaArchitectures ?? '').match(/\d+/g)?.map(Number) ?? [];
  const lowest = Math.min(...archs);
  const capable = list.devices.filter((d) => !archs.length || Math.round(Number(d.computeCapability) * 10) >= lowest);
  if (capable.length === 0) {
    const d = list.devices[0];
    return {
      usable: false,
      devices: [],
      reason: `${d.name} has compute capability ${d.computeCapability} but the addon was built for ${archs.join(', ')} (rebuild with CMAKE_CUDA_ARCHITECTURES=${d.computeCapability.replace('.', '')})`,
    };
  }
  return { usable: true, devices: capable };
}

export interface ResolvedDevice {
  device: 'cpu' | 'cuda';
  /** the CUDA device's index (cuda only) */
  index?: number;
  /** one line for the log: what runs where, and why for auto */
  note: string;
}

/** Resolves --device; throws a UsageError (exit 2) when CUDA is asked for and cannot run. */
export function resolveDevice(choice: DeviceChoice): ResolvedDevice {
  if (choice === 'cpu') return { device: 'cpu', note: 'device: cpu' };
  const status = cudaStatus();
  if (choice === 'cuda') {
    if (!status.usable) throw new UsageError(`--device cuda (--gpu): no usable CUDA device: ${status.reason}. Use --device cpu or auto.`);
    return { device: 'cuda', index: status.devices[0].index, note: `device: cuda:${status.devices[0].index} (${status.devices[0].name})` };
  }
  return status.usable
    ? { device: 'cuda', index: status.devices[0].index, note: `device: cuda:${status.devices[0].index} (auto: ${status.devices[0].name})` }
    : { device: 'cpu', note: `device: cpu (auto: no usable CUDA device: ${status.reason})` };
}

export type EpochRunner = (
  set: ImageSet | ImageSource,
  rng: Rng,
  cfg: EpochConfig,
  epoch: number,
  onBatch?: (batch: number, batches: number, meanLoss: number) => void,
) => Promise<EpochResult>;

/** The recipe fields a trainer is built with (the rest of the recipe goes with each step); absent: the seed's. */
export type TrainerRecipe = Partial<Pick<TrainerConfig, 'optimizer' | 'labelSmoothing' | 'ema' | 'normalize' | 'augment'>>;

export interface OpenedTrainer {
  trainer: NativeTrainer;
  /** trains one epoch on `trainSet` with this trainer */
  runEpoch: EpochRunner;
  /** e.g. "8 threads, avx512" or "cuda:0 NVIDIA H100 80GB HBM3" */
  describe: string;
}

/**
 * Creates the trainer for `device`. On CUDA the training images go to the device once and each step sends only
 * indices and augmentation parameters; the epoch draws exactly what trainEpoch draws from `rng` (the permutation,
 * then per batch the augmentation), so a GPU run sees the same batches as a CPU run with the same seed.
 */
export async function openTrainer(
  device: ResolvedDevice,
  opts: { spec: ModelSpec; seed: number; threads: number; isa?: Isa; precision: Precision; conv: ConvAlgorithm; recipe?: TrainerRecipe },
  trainSet: ImageSet | ImageSource,
): Promise<OpenedTrainer> {
  if (device.device === 'cpu') {
    const { spec, seed, threads, isa, precision, conv, recipe } = opts;
    const trainer = new native.Trainer(trainerConfig({ spec, seed, threads, isa: isa ?? null, precision, conv, ...recipe }));
    const info = trainer.info();
    if (info.backend !== 'cpu') throw new Error('internal: a CPU trainer reports another backend');
    return { trainer, runEpoch: (...a) => trainEpoch(trainer, ...a), describe: `${info.threads} threads, ${info.isa}, ${info.bf16Kernels ? `bf16 (${info.bf16Kernels})` : `fp32, ${info.conv} conv`}` };
  }
  if (isImageSource(trainSet) && !trainSet.inMemory)
    throw new UsageError(`--device cuda keeps the training images in memory to upload them, but this split (${trainSet.size} images) is read from the on-disk cache: add --no-cache`);
  const images = isImageSource(trainSet) ? await trainSet.range(0, trainSet.size, new Uint8Array(0)) : trainSet.images;
  // A CUDA failure here (out of memory, a driver problem) names its call and a hint; it stops the run (exit 1).
  const failed = (err: unknown) => new EngineError(`cannot train on the CUDA device: ${(err as Error).message}`, 1);
  let trainer: NativeTrainer;
  try {
    trainer = new native.Trainer(
      trainerConfig({ spec: opts.spec, seed: opts.seed, backend: emulate() ? 'cuda-emulated' : 'cuda', device: device.index ?? 0, conv: 'direct', ...opts.recipe }),
    );
  } catch (err) {
    // a RangeError names a recipe field this backend does not train (yet): the user's choice, not a failure
    if (err instanceof RangeError) throw new UsageError(`--device cuda: ${err.message}; train on --device cpu`);
    throw failed(err);
  }
  try {
    trainer.uploadImages(images.subarray(0, trainSet.size * imageBytesOf(trainSet)), trainSet.labels.subarray(0, trainSet.size));
  } catch (err) {
    trainer.dispose();
    throw failed(err);
  }
  const info = trainer.info();
  if (info.backend === 'cpu') throw new Error('internal: a CUDA trainer reports the CPU backend');
  return {
    trainer,
    runEpoch: (set, rng, cfg, epoch, onBatch) => {
      if (set !== trainSet) throw new RangeError('the CUDA trainer holds the training set it was opened with');
      return trainEpochIndexed(trainer, set, rng, cfg, epoch, onBatch);
    },
    describe: `cuda:${info.cudaDevice} ${info.deviceName}`,
  };
}
