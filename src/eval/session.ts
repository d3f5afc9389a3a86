// An onnxruntime session for `eval` and `predict`: on the CPU, or on CUDA where onnxruntime-node has it (never
// a silent CPU fallback), and the batched scoring of image files with it.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession } from './runtime.js';
import type { DecodeOptions, ImageInput } from '../data/decode.js';
import { averageScores, mirrorImages } from '../data/tta.js';
import type { Tta } from '../options/common.js';
import { threadsOption } from '../options/checks.js';
import { EngineError, InputError } from '../errors.js';
import { readModelMetadata, type ModelInfo } from '../onnx/model-info.js';
import { checkFeedable, decodingReader, imageBytes, inputTensor, type BatchReader } from './feed.js';
import { fileMtime } from '../io/read.js';
import { readModelSource, type ModelSource } from './model-source.js';

export interface ModelChoice extends ModelSource {
  /** run on CUDA; an error where onnxruntime has no CUDA provider */
  gpu?: boolean;
  /** onnxruntime intra-op threads (default: all cores; at most MAX_THREADS, as for training) */
  threads?: number;
}

export interface LoadedModel {
  info: ModelInfo;
  /** the .onnx file, or 'in-memory from <weights>' */
  source: string;
  provider: 'cpu' | 'cuda';
  threads: number;
  session: InferenceSession;
  /** releases the onnxruntime session (a model loadModel() opened stays open until then) */
  close(): Promise<void>;
}

/** onnxruntime-node's package folder. */
function ortPackageDir(): string {
  const index = createRequire(import.meta.url).resolve('onnxruntime-node');
  return path.join(path.dirname(index), '..');
}

/**
 * Fails with the reason, and how to get the provider, when onnxruntime-node cannot run CUDA here (before
 * onnxruntime logs its own). The provider's libraries are not in the npm package: onnxruntime-node's install
 * script downloads them from nuget.org (Linux x64 only), and this project's package.json (allowScripts) skips that script.
 */
async function checkCuda(): Promise<void> {
  const pkg = ortPackageDir();
  const dir = path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if ((await fileMtime(path.join(dir, lib))) !== null) return;
  const missing = `--gpu: onnxruntime-node has no CUDA execution provider here (${lib} is not in ${dir})`;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new EngineError(`${missing}; onnxruntime-node ships one for Linux x64 only. Run without --gpu to use the CPU.`);
  const script = path.join(pkg, 'script', 'install.js');
  const relative = path.relative(process.cwd(), script);
  const install = relative.startsWith('..') ? script : relative;
  const { version } = createRequire(import.meta.url)(path.join(pkg, 'package.json')) as { version: string };
  throw new EngineError(
    `${missing}: its files are not in the npm package, and this project's package.json ("allowScripts": {"onnxruntime-node": false}) ` +
      `skips the install script that downloads them. To get them (for CUDA 12 with cuDNN 9: Microsoft.ML.OnnxRuntime.Gpu.Linux ` +
      `${version} from nuget.org), run: ONNXRUNTIME_NODE_INSTALL=1 node ${install}. ` +
      `Run without --gpu to use the CPU.`,
  );
}

/** A model's bytes and what its metadata says, checked as something this code can feed; no session yet. */
export interface ModelFile {
  bytes: Uint8Array;
  info: ModelInfo;
  /** the .onnx file, or 'in-memory from <weights>' */
  source: string;
}

/** Reads the chosen model (a file, a checkpoint exported in memory, or the newest run's) and its metadata. */
export async function readModel(choice: ModelChoice): Promise<ModelFile> {
  const { bytes, source } = await readModelSource(choice);
  const info = readModelMetadata(bytes, source);
  checkFeedable(info, source);
  return { bytes, info, source };
}

/** An onnxruntime session for a model read by readModel: on the CPU, or on CUDA when `choice.gpu`. */
export async function createSession(model: ModelFile, choice: Pick<ModelChoice, 'gpu' | 'threads'>): Promise<LoadedModel> {
  const threads = threadsOption(choice.threads, os.availableParallelism());
  if (choice.gpu) await checkCuda();
  const provider = choice.gpu ? 'cuda' : 'cpu';
  const { info, source, bytes } = model;
  try {
    const session = await InferenceSession.create(bytes, {
      executionProviders: [provider],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // Idle onnxruntime threads must sleep, not spin: the next batch decodes on the same cores meanwhile.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return { info, source, provider, threads, session, close: () => session.release() };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    throw new InputError(`${source}: onnxruntime cannot load the model on ${provider === 'cuda' ? 'CUDA' : 'the CPU'}: ${message}`);
  }
}

/** readModel, then createSession: the library's loadModel(), one session for many evaluate()/predict() calls. */
export async function openModel(choice: ModelChoice): Promise<LoadedModel> {
  threadsOption(choice.threads, 1);
  return createSession(await readModel(choice), choice);
}

/**
 * 1 / (1 + exp(-z)) evaluated in float32 (each double result rounded to float, which for +, / equals the float
 * operation), as Keras/TensorFlow and the native engine compute it. onnxruntime's Sigmoid is a fast
 * approximation that differs in the last bit near saturation, where float32 probabilities tie at 1.0; the
 * ranking-based figures (AP) depend on those ties.
 */
export function sigmoidFloat32(z: number): number {
  return Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-z))));
}

/**
 * Softmax of each row of `logits` [n, k] in float32, in the native engine's order of operations (ref::softmax:
 * m = the row's max, sum += exp(z - m) class by class, p = exp(z - m) / sum), each step rounded to float as
 * for sigmoidFloat32, so the engine's own probabilities (and their ties) are reproduced.
 */
export function softmaxFloat32(logits: Float32Array, k: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let row = 0; row < logits.length; row += k) {
    let m = logits[row];
    for (let j = 1; j < k; j++) m = logits[row + j] > m ? logits[row + j] : m;
    let sum = 0;
    for (let j = 0; j < k; j++) {
      out[row + j] = Math.fround(Math.exp(Math.fround(logits[row + j] - m)));
      sum = Math.fround(sum + out[row + j]);
    }
    for (let j = 0; j < k; j++) out[row + j] = Math.fround(out[row + j] / sum);
  }
  return out;
}

/** Columns of the model's scores: 1 for a sigmoid head (P(classes[1])), one per class for a softmax head. */
export const scoreColumns = (info: ModelInfo): number => (info.head === 'softmax' ? info.classes.length : 1);

/**
 * The scores of the `n` images in `pixels`, [n, scoreColumns] row by row: P(classes[1]) for a sigmoid head, the
 * probability of every class for a softmax head, computed here in float32 from the logits when the model has
 * them. `scratch` as for inputTensor.
 */
export async function runModel(model: LoadedModel, pixels: Uint8Array, n: number, scratch?: Float32Array | Uint8Array, tta: Tta = 'none'): Promise<Float32Array> {
  if (tta === 'flip') {
    // test-time flip: the average of the scores of the images and of their mirror images (data/tta.ts)
    const [h, w, c] = [model.info.height, model.info.width, model.info.channels];
    const mirrored = mirrorImages(new Uint8Array(n * h * w * c), pixels, n, h, w, c);
    return averageScores(await runModel(model, pixels, n, scratch), await runModel(model, mirrored, n, scratch));
  }
  const { info, session } = model;
  const name = info.logitName ?? info.outputName;
  const k = scoreColumns(info);
  const result = await session.run({ [info.inputName]: inputTensor(info, pixels, n, scratch) }, [name]);
  const out = result[name];
  if (out.type !== 'float32' || out.size !== n * k)
    throw new InputError(`${model.source}: output '${name}' is ${out.type} [${out.dims}], expected float32 [${n}, ${k}]`);
  const data = out.data as Float32Array;
  return checkScores(model.source, !info.logitName ? data : info.head === 'softmax' ? softmaxFloat32(data, k) : data.map(sigmoidFloat32), k);
}

/**
 * The one check of what inference returns: every score a probability. A model with a NaN or infinite weight, or
 * whose metadata scale overflows float32, computes NaN; that is the model's fault, named, not a report of NaNs.
 */
export function checkScores(source: string, scores: Float32Array, columns: number): Float32Array {
  const bad = scores.findIndex((p) => !(p >= 0 && p <= 1));
  if (bad >= 0)
    throw new InputError(
      `${source}: the model computes ${scores[bad]} for image ${Math.floor(bad / columns) + 1} of its batch, not a probability ` +
        `(a NaN or infinite weight, or a metadata 'scale' out of range?): the model is unusable`,
    );
  return scores;
}

/** Batches read ahead of the one onnxruntime runs: decoding overlaps inference, and a slow image does not stall it. */
const READ_AHEAD = 2;

/**
 * The scores of `total` images ([total, scoreColumns], as runModel's) that `read` provides, `batchSize` at a
 * time, the next READ_AHEAD batches being read while one runs. `onProgress` hears of each finished batch.
 */
export async function scoreImages(
  model: LoadedModel,
  total: number,
  read: BatchReader,
  batchSize: number,
  onProgress?: (done: number, total: number) => void,
  tta: Tta = 'none',
): Promise<Float32Array> {
  const k = scoreColumns(model.info);
  const scores = new Float32Array(total * k);
  if (total === 0) return scores;
  const slots = Math.min(batchSize, total) * imageBytes(model.info);
  const batches = Math.ceil(total / batchSize);
  const buffers = Array.from({ length: Math.min(READ_AHEAD + 1, batches) }, () => new Uint8Array(slots));
  const scratch = model.info.dtype === 'uint8' ? new Uint8Array(slots) : new Float32Array(slots);
  const count = (b: number) => Math.min(batchSize, total - b * batchSize);
  const pending = new Map<number, Promise<Uint8Array>>();
  const start = (b: number) => {
    const p = read(b * batchSize, count(b), buffers[b % buffers.length]);
    p.catch(() => undefined); // awaited below; this only keeps a failure during an earlier run from counting as unhandled
    pending.set(b, p);
  };
  for (let b = 0; b < buffers.length; b++) start(b);
  for (let b = 0; b < batches; b++) {
    const pixels = await pending.get(b)!;
    pending.delete(b);
    const n = count(b);
    scores.set(await runModel(model, pixels, n, scratch, tta), b * batchSize * k);
    // the buffer just run is free: read the batch that will use it
    if (b + buffers.length < batches) start(b + buffers.length);
    onProgress?.(b * batchSize + n, total);
  }
  return scores;
}

/** The scores of every file (or encoded image) in `inputs`: scoreImages of a decodingReader. */
export async function scoreFiles(
  model: LoadedModel,
  inputs: readonly ImageInput[],
  batchSize: number,
  opts: DecodeOptions & { nameOf?: (i: number) => string; tta?: Tta } = {},
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array> {
  const { tta, ...decode } = opts;
  return scoreImages(model, inputs.length, decodingReader(model.info, inputs, decode), batchSize, onProgress, tta);
}
