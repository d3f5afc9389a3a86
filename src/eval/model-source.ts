// Which model `eval`, `predict` and `serve-demo` run: an exported .onnx file, a checkpoint exported in memory
// (the same graph `engine export` writes), or, given neither, the newest run's.
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { READ_LIMITS, readInputFile } from '../io/read.js';
import { readModelMetadata, type ModelInfo } from '../onnx/model-info.js';
import { loadCheckpoint } from '../store/checkpoint.js';
import { DEFAULT_RUNS_DIR, newestRunWith, RUN_FILES } from '../store/run-dir.js';

export interface ModelSource {
  /** an exported .onnx file */
  model?: string;
  /** a checkpoint, exported in memory (same graph, same numbers as `engine export`) */
  weights?: string;
  /** where runs live when neither model nor weights is given (default: runs/ in the current folder) */
  runsDir?: string;
  /** the bytes of `model`, not (yet) on disk: `engine export` measures the file it is about to write */
  modelBytes?: Uint8Array;
}

/**
 * The newest run under `runsDir` that holds a model: its model.onnx unless best.safetensors is newer (an export
 * from before training improved), else best.safetensors.
 */
export async function newestRunModel(runsDir: string): Promise<{ model?: string; weights?: string }> {
  const run = await newestRunWith(runsDir, [RUN_FILES.model, RUN_FILES.best]);
  if (!run) throw new InputError(`no model given and no trained run under ${runsDir}: pass --model FILE.onnx or --weights CHECKPOINT (or train first)`);
  const onnxTime = run.mtimes[RUN_FILES.model];
  const bestTime = run.mtimes[RUN_FILES.best];
  return onnxTime !== undefined && (bestTime === undefined || onnxTime >= bestTime)
    ? { model: path.join(run.dir, RUN_FILES.model) }
    : { weights: path.join(run.dir, RUN_FILES.best) };
}

/** The chosen model's ONNX bytes: read from the file, or built from the checkpoint in memory. */
export async function readModelSource(choice: ModelSource): Promise<{ bytes: Uint8Array; source: string; file?: string }> {
  if (choice.model !== undefined && choice.weights !== undefined)
    throw new UsageError('give either --model (an .onnx file) or --weights (a checkpoint), not both');
  if (choice.modelBytes !== undefined) return { bytes: choice.modelBytes, source: choice.model ?? 'in-memory model' };
  const picked = choice.model === undefined && choice.weights === undefined ? await newestRunModel(path.resolve(choice.runsDir ?? DEFAULT_RUNS_DIR)) : choice;
  if (picked.weights !== undefined) {
    const ckpt = await loadCheckpoint(picked.weights);
    // the exporter (onnx-proto) is loaded only here: running an .onnx file needs none of it
    const { buildOnnxModel } = await import('../onnx/graph.js');
    return { bytes: buildOnnxModel(ckpt), source: `in-memory from ${picked.weights}`, file: picked.weights };
  }
  const file = picked.model!;
  return { bytes: await readInputFile(file, 'model', READ_LIMITS.model), source: file, file };
}

/** An exported model file's interface (classes, input, preprocessing), read from its metadata. */
export async function loadModelInfo(file: string): Promise<ModelInfo> {
  return readModelMetadata(await readInputFile(file, 'model', READ_LIMITS.model), file);
}
