// The run directory: where a training run writes everything, and run.json, which says what the run was and
// whether it finished ("running" until the last file is written; "failed" with the reason otherwise).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputFolder, makeOutputFolder } from '../io/output.js';

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
 * another run's files); by default a fresh runs/run-<date>-<time>[-N] under `base`.
 */
export async function createRunDir(out: string | undefined, base = process.cwd()): Promise<string> {
  if (out !== undefined) {
    const dir = path.resolve(out);
    await checkRunDirTarget(out);
    await makeOutputFolder('--out', dir);
    return dir;
  }
  const stem = path.join(base, 'runs', `run-${timestamp(new Date())}`);
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
  await writeFileAtomic(path.join(runDir, 'run.json'), JSON.stringify(record, null, 2) + '\n');
}

/** The run folders under `runsDir`, newest first: by run.json's 'started', else by the folder's mtime. */
export async function runsNewestFirst(runsDir: string): Promise<string[]> {
  const entries = await fs.readdir(runsDir, { withFileTypes: true }).catch(() => []);
  const runs: { dir: string; time: number }[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = path.join(runsDir, e.name);
    const started = await fs
      .readFile(path.join(dir, 'run.json'), 'utf8')
      .then((s) => Date.parse(JSON.parse(s).started))
      .catch(() => NaN);
    runs.push({ dir, time: Number.isFinite(started) ? started : (await fs.stat(dir)).mtimeMs });
  }
  return runs.sort((a, b) => b.time - a.time).map((r) => r.dir);
}
