// Loads the native addon and types its surface. The addon checks lengths and types itself (a wrong length
// would be a buffer overrun); user-facing validation with friendlier messages happens before, in TypeScript.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelSpec } from './model/spec.js';

export type Isa = 'scalar' | 'avx2' | 'avx512';
export type FloatArray = Float32Array | Float64Array;

export interface StepResult {
  /** mean clipped binary cross-entropy over the batch */
  loss: number;
  /** images whose P(class 1) > 0.5 agrees with the label */
  correct: number;
}

export interface TrainStepResult extends StepResult {
  /** NaN/Inf weights after the step's update (a diverged step), counted natively */
  nonFiniteWeights: number;
}

export interface ParamEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/** One step's optimizer settings (native/model/recipe.h OptimizerStep); what is not given keeps the native default. */
export interface OptimizerConfig {
  lr: number;
  /** RMSprop's decay (Keras' rho) */
  rho?: number;
  /** RMSprop's and AdamW's epsilon (outside the square root) */
  epsilon?: number;
  /** SGD's momentum, and Nesterov's variant */
  momentum?: number;
  nesterov?: boolean;
  /** AdamW's moment decays */
  beta1?: number;
  beta2?: number;
  /** on the kernels only (not biases or batch norm's parameters); coupled for RMSprop and SGD, decoupled for AdamW */
  weightDecay?: number;
  /** scale the gradient down to this global L2 norm where it is larger (0: no clipping) */
  clipNorm?: number;
}

export type Backend = 'cpu' | 'cuda' | 'cuda-emulated';
export type Precision = 'fp32' | 'bf16';
export type ConvAlgorithm = 'winograd' | 'direct';

/** The complete configuration of a native Trainer (native/binding/trainer.cpp); `trainerConfig` fills it in. */
export interface TrainerConfig {
  spec: ModelSpec;
  seed: number;
  threads: number;
  /** float64 exists for gradient checks (the CPU reference); training uses float32 */
  dtype: 'float32' | 'float64';
  /** where the network runs: the CPU, a CUDA device, or the CUDA backend's source on its CPU emulator (tests) */
  backend: Backend;
  /** convolution operands: fp32, or bf16 with fp32 sums (CPUs with AVX512-BF16 and the avx512 tier) */
  precision: Precision;
  /**
   * convolutions on the CPU: 'winograd' (Winograd F(2x2, 3x3) or F(4x4, 3x3) where the plan finds it fits and
   * pays, direct elsewhere; in bf16 on AVX512-BF16, F(2x2) with bf16 products on even 'same' maps) or 'direct'
   */
  conv: ConvAlgorithm;
  /** caps the instruction set of the CPU kernels (null: the CPU's best, capped by ENGINE_ISA) */
  isa?: Isa | null;
  /** the CUDA device's index (CUDA backends) */
  device?: number;
  /** the optimizer, and with it the state it keeps (default rmsprop, the seed's) */
  optimizer?: 'rmsprop' | 'sgd' | 'adamw';
  /** targets (1 - e) * onehot + e / classes (sigmoid: e / 2); default 0 */
  labelSmoothing?: number;
  /** keep a moving average of the weights that keeps this share each step (0 or absent: none) */
  ema?: number;
  /** per channel: inputs (pixels / 255 - mean) / std; absent: pixels / 255 */
  normalize?: { mean: number[]; std: number[] } | null;
  /**
   * what a step's augment rows hold: 'keras' (the seed's warp: shear radians, zoom rows, zoom columns, flip) or
   * 'crop' (8 numbers: row and column shift, flip, rotation radians, then the erased rectangle's row, column,
   * height and width, height 0 for none)
   */
  augment?: 'keras' | 'crop';
}

/** How fp32 convolutions run by default: Winograd where a float32 network runs on the CPU, else direct. */
export function defaultConv(c: Pick<TrainerConfig, 'dtype' | 'backend'>): ConvAlgorithm {
  return c.dtype === 'float32' && c.backend === 'cpu' ? 'winograd' : 'direct';
}

/** A Trainer's configuration with the defaults of every field not given (seed 0, 1 thread, float32 on the CPU, fp32, defaultConv). */
export function trainerConfig(c: Partial<TrainerConfig> & Pick<TrainerConfig, 'spec'>): TrainerConfig {
  const base = { seed: 0, threads: 1, dtype: 'float32' as const, backend: 'cpu' as const, precision: 'fp32' as const, ...c };
  return { ...base, conv: c.conv ?? defaultConv(base) };
}

/** One step of a Trainer's kernel plan: what runs an op (or ops fused) in one direction. */
export interface PlanStep {
  direction: 'forward' | 'backward';
  /** the first op it runs; `ops` all of them (a fused step runs several) */
  op: string;
  ops: string[];
  kind: string;
  /**
   * the kernel family: reference, avx2, avx512, winograd-avx2, winograd-avx512, winograd4-avx2, winograd4-avx512,
   * winograd-bf16, gemm-avx2, gemm-avx512, avx512-bf16, amx, amx-emulated, cuda, none
   */
  kernel: string;
  /** backward conv steps: the input gradient's kernel, null where the input needs none */
  inputGradient?: string | null;
  relu?: boolean;
  /** a forward batch norm that runs the residual add after it: the op whose output it adds ('input': the image) */
  residual?: string;
  /** a backward conv that adds its input gradient into the one another consumer of its input formed */
  accumulates?: boolean;
  /** a forward batch norm: the images of a thread's share that the phase ending at it takes at a time */
  chunkImages?: number;
  /** a batch norm with a ReLU (fast CPU tiers, channels in 8s): keeps a bit per element of where the ReLU's output
   * was positive, which its backward reads instead of that output */
  reluMask?: boolean;
  /** a max-pool (fast CPU tiers): its forward keeps a byte per output of which input was the maximum, which its
   * backward reads instead of the input */
  poolCode?: boolean;
  /** backward steps: the gradient slots read (out) and written (in, per input; -1 none); equal numbers share a buffer */
  gradientSlots?: { out: number; in: [number, number] };
  bf16In?: boolean;
  bf16Out?: boolean;
  /** the weights it reads rearranged once per step (bf16, amx-narrow, flipped, winograd), and their bytes */
  packing: string | null;
  packedBytes: number;
  /** bytes per image of the buffers the network keeps for the step (pool codes, bf16 copies) */
  workspaceBytes: number;
}

/** The kernel plan a Trainer chose once, at construction (native/model/plan.h). */
export interface Plan {
  options: {
    backend: 'cpu' | 'cuda';
    dtype: 'float32' | 'float64';
    isa: Isa;
    precision: Precision;
    conv: ConvAlgorithm;
    bf16Kernels: 'avx512-bf16' | 'amx' | 'amx-emulated' | null;
    threads: number;
    /** the environment's caps (and ENGINE_CHUNK, the forward chunks' bytes: 0 for none) as the plan read them */
    env: { ENGINE_ISA: string | null; ENGINE_BF16: string | null; ENGINE_CHUNK: string | null };
  };
  /** images per kernel call: 1, or 'share' (a thread's whole share of the batch, for batch-coupled models) */
  microBatch: number | 'share';
  steps: PlanStep[];
}

/** A model's layout (native/model/graph.h): its parameters and the shape of every op's output. */
export interface ModelLayout {
  params: ParamEntry[];
  /** what batch norm keeps besides its parameters: <op>.moving_mean and <op>.moving_variance, in state order */
  state: ParamEntry[];
  paramCount: number;
  stateCount: number;
  /** per op in spec order: its name and output shape [h, w, c] */
  ops: { name: string; type: string; shape: [number, number, number] }[];
  classes: number;
}

/** Seconds of the native training steps since the last reset (LayerTimes in native/network.h). */
export interface LayerTimes {
  /** per layer in spec order, summed over images and averaged over threads */
  layers: { forward: number; backward: number }[];
  /** augmentation warp or scaling, averaged over threads */
  preprocess: number;
  /** summing the threads' gradients and RMSprop */
  update: number;
  /** rearranging the kernels once per step (bf16 packing, Winograd transforms) */
  kernels: number;
  /** threads waiting for the batch's slowest thread, averaged over threads */
  idle: number;
  /** wall time of the steps, all of the above included */
  step: number;
}

export type TrainerInfo =
  | {
      backend: 'cpu';
      dtype: 'float32' | 'float64';
      isa: Isa;
      precision: Precision;
      conv: ConvAlgorithm;
      /** with precision bf16: the kernels that run it (ENGINE_BF16, else AMX where usable); null in fp32 */
      bf16Kernels: 'avx512-bf16' | 'amx' | 'amx-emulated' | null;
      threads: number;
      params: number;
      seed: number;
    }
  | { backend: 'cuda' | 'cuda-emulated'; dtype: 'float32'; device: 'cuda'; cudaDevice: number; deviceName: string; cudaGraphs: boolean; params: number; seed: number; datasetImages: number };

export interface NativeTrainer {
  /** one training step: images [B*H*W*C] uint8, labels [B] in {0,1}, augment [B*4] (shear rad, zx, zy, flip) or null */
  trainStep(images: Uint8Array, labels: Uint8Array, augment: Float64Array | null, optimizer: OptimizerConfig): Promise<TrainStepResult>;
  /** copies a dataset, images [N*H*W*C] uint8 and labels [N], into the trainer (replacing any earlier one); returns N */
  uploadImages(images: Uint8Array, labels: Uint8Array): number;
  /** trainStep on the uploaded images that indices [B] pick, read in place (no batch copy); same results */
  trainStepIndexed(indices: Int32Array, augment: Float64Array | null, optimizer: OptimizerConfig): Promise<TrainStepResult>;
  /** {ema: true}: by the moving average of the weights */
  evaluate(images: Uint8Array, labels: Uint8Array, options?: { ema?: boolean }): Promise<StepResult & { probabilities: Float32Array }>;
  predict(images: Uint8Array, options?: { ema?: boolean }): Promise<Float32Array>;
  computeGradients(images: Uint8Array, labels: Uint8Array, augment?: Float64Array | null): StepResult & { gradients: FloatArray };
  getParams(): FloatArray;
  setParams(params: FloatArray): void;
  /** state: batch norm's running statistics (empty without batch norm) */
  /** accumulators: the optimizer's state buffers one after another (AdamW: both moments); ema: the moving average */
  getState(): { step: number; accumulators: FloatArray; state: FloatArray; ema?: FloatArray };
  setState(state: { step: number; accumulators: FloatArray; state?: FloatArray; ema?: FloatArray }): void;
  paramLayout(): ParamEntry[];
  info(): TrainerInfo;
  /** the kernel plan chosen at construction: which kernel runs every op in each direction */
  plan(): Plan;
  /** seconds per layer (spec order) since the last reset, averaged over threads; reset=true starts over (CPU only) */
  layerTimes(reset?: boolean): LayerTimes;
  dispose(): void;
}

type A = FloatArray;
type OptA = FloatArray | null;

// The sizes of a raw-kernel call: one object after its arrays, each field an integer (native/binding/args.h checks them).
/** A 3x3 convolution: N images of H x W x Cin (its input) to Cout channels */
export interface ConvShape {
  N: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
}
/** A 2x2 max-pool: N images of H x W x C (its input) */
export interface PoolShape {
  N: number;
  H: number;
  W: number;
  C: number;
}
/** A dense layer: N rows of I inputs to O outputs */
export interface DenseShape {
  N: number;
  I: number;
  O: number;
}
/** One image of H x W x C */
export interface ImageShape {
  H: number;
  W: number;
  C: number;
}
/** pairPixelsBf16: pairs of pixels of C channels */
export interface PairsShape {
  pairs: number;
  C: number;
}
/** transposeToBf16, transposeBf16: pixels of C channels to C rows of dstStride (>= pixels) */
export interface TransposeShape {
  pixels: number;
  C: number;
  dstStride: number;
}
/** cudaKernels.dropoutForward: a batch of N images */
export interface BatchShape {
  N: number;
}

/** The raw CPU kernels (tests): the arrays (outputs, then inputs), then one shape object, then the options. */
export interface NativeKernels {
  conv3x3Forward(out: A, inp: A, w: A, b: A, shape: ConvShape, isa?: Isa): void;
  conv3x3BackwardInput(din: A, dout: A, w: A, shape: ConvShape, isa?: Isa): void;
  conv3x3BackwardWeight(dw: A, db: A, dout: A, inp: A, shape: ConvShape, isa?: Isa): void;
  maxpool2x2Forward(out: A, inp: A, shape: PoolShape, isa?: Isa): void;
  /** conv3x3Forward then ReLU, in one pass in the fast kernels */
  conv3x3ReluForward(out: A, inp: A, w: A, b: A, shape: ConvShape, isa?: Isa): void;
  /** gradient through a max-pool and the ReLU before it; inp = the ReLU's output */
  reluMaxpool2x2Backward(din: A, dout: A, inp: A, shape: PoolShape, isa?: Isa): void;
  /** the first conv block (conv -> ReLU -> max-pool): pooled out and code [N, (H-2)/2, (W-2)/2, Cout] (code: the window's first maximum 0-3, or 4 where it is not positive); H, W = conv input */
  conv3x3ReluMaxpoolForward(out: A, code: Uint8Array, inp: A, w: A, b: A, shape: ConvShape, isa?: Isa): void;
  /** din [N, H, W, C] = dout routed by code, 0 elsewhere */
  maxpool2x2BackwardCode(din: A, dout: A, code: Uint8Array, shape: PoolShape, isa?: Isa): void;
  /** weight gradient (+=) of that block from the pool's gradient and code; H, W = conv input */
  reluMaxpoolConv3x3BackwardWeight(dw: A, db: A, dpool: A, code: Uint8Array, inp: A, shape: ConvShape, isa?: Isa): void;
  maxpool2x2Backward(din: A, dout: A, inp: A, shape: PoolShape): void;
  reluForward(out: A, inp: A): void;
  reluBackward(din: A, dout: A, out: A): void;
  denseForward(out: A, inp: A, w: A, b: A, shape: DenseShape, isa?: Isa): void;
  denseBackward(din: OptA, dw: A, db: A, dout: A, inp: A, w: A, shape: DenseShape, isa?: Isa): void;
  dropoutMask(mask: A, rate: number, seed: number, key: number): void;
  sigmoidBce(dlogit: OptA, logit: A, label: A, scale: number): number;
  rmspropUpdate(param: A, accum: A, grad: A, lr: number, rho: number, epsilon: number): void;
  /** bf16-operand convolutions (AVX512-BF16; a RangeError elsewhere), float32 arrays, the fp32 kernels' arguments */
  conv3x3ForwardBf16(out: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array, shape: ConvShape, relu: boolean): void;
  conv3x3BackwardInputBf16(din: Float32Array, dout: Float32Array, w: Float32Array, shape: ConvShape): void;
  conv3x3BackwardWeightBf16(dw: Float32Array, db: Float32Array, dout: Float32Array, inp: Float32Array, shape: ConvShape): void;
  /** Winograd F(2x2, 3x3) fp32 convolutions (a RangeError for shapes they do not take) */
  conv3x3ForwardWinograd(out: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array, shape: ConvShape, relu: boolean, isa?: Isa): void;
  conv3x3BackwardInputWinograd(din: Float32Array, dout: Float32Array, w: Float32Array, shape: ConvShape, isa?: Isa): void;
  conv3x3BackwardWeightWinograd(dw: Float32Array, db: Float32Array, dout: Float32Array, inp: Float32Array, shape: ConvShape, isa?: Isa): void;
  /** the same for a 'same' convolution, on its unpadded tensors: shape's H and W (even) are the input's and the output's */
  conv3x3SameForwardWinograd(out: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array, shape: ConvShape, relu: boolean, isa?: Isa): void;
  conv3x3SameBackwardInputWinograd(din: Float32Array, dout: Float32Array, w: Float32Array, shape: ConvShape, isa?: Isa): void;
  conv3x3SameBackwardWeightWinograd(dw: Float32Array, db: Float32Array, dout: Float32Array, inp: Float32Array, shape: ConvShape, isa?: Isa): void;
  /** AMX bf16 convolutions, Cin and Cout multiples of 32 (the weight gradient also 9 * Cin <= 32): the real tiles ('amx', a RangeError without them) or their C++ model */
  conv3x3ForwardAmx(out: Float32Array, inp: Float32Array, w: Float32Array, b: Float32Array, shape: ConvShape, relu: boolean, kernels: AmxKernels): void;
  conv3x3BackwardInputAmx(din: Float32Array, dout: Float32Array, w: Float32Array, shape: ConvShape, kernels: AmxKernels): void;
  conv3x3BackwardWeightAmx(dw: Float32Array, db: Float32Array, dout: Float32Array, inp: Float32Array, shape: ConvShape, kernels: AmxKernels): void;
  /** a conv block (as conv3x3ReluMaxpoolForward) on AMX tiles: the first (9 * Cin <= 32) or a later one (Cin a multiple of 32), Cout a multiple of 32; out16 [N*Hq*Wq*Cout] gets out in bf16; a later block reads its input from in16 [N*H*W*Cin + 32*Cin] (its bf16, then 32 pixels of zeros) where given */
  conv3x3ReluMaxpoolForwardAmx(out: Float32Array, code: Uint8Array, inp: Float32Array, w: Float32Array, b: Float32Array, shape: ConvShape, kernels: AmxKernels, out16?: Uint16Array | null, in16?: Uint16Array | null): void;
  /** the first conv block's weight gradient on AMX tiles (9 * Cin <= 32, Cout a multiple of 32), accumulated */
  reluMaxpoolConv3x3BackwardWeightAmx(dw: Float32Array, db: Float32Array, dpool: Float32Array, code: Uint8Array, inp: Float32Array, shape: ConvShape, kernels: AmxKernels): void;
  /** a conv -> ReLU -> max-pool block's backward on AMX tiles (Cin, Cout multiples of 32) from the pool's gradient and code: din (overwritten; null: not computed), dw and db (accumulated); in16 as conv3x3ReluMaxpoolForwardAmx's */
  reluMaxpoolConv3x3BackwardAmx(din: Float32Array | null, dw: Float32Array, db: Float32Array, dpool: Float32Array, code: Uint8Array, inp: Float32Array, w: Float32Array, shape: ConvShape, kernels: AmxKernels, in16?: Uint16Array | null): void;
  /** the bf16 kernels' operand conversions (round to nearest even), in AVX512-BF16 or plain C++ */
  toBf16(dst: Uint16Array, src: Float32Array, impl: Bf16ConvertImpl): void;
  /** dst[i] = bf16(a[i]) | bf16(b[i]) << 16; a null a or b gives zeros */
  interleaveBf16(dst: Uint32Array, a: Float32Array | null, b: Float32Array | null, impl: Bf16ConvertImpl): void;
  /** dst [pairs][C] = (bf16 src[2k][c], bf16 src[2k+1][c]) */
  pairPixelsBf16(dst: Uint32Array, src: Float32Array, shape: PairsShape, impl: Bf16ConvertImpl): void;
  /** a max-pool's gradient routed by code to its two conv rows' bf16 pixel pairs: top gets codes 0 (low half) and
   * 1 (high half), bottom 2 and 3, zero elsewhere */
  routePairsBf16(top: Uint32Array, bottom: Uint32Array, d: Float32Array, code: Uint8Array, impl: Bf16ConvertImpl): void;
  /** dst [C][dstStride]: src [pixels][C] transposed to bf16, zero past column pixels */
  transposeToBf16(dst: Uint16Array, src: Float32Array, shape: TransposeShape, impl: Bf16ConvertImpl): void;
  /** the same from bf16 src [pixels][C] (no conversion) */
  transposeBf16(dst: Uint16Array, src: Uint16Array, shape: TransposeShape, impl: Bf16ConvertImpl): void;
  /** isa 'scalar' runs the reference, anything else the tabled version the network uses (identical results) */
  augmentWarp(out: A, inp: Uint8Array, shape: ImageShape, shear: number, zx: number, zy: number, flip: boolean, scale: number, isa?: Isa): void;
  /** the small-image augmentation of one image (ref::augment_crop): params [8] = row shift, column shift, flip, rotation radians, erased row, column, height, width */
  augmentCrop(out: A, inp: Uint8Array, shape: ImageShape, params: Float64Array, scale: number, erased: number): void;
}

export type AmxKernels = 'amx' | 'amx-emulated';
export type Bf16ConvertImpl = 'avx512-bf16' | 'portable';

/** The CUDA launchers on host arrays (copied in and out), argument for argument as `kernels` (float32 only). */
export interface NativeCudaKernels extends Omit<NativeKernels, 'conv3x3Forward' | 'sigmoidBce' | 'augmentWarp' | 'augmentCrop'> {
  conv3x3Forward(out: A, inp: A, w: A, b: A, shape: ConvShape, fuseRelu?: boolean): void;
  sigmoidBce(dlogit: OptA, logit: A, label: A, scale: number): { loss: number; correct: number };
  /** shear null: plain scaling */
  augmentWarp(out: A, inp: Uint8Array, shape: ImageShape, shear: number | null, zx: number, zy: number, flip: boolean, scale: number): void;
  /** the training dropout layer: image b of N uses the mask of dropout_key(step, b, layer) */
  dropoutForward(out: A, mask: A, inp: A, shape: BatchShape, rate: number, seed: number, step: number, layer: number): void;
  dropoutBackward(din: A, dout: A, mask: A): void;
}

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  memoryBytes: number;
  multiprocessors: number;
}

export interface CudaDeviceList {
  devices: CudaDevice[];
  /** why there are no devices (no driver, no device, built without CUDA) */
  reason?: string;
  runtimeVersion?: number;
  driverVersion?: number;
}

export interface BuildInfo {
  isa: Isa;
  cpuIsa: Isa;
  compiler: string;
  napiVersion: number;
  /** whether the CUDA backend was compiled in */
  cuda: boolean;
  /** CMAKE_CUDA_ARCHITECTURES, comma-separated (with cuda) */
  cudaArchitectures?: string;
  cudaCompiler?: string;
  /** whether this CPU has AVX512-BF16 (the bf16 training precision) */
  bf16: boolean;
  /** whether this CPU has AMX-BF16 and Linux granted the tile state (the AMX tier of precision bf16) */
  amx: boolean;
}

export interface NativeAddon {
  Trainer: new (config: TrainerConfig) => NativeTrainer;
  /** a model's layout (shapes, parameter names and offsets), checked as a Trainer checks it */
  layout(spec: ModelSpec): ModelLayout;
  kernels: NativeKernels;
  /** measured peak GFLOP/s of fp32 FMA (AVX-512), bf16 dot products (AVX512-BF16) or AMX bf16 tile dot
   * products on `threads` threads; rejects where the CPU lacks the instructions */
  measurePeak(kind: 'fp32' | 'bf16' | 'amx', threads: number, seconds: number): Promise<number>;
  /**
   * A JPEG file's bytes decoded to RGB [height, width, 3] by libjpeg-turbo on the libuv pool, as sharp decodes
   * them; `why` instead when the image is left to sharp (CMYK, a warning, an error, more than maxPixels pixels).
   */
  decodeJpeg(bytes: Uint8Array, maxPixels: number): Promise<{ data: Uint8Array; width: number; height: number } | { why: string }>;
  /**
   * JPEG files read, decoded and fitted to [height, width, channels] (PIL's NEAREST, or 'none': as they are) into
   * consecutive slots of `dst`, in one job on the libuv pool. Resolves each file's status: 1 fitted, 0 left to the
   * caller (unreadable, not a regular file or over maxBytes, not a plain YCbCr or grey JPEG, a libjpeg warning or
   * error, over maxPixels pixels, another size under 'none').
   */
  loadJpegFiles(
    paths: string[],
    dst: Uint8Array,
    shape: { height: number; width: number; channels: 1 | 3; resize: 'pil-nearest' | 'none'; maxPixels: number; maxBytes: number },
  ): Promise<Uint8Array>;
  /** whether the JPEG decoder can run here (libjpeg.so.62 opened), and why not */
  jpegDecoder(): { available: boolean; reason?: string };
  buildInfo(): BuildInfo;
  cudaDevices(): CudaDeviceList;
  /** only when built with CUDA */
  cudaKernels?: NativeCudaKernels;
  /** the CUDA kernels' code on a CPU emulator (every build; slow, for tests) */
  cudaKernelsEmulated: NativeCudaKernels;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function load(): NativeAddon {
  const file = path.join(root, 'build', 'Release', 'engine.node');
  try {
    return createRequire(import.meta.url)(file) as NativeAddon;
  } catch (err) {
    throw new Error(`cannot load the native addon ${file}: ${(err as Error).message}. Run \`npm run build:native\` (needs cmake and a C++17 compiler).`);
  }
}

export const native: NativeAddon = load();
