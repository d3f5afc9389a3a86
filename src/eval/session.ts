// An onnxruntime session for `eval` and `predict`: on the CPU, or on CUDA where onnxruntime-node has it (never
// a silent CPU fallback), and the batched scoring of image files with it.
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import type { DecodeOptions } from '../data/decode.js';
import { threadsOption } from '../options/checks.js';
import { EngineError, InputError } from '../errors.js';
import { readModelMetadata, type ModelInfo } from '../onnx/graph.js';
import { checkFeedable, decodeMany, imageBytes, inputTensor } from './feed.js';
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
}

/** onnxruntime-node's package folder. */
function ortPackageDir(): string {
  const index = createRequire(import.meta.url).resolve('onnxruntime-node');
  return path.join(path.dirname(index), '..');
}

/**
 * Fails with the reason, and how to get the provider, when onnxruntime-node cannot run CUDA here (before
 * onnxruntime logs its own). The provider's libraries are not in the npm package: onnxruntime-node's install
 * script downloads them from nuget.org (Linux x64 only), and this project's .npmrc skips that script.
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
    `${missing}: its files are not in the npm package, and this project's .npmrc (onnxruntime-node-install=skip) ` +
      `skips the install script that downloads them. To get them (for CUDA 12 with cuDNN 9: Microsoft.ML.OnnxRuntime.Gpu.Linux ` +
      `${version} from nuget.org), run: ONNXRUNTIME_NODE_INSTALL=1 node ${install}. ` +
      `Run without --gpu to use the CPU.`,
  );
}

export async function loadModel(choice: ModelChoice): Promise<LoadedModel> {
  const threads = threadsOption(choice.threads, os.availableParallelism());
  const { bytes, source } = await readModelSource(choice);
  const info = readModelMetadata(bytes, source);
  checkFeedable(info, source);
  if (choice.gpu) await checkCuda();
  const provider = choice.gpu ? 'cuda' : 'cpu';
  try {
    const session = await InferenceSession.create(bytes, {
      executionProviders: [provider],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // Idle onnxruntime threads must sleep, not spin: the next batch decodes on the same cores meanwhile.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return { info, source, provider, threads, session };
  } catch (err) {
    const message = (err as Error).message.split('\n')[0];
    throw new InputError(`${source}: onnxruntime cannot load the model on ${provider === 'cuda' ? 'CUDA' : 'the CPU'}: ${message}`);
  }
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
export async function runModel(model: LoadedModel, pixels: Uint8Array, n: number, scratch?: Float32Array | Uint8Array): Promise<Float32Array> {
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

/**
 * The scores of every file ([files.length, scoreColumns], as runModel's); batch k+1 decodes while batch k runs.
 * `onProgress` hears of each finished batch.
 */
export async function scoreFiles(
  model: LoadedModel,
  files: readonly string[],
  batchSize: number,
  opts: DecodeOptions = {},
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array> {
  const size = imageBytes(model.info);
  const k = scoreColumns(model.info);
  const slots = Math.min(batchSize, files.length) * size;
  const buffers = [new Uint8Array(slots), new Uint8Array(slots)];
  const scratch = model.info.dtype === 'uint8' ? new Uint8Array(slots) : new Float32Array(slots);
  const batches = Math.ceil(files.length / batchSize);
  const decode = (b: number) => {
    const p = decodeMany(model.info, files.slice(b * batchSize, (b + 1) * batchSize), buffers[b % 2], opts);
    p.catch(() => undefined); // awaited below; this only keeps a failure during the previous run from counting as unhandled
    return p;
  };
  const scores = new Float32Array(files.length * k);
  let pending = decode(0);
  for (let b = 0; b < batches; b++) {
    await pending;
    if (b + 1 < batches) pending = decode(b + 1);
    const n = Math.min(batchSize, files.length - b * batchSize);
    scores.set(await runModel(model, buffers[b % 2], n, scratch), b * batchSize * k);
    onProgress?.(b * batchSize + n, files.length);
  }
  return scores;
}
