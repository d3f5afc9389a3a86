// The run directory: where a training run writes everything (the names below), and run.json, which says what
// the run was and whether it finished ("running" until the last file is written; "failed" with the reason
// otherwise). Also the one lookup of "the newest run" that export, eval, predict and serve-demo fall back on.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputFolder, makeOutputFolder } from '../io/output.js';
import { fileMtime } from '../io/read.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import { SEED_HISTORY_DIR } from './history.js';

/** The files of a run directory (history.csv and history/ are named in store/history.ts). */
export const RUN_FILES = {
  record: 'run.json',
  best: 'best.safetensors',
  last: 'last.safetensors',
  plot: 'history.png',
  /** where `engine export onnx` puts the model by default */
  model: 'model.onnx',
} as const;
/** the checkpoint written every --save-every epochs */
export const weightsName = (epoch: number): string => `weights${epoch}.safetensors`;
const CHECKPOINT_NAME = /^(last|best|weights\d+)\.safetensors$/;

/** The runs folder the commands fall back on: runs/ in the current folder. */
export const DEFAULT_RUNS_DIR = 'runs';

export type RunStatus = 'running' | 'finished' | 'failed';

function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Refuses a given --out that cannot become the run directory: a non-empty folder (a run never overwrites another
 * run's files), a file, or a folder that cannot be created (a file, or a folder we may not write, above it).
 * Cheap: training runs it before reading any data.
 */
export async function checkRunDirTarget(out: string): Promise<void> {
  const dir = path.resolve(out);
  const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null; // not a folder: checked below
    throw new UsageError(`--out ${out}: ${err.message}`);
  });
  if (entries && entries.length > 0) throw new UsageError(`--out ${out} already exists and is not empty: choose a new folder`);
  if (!entries) await checkOutputFolder('--out', out, 'a folder for the run');
}

/**
 * Creates the run directory. A given `out` must not exist or be an empty folder (a run never overwrites
 * another run's files); by default a fresh runs/<prefix>-<date>-<time>[-N] under `base` (`engine cv`: cv-...).
 */
export async function createRunDir(out: string | undefined, base = process.cwd(), prefix = 'run'): Promise<string> {
  if (out !== undefined) {
    const dir = path.resolve(out);
    await checkRunDirTarget(out);
    await makeOutputFolder('--out', dir);
    return dir;
  }
  const stem = path.join(base, DEFAULT_RUNS_DIR, `${prefix}-${timestamp(new Date())}`);
  await fs.mkdir(path.dirname(stem), { recursive: true });
  for (let i = 0; ; i++) {
    const dir = i === 0 ? stem : `${stem}-${i}`;
    try {
      await fs.mkdir(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

export async function writeRunJson(runDir: string, record: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(path.join(runDir, RUN_FILES.record), JSON.stringify(record, null, 2) + '\n');
}

/** run.json of `runDir` parsed, or undefined when there is none or it is not JSON (not a run, or not ours). */
export async function readRunRecord(runDir: string): Promise<Record<string, unknown> | undefined> {
  try {
    const record = JSON.parse(await fs.readFile(path.join(runDir, RUN_FILES.record), 'utf8'));
    return record && typeof record === 'object' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** The run folders under `runsDir`, newest first: by run.json's 'started', else by the folder's mtime. */
async function runsNewestFirst(runsDir: string): Promise<string[]> {
  const entries = await fs.readdir(runsDir, { withFileTypes: true }).catch(() => []);
  const runs: { dir: string; time: number }[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = path.join(runsDir, e.name);
    const started = await fs
      .readFile(path.join(dir, RUN_FILES.record), 'utf8')
      .then((s) => Date.parse(JSON.parse(s).started))
      .catch(() => NaN);
    runs.push({ dir, time: Number.isFinite(started) ? started : (await fs.stat(dir)).mtimeMs });
  }
  return runs.sort((a, b) => b.time - a.time).map((r) => r.dir);
}

export interface NewestRun {
  dir: string;
  /** the mtime of each of the asked-for files the run has (at least one) */
  mtimes: Partial<Record<string, number>>;
}

/** The newest run under `runsDir` that holds at least one of `names`, with their mtimes; undefined if none does. */
export async function newestRunWith(runsDir: string, names: readonly string[]): Promise<NewestRun | undefined> {
  for (const dir of await runsNewestFirst(path.resolve(runsDir))) {
    const mtimes: Partial<Record<string, number>> = {};
    for (const name of names) {
      const t = await fileMtime(path.join(dir, name));
      if (t !== null) mtimes[name] = t;
    }
    if (Object.keys(mtimes).length > 0) return { dir, mtimes };
  }
  return undefined;
}

/** The checkpoint with the highest epoch: last, best or weights<N> (best can be newer than last with --save-every > 1). */
export async function newestCheckpoint(runDir: string): Promise<{ file: string; ckpt: Checkpoint; epoch: number } | undefined> {
  const names = (await fs.readdir(runDir)).filter((n) => CHECKPOINT_NAME.test(n));
  let newest: { file: string; ckpt: Checkpoint; epoch: number } | undefined;
  for (const name of names.sort()) {
    const file = path.join(runDir, name);
    const ckpt = await loadCheckpoint(file);
    const epoch = ckpt.meta.epoch;
    // The trainer always records the epoch; a checkpoint without one was put here from elsewhere (an import).
    if (epoch === undefined) throw new InputError(`${file}: records no epoch (not written by this run?), cannot resume from it`);
    if (!newest || epoch > newest.epoch || (epoch === newest.epoch && name === RUN_FILES.last)) newest = { file, ckpt, epoch };
  }
  return newest;
}

/** Temp files of atomic writes that a kill left behind: never complete, never read, safe to remove. */
export async function removeStaleTempFiles(runDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of [runDir, path.join(runDir, SEED_HISTORY_DIR)]) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const n of names)
      if (n.startsWith('.') && n.endsWith('.tmp')) {
        await fs.rm(path.join(dir, n), { force: true });
        removed.push(n);
      }
  }
  return removed;
}

/** Files a run already has (run.json aside), for the summary's file list of a resumed run. */
export async function existingRunFiles(runDir: string): Promise<string[]> {
  const top = (await fs.readdir(runDir)).filter((n) => !n.startsWith('.') && n !== RUN_FILES.record && n !== SEED_HISTORY_DIR);
  const seed = (await fs.readdir(path.join(runDir, SEED_HISTORY_DIR)).catch(() => [] as string[]))
    .filter((n) => !n.startsWith('.'))
    .map((n) => `${SEED_HISTORY_DIR}/${n}`);
  return [...top, ...seed];
}
