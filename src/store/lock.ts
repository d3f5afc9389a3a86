// One process per run folder: a lock file created exclusively (O_EXCL, never through a link) that holds the
// owner's pid and host. Taken before anything of the folder is read, for fresh and resumed runs alike, and
// removed when the run ends (or, synchronously, when the process exits). A lock whose process is gone from this
// host is stale and taken over; one held by a live process, or by another host, is refused.
import { constants, promises as fs, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { asWriteError, pidAlive } from '../io/atomic.js';

/** The lock file's name inside a run folder. */
export const LOCK_FILE = '.lock';

export interface RunLock {
  file: string;
  /** removes the lock (once; later calls do nothing) */
  release(): Promise<void>;
}

interface LockRecord {
  pid?: unknown;
  host?: unknown;
  started?: unknown;
}

const held = new Set<string>();
let exitHook = false;

/** Locks still held when the process exits are removed (an exit by an error, or by a signal handler's exit()). */
function removeOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const file of held) {
      try {
        unlinkSync(file);
      } catch {
        /* already gone */
      }
    }
  });
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function readLock(file: string): Promise<LockRecord | undefined> {
  try {
    const st = await fs.lstat(file);
    if (!st.isFile() || st.size > 4096) return undefined;
    const record = JSON.parse(await fs.readFile(file, 'utf8'));
    return record && typeof record === 'object' ? record : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of run folder `dir` (which must exist). `flag` names the folder in a refusal ('--resume RUN',
 * '--out DIR'). Refused, naming the holder, when another live process of this host (or a process of another host)
 * holds it.
 */
export async function lockRunDir(dir: string, flag: string): Promise<RunLock> {
  const file = path.join(path.resolve(dir), LOCK_FILE);
  // The record is written to a temp file first and linked into place (link fails where the name exists): the
  // lock file is never seen empty or half written.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.rm(tmp, { force: true });
    const handle = await fs.open(tmp, CREATE, 0o644);
    try {
      await handle.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }) + '\n');
    } finally {
      await handle.close();
    }
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw asWriteError(file, err);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.link(tmp, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw asWriteError(file, err);
      }
      if (attempt >= 3) throw new UsageError(`${flag}: other processes keep taking the lock ${file}; try again`);
      await takeOverStale(file, flag);
    }
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
  held.add(file);
  removeOnExit();
  let released = false;
  return {
    file,
    release: async () => {
      if (released) return;
      released = true;
      held.delete(file);
      await fs.rm(file, { force: true }).catch(() => undefined);
    },
  };
}

/**
 * Removes the lock `file` when its process is gone from this host (killed) or it is no lock record; refuses when
 * it is held. The stale file is moved aside by rename, which only one process can do to it; had another process
 * meanwhile taken the lock anew, its record is put back and the lock refused.
 */
async function takeOverStale(file: string, flag: string): Promise<void> {
  const holder = await readLock(file);
  const pid = typeof holder?.pid === 'number' ? holder.pid : undefined;
  const host = typeof holder?.host === 'string' ? holder.host : undefined;
  if (host !== undefined && host !== os.hostname())
    throw new UsageError(`${flag}: the run is locked by pid ${pid ?? '?'} on host ${host} (${file}); if that run is gone, remove the file`);
  if (pid !== undefined && (pid === process.pid || pidAlive(pid)))
    throw new UsageError(`${flag}: the run is in use by another engine process (pid ${pid}, since ${String(holder?.started ?? '?')}); stop it first, or wait`);
  const st = await fs.lstat(file).catch(() => null);
  if (st && !st.isFile() && !st.isSymbolicLink()) throw new UsageError(`${flag}: ${file} is not a lock file (a folder?); remove it`);
  const aside = `${file}.${process.pid}.stale`;
  if (!(await fs.rename(file, aside).then(() => true, () => false))) return;
  const moved = await readLock(aside);
  if (moved && (moved.pid !== holder?.pid || moved.started !== holder?.started)) {
    await fs.link(aside, file).catch(() => undefined);
    await fs.rm(aside, { force: true });
    throw new UsageError(`${flag}: the run is in use by another engine process (pid ${String(moved.pid)}); stop it first, or wait`);
  }
  await fs.rm(aside, { force: true });
}
