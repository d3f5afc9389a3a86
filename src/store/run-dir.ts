// The run directory: where a training run writes everything (the names below), and run.json, which says what
// the run was and whether it finished ("running" until the last file is written; "failed" with the reason
// otherwise). Also the one lookup of "the newest run" that export, eval, predict and serve-demo fall back on.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { asWriteError, writeFileAtomic } from '../io/atomic.js';
import { checkOutputFolder, makeOutputFolder } from '../io/output.js';
import { fileMtime, readInputText } from '../io/read.js';
import { loadCheckpoint, type Checkpoint } from './checkpoint.js';
import { SEED_HISTORY_DIR } from './history.js';
import { LOCK_FILE, lockRunDir, type RunLock } from './lock.js';

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

/** 'interrupted': stopped by SIGINT or SIGTERM, resumable as a killed run is */
export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted';

function timestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Refuses a run folder that cannot be made: a given --out that is a non-empty folder (a run never overwrites
 * another run's files), a file, or a folder (new or empty) that cannot be created or written in; without --out,
 * a runs/ folder under `base` that cannot be. Cheap: training runs it before reading any data, so a read-only or
 * full disk is found before the work, not after it.
 */
export async function checkRunDirTarget(out: string | undefined, base = process.cwd()): Promise<void> {
  if (out === undefined) {
    await checkOutputFolder('the runs folder', path.join(base, DEFAULT_RUNS_DIR), 'a folder for training runs');
    return;
  }
  const dir = path.resolve(out);
  const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null; // not a folder: checked below
    throw new UsageError(`--out ${out}: ${err.message}`);
  });
  if (entries && entries.length > 0) throw new UsageError(`--out ${out} already exists and is not empty: choose a new folder`);
  await checkOutputFolder('--out', out, 'a folder for the run');
}

/**
 * Creates the run directory and takes its lock. A given `out` must not exist or be an empty folder (a run never
 * overwrites another run's files); by default a fresh runs/<prefix>-<date>-<time>[-N] under `base` (`engine cv`: cv-...).
 */
export async function createRunDir(out: string | undefined, base = process.cwd(), prefix = 'run'): Promise<{ dir: string; lock: RunLock }> {
  if (out !== undefined) {
    const dir = path.resolve(out);
    await checkRunDirTarget(out);
    await makeOutputFolder('--out', dir);
    const lock = await lockRunDir(dir, `--out ${out}`);
    // another run may have started in this (then empty) folder between the check and the lock
    if ((await fs.readdir(dir)).some((n) => n !== LOCK_FILE)) {
      await lock.release();
      throw new UsageError(`--out ${out} already exists and is not empty: choose a new folder`);
    }
    return { dir, lock };
  }
  const stem = path.join(base, DEFAULT_RUNS_DIR, `${prefix}-${timestamp(new Date())}`);
  await makeOutputFolder('the runs folder', path.dirname(stem));
  for (let i = 0; ; i++) {
    const dir = i === 0 ? stem : `${stem}-${i}`;
    try {
      await fs.mkdir(dir);
      return { dir, lock: await lockRunDir(dir, dir) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw asWriteError(dir, err);
    }
  }
}

export async function writeRunJson(runDir: string, record: Record<string, unknown>): Promise<void> {
  await writeFileAtomic(path.join(runDir, RUN_FILES.record), JSON.stringify(record, null, 2) + '\n');
}

/** run.json of `runDir` parsed, or undefined when there is none or it is not JSON (not a run, or not ours). */
export async function readRunRecord(runDir: string): Promise<Record<string, unknown> | undefined> {
  try {
    const record = JSON.parse(await readInputText(path.join(runDir, RUN_FILES.record), 'run.json'));
    return record && typeof record === 'object' && !Array.isArray(record) ? record : undefined;
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
    const started = await readInputText(path.join(dir, RUN_FILES.record), 'run.json')
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

/**
 * The checkpoint with the highest epoch: last, best or weights<N> (best can be newer than last with --save-every
 * > 1). A damaged weights<N> (only a save point along the way) is passed to `onSkip` and left out; a damaged
 * last or best is refused.
 */
export async function newestCheckpoint(
  runDir: string,
  onSkip?: (file: string, why: string) => void,
): Promise<{ file: string; ckpt: Checkpoint; epoch: number } | undefined> {
  const names = (await fs.readdir(runDir)).filter((n) => CHECKPOINT_NAME.test(n));
  let newest: { file: string; ckpt: Checkpoint; epoch: number } | undefined;
  for (const name of names.sort()) {
    const file = path.join(runDir, name);
    let ckpt: Checkpoint;
    try {
      ckpt = await loadCheckpoint(file);
    } catch (err) {
      if (!(err instanceof InputError) || name === RUN_FILES.last || name === RUN_FILES.best || !onSkip) throw err;
      onSkip(file, err.message);
      continue;
    }
    const epoch = ckpt.meta.epoch;
    // The trainer always records the epoch; a checkpoint without one was put here from elsewhere (an import).
    if (epoch === undefined) throw new InputError(`${file}: records no epoch (not written by this run?), cannot resume from it`);
    if (!newest || epoch > newest.epoch || (epoch === newest.epoch && name === RUN_FILES.last)) newest = { file, ckpt, epoch };
  }
  return newest;
}

/**
 * Temp files of atomic writes that a kill left behind: never complete, never read, safe to remove (the caller
 * holds the run's lock: no other process writes here). Anything else by such a name (a folder) is refused.
 */
export async function removeStaleTempFiles(runDir: string): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of [runDir, path.join(runDir, SEED_HISTORY_DIR)]) {
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const n of names)
      if (n.startsWith('.') && n.endsWith('.tmp')) {
        const file = path.join(dir, n);
        const st = await fs.lstat(file);
        if (!st.isFile() && !st.isSymbolicLink())
          throw new InputError(`${file}: a folder (or device) where only the temp files of interrupted writes belong; remove it to resume`);
        await fs.rm(file, { force: true });
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
