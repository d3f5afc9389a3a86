// Which model `eval` and `predict` run: an exported .onnx file, a checkpoint exported in memory (the same graph
// `engine export` writes), or, given neither, the newest run's.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { buildOnnxModel } from '../onnx/export.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { readInputFile } from '../io/read.js';
import { runsNewestFirst } from '../train/run-dir.js';

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

/** The file's mtime, or null when it is not a regular file. */
export async function fileMtime(file: string): Promise<number | null> {
  const stat = await fs.stat(file).catch(() => null);
  return stat?.isFile() ? stat.mtimeMs : null;
}

/**
 * The newest run under `runsDir` that holds a model: its model.onnx unless best.safetensors is newer (an export
 * from before training improved), else best.safetensors.
 */
export async function newestRunModel(runsDir: string): Promise<{ model?: string; weights?: string }> {
  for (const dir of await runsNewestFirst(runsDir)) {
    const onnxTime = await fileMtime(path.join(dir, 'model.onnx'));
    const bestTime = await fileMtime(path.join(dir, 'best.safetensors'));
    if (onnxTime === null && bestTime === null) continue;
    return onnxTime !== null && (bestTime === null || onnxTime >= bestTime) ? { model: path.join(dir, 'model.onnx') } : { weights: path.join(dir, 'best.safetensors') };
  }
  throw new InputError(`no model given and no trained run under ${runsDir}: pass --model FILE.onnx or --weights CHECKPOINT (or train first)`);
}

/** The chosen model's ONNX bytes: read from the file, or built from the checkpoint in memory. */
export async function readModelSource(choice: ModelSource): Promise<{ bytes: Uint8Array; source: string }> {
  if (choice.model !== undefined && choice.weights !== undefined)
    throw new UsageError('give either --model (an .onnx file) or --weights (a checkpoint), not both');
  if (choice.modelBytes !== undefined) return { bytes: choice.modelBytes, source: choice.model ?? 'in-memory model' };
  const picked = choice.model === undefined && choice.weights === undefined ? await newestRunModel(path.resolve(choice.runsDir ?? 'runs')) : choice;
  if (picked.weights !== undefined) {
    const ckpt = await loadCheckpoint(picked.weights);
    return { bytes: buildOnnxModel(ckpt), source: `in-memory from ${picked.weights}` };
  }
  const file = picked.model!;
  return { bytes: await readInputFile(file, 'model'), source: file };
}
