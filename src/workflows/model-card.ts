// The model card's figures and its writing: evaluates the exported model on <data>/val, describes the data it
// learnt from (counted from the folders, checked against the seed's manifest) and has report/model-card.ts
// render them. engine export runs it on the model's bytes before either file is written.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isCelebaLayout } from '../data/celeba-layout.js';
import { datasetKind, hasDataSplit, listDataSplit, validationOf, type Validation } from '../data/dataset.js';
import { matchesSeedManifest } from '../data/fetch.js';
import { EngineError } from '../errors.js';
import { evaluate, type EvalReport } from '../eval/evaluate.js';
import { writeOutputFile } from '../io/output.js';
import { readModelMetadata } from '../onnx/model-info.js';
import { DEFAULT_DATA_DIR } from '../options/common.js';
import { MODEL_CARD_NAME, modelCardMarkdown, type DatasetDescription } from '../report/model-card.js';
import type { CheckpointMeta } from '../store/checkpoint.js';
import { readRunRecord } from '../store/run-dir.js';

/**
 * Can `data` be measured on: a val split of its own (a val/ folder, CelebA's val partition), or, for data without
 * one, the run's recorded validation (images held out of train, or the test split: engine eval reads them so)?
 */
async function hasVal(data: string, validation: Validation | undefined): Promise<boolean> {
  if (!(await isDir(data))) return false;
  const own = await hasDataSplit(data, 'val').catch(() => false);
  return own || (validation !== undefined && validation.source !== 'val');
}

/** The dataset folder to measure on: the one given, else the checkpoint's training data, else ./data. */
export async function cardDataFolder(given: string | undefined, meta: CheckpointMeta, trainedOn = recordedData(meta)): Promise<string> {
  if (given !== undefined) return given;
  if (trainedOn !== undefined && (await hasVal(trainedOn, validationOf(meta.config)))) return trainedOn;
  return DEFAULT_DATA_DIR;
}

/**
 * The training data folder the checkpoint records (its config's `data`), if any. Checkpoints record it relative to
 * their run folder (`checkpointDir`); older ones as it was typed, relative to where training ran.
 */
async function recordedDataFolder(meta: CheckpointMeta, checkpointDir: string): Promise<string | undefined> {
  const data = recordedData(meta);
  if (data === undefined) return undefined;
  const inRun = path.resolve(checkpointDir, data);
  return (await isDir(inRun)) || !(await isDir(path.resolve(data))) ? inRun : path.resolve(data);
}
const recordedData = (meta: CheckpointMeta): string | undefined => (typeof meta.config.data === 'string' ? meta.config.data : undefined);

interface RunFacts {
  dataset?: { train: number; val: number };
  /** config.data, resolved when the run was made: the checkpoint's own copy may be relative */
  data?: string;
}

/** What run.json beside a checkpoint says about its data; nothing when it is not in a run directory (or not ours). */
async function runFacts(runDir: string): Promise<RunFacts> {
  const record = (await readRunRecord(runDir)) as { dataset?: { train?: unknown; val?: unknown }; config?: { data?: unknown } } | undefined;
  const d = record?.dataset;
  return {
    dataset: Number.isInteger(d?.train) && Number.isInteger(d?.val) ? { train: d!.train as number, val: d!.val as number } : undefined,
    data: typeof record?.config?.data === 'string' ? record.config.data : undefined,
  };
}

const isDir = async (dir: string) => (await fs.stat(dir).catch(() => null))?.isDirectory() ?? false;

/**
 * Lists the training and validation images of `dir` (any layout; with `validation`, as the run chose them) and
 * counts each class; checks whether it is the seed's own dataset.
 */
export async function describeDataset(dir: string, role: DatasetDescription['role'], validation?: Validation): Promise<DatasetDescription> {
  const out: DatasetDescription = { dir: path.resolve(dir), role, kind: 'other', problems: [] };
  const celeba = await isCelebaLayout(dir);
  const listed = celeba || (await datasetKind(dir).catch(() => 'folders')) === 'idx';
  for (const split of ['train', 'val'] as const) {
    if (!(listed && (split === 'train' || validation)) && !(await isDir(path.join(dir, split)))) continue;
    try {
      const listing = await listDataSplit(dir, split, { validation });
      out[split] = { classes: listing.classes, counts: listing.classes.map((_, i) => listing.labels.filter((l) => l === i).length) };
    } catch (err) {
      if (!(err instanceof EngineError)) throw err;
      out.problems.push(`${split}/ could not be listed: ${err.message}`);
    }
  }
  out.kind = celeba ? 'celeba' : (await matchesSeedManifest(dir)) ? 'seed-extract' : 'other';
  return out;
}

export interface WrittenModelCard {
  file: string;
  /** the val report it holds, null when val could not be found */
  report: EvalReport | null;
  /** why there are no metrics, when report is null */
  missingReason?: string;
}

export interface ModelCardOptions {
  modelFile: string;
  /** the model's bytes when they are not yet written at modelFile (engine export measures them first) */
  modelBytes?: Uint8Array;
  weightsFile: string;
  meta: CheckpointMeta;
  params: number;
  /** the data folder whose val/ the card measures (default: the training data, else ./data) */
  data?: string;
}

/**
 * MODEL_CARD.md's text, without writing it: evaluates the model on <data>/val and describes the data. Every
 * error (data whose classes are not the model's, say) comes from here, before anything is written.
 */
export async function prepareModelCard(opts: ModelCardOptions): Promise<WrittenModelCard & { text: string }> {
  const run = await runFacts(path.dirname(opts.weightsFile));
  // run.json holds the folder resolved when training started; the checkpoint's copy is relative to its run folder.
  const trainedOn = run.data ?? (await recordedDataFolder(opts.meta, path.dirname(opts.weightsFile)));
  const data = await cardDataFolder(opts.data, opts.meta, trainedOn);
  const validation = validationOf(opts.meta.config);
  let report: EvalReport | null = null;
  let missingReason: string | undefined;
  if (await hasVal(data, validation)) report = await evaluate({ target: 'val', data, model: opts.modelFile, modelBytes: opts.modelBytes });
  else {
    // relative to the card's folder, as every path of the card
    const val = path.relative(path.dirname(path.resolve(opts.modelFile)), path.resolve(data, 'val')).split(path.sep).join('/');
    missingReason = `${val} is not a folder (export with --data DIR to measure on DIR/val)`;
  }
  const dataset =
    trainedOn !== undefined && (await isDir(trainedOn))
      ? await describeDataset(trainedOn, 'training', validation)
      : (await isDir(data))
        ? await describeDataset(data, 'measured')
        : undefined;
  const file = path.join(path.dirname(opts.modelFile), MODEL_CARD_NAME);
  const { modelBytes: _b, data: _d, ...rest } = opts;
  const measuredOn = new Date().toISOString().slice(0, 10);
  // (the card writes every path relative to its own folder: no path of this machine)
  const bytes = opts.modelBytes ?? new Uint8Array(await fs.readFile(opts.modelFile));
  const info = readModelMetadata(bytes, opts.modelFile);
  const text = modelCardMarkdown({ ...rest, report, missingReason, runDataset: run.dataset, dataset, measuredOn, info });
  return { file, text, report, missingReason };
}

/** Evaluates the exported model on <data>/val and writes MODEL_CARD.md beside it. */
export async function writeModelCard(opts: ModelCardOptions): Promise<WrittenModelCard> {
  const { text, ...card } = await prepareModelCard(opts);
  await writeOutputFile(MODEL_CARD_NAME, card.file, text);
  return card;
}
