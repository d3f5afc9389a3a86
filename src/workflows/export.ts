// `engine export onnx`: a checkpoint -> model.onnx and MODEL_CARD.md, written together. Everything that can
// fail is checked or computed before anything is written (the output paths, the checkpoint, the graph, the
// card's figures on the model's own bytes), so a failure leaves the previous model and card as they were.
import path from 'node:path';
import { checkOutputFile, refuseInputsAsOutputs, writeOutputFile, writeOutputFiles } from '../io/output.js';
import { buildOnnxModel } from '../onnx/graph.js';
import { readModelMetadata, type ModelInfo } from '../onnx/model-info.js';
import { resolveExportOptions } from '../options/export.js';
import type { Tta } from '../options/common.js';
import { MODEL_CARD_NAME } from '../report/model-card.js';
import { loadCheckpoint } from '../store/checkpoint.js';
import { DEFAULT_RUNS_DIR, newestRunWith, RUN_FILES } from '../store/run-dir.js';
import { InputError } from '../errors.js';
import { prepareModelCard, type WrittenModelCard } from './model-card.js';

export interface ExportOptions {
  /** checkpoint to export (default: best.safetensors of the newest run under runsDir) */
  weights?: string;
  /** default: model.onnx beside the weights */
  out?: string;
  embedPreprocessing?: boolean;
  /** 'flip': a graph that averages each image's probabilities with its mirror image's (default none) */
  tta?: Tta;
  /** default: runs/ in the current folder */
  runsDir?: string;
  /** write MODEL_CARD.md beside the model, with its figures on <data>/val (default true) */
  modelCard?: boolean;
  /** dataset folder whose val/ the model card measures (default: the checkpoint's training data, else ./data) */
  data?: string;
}

/** best.safetensors of the newest run under `runsDir` that has one. */
async function newestRunWeights(runsDir: string): Promise<string> {
  const run = await newestRunWith(runsDir, [RUN_FILES.best]);
  if (!run) throw new InputError(`no trained run found under ${runsDir.replace(/\/+$/, '')}/: train first or pass --weights`);
  return path.join(run.dir, RUN_FILES.best);
}

export async function exportOnnx(opts: ExportOptions = {}): Promise<{ file: string; info: ModelInfo; card?: WrittenModelCard }> {
  const { embedPreprocessing, modelCard: withCard, tta } = resolveExportOptions(opts);
  const weights = opts.weights ?? (await newestRunWeights(opts.runsDir ?? DEFAULT_RUNS_DIR));
  const file = path.resolve(opts.out ?? path.join(path.dirname(weights), RUN_FILES.model));
  const cardFile = path.join(path.dirname(file), MODEL_CARD_NAME);

  const shown = opts.out ?? file; // messages name the path as the user typed it
  await checkOutputFile('--out', shown, { folderHint: 'name the .onnx file to write' });
  if (withCard) await checkOutputFile('--out', cardFile, { folderHint: `${MODEL_CARD_NAME} is written beside the model (--no-card: none)` });
  const outputs = [{ name: opts.out === undefined ? 'the model to write' : '--out', file: shown }];
  if (withCard) outputs.push({ name: 'the model card to write', file: cardFile });
  await refuseInputsAsOutputs(outputs, [{ name: 'the checkpoint', file: weights }]);
  const ckpt = await loadCheckpoint(weights);
  const bytes = buildOnnxModel(ckpt, { embedPreprocessing, tta });
  const info = readModelMetadata(bytes, file);
  if (!withCard) {
    await writeOutputFile('--out', file, bytes);
    return { file, info };
  }
  // The card measures these very bytes (not yet on disk); then model and card are written as a pair.
  const { text, ...card } = await prepareModelCard({
    modelFile: file,
    modelBytes: bytes,
    weightsFile: weights,
    meta: ckpt.meta,
    params: ckpt.params.length,
    data: opts.data,
  });
  await writeOutputFiles('--out', [
    { file, data: bytes },
    { file: card.file, data: text },
  ]);
  return { file, info, card };
}
