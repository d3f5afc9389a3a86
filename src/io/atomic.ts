// Atomic writes: a temp file beside the target, flushed, then renamed over it, so a reader (or a crash) sees the
// old file or the whole new one. Temp files are created exclusively and never through a symbolic link (a name
// planted in a shared folder cannot redirect the write), are removed on a signal (see removeLiveTemps), and those
// a killed process left behind (`.NAME.PID.N.tmp` of a dead PID) are swept by the next write into that folder.
import { constants, promises as fs, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';

let counter = 0;

/** `.NAME.PID.N.tmp` (and an older engine's `.NAME.PID.tmp`), the names of temp files: the writer's PID. */
const tempPid = (name: string): number | undefined => {
  const m = /^\..+\.(\d+)\.\d+\.tmp$/.exec(name) ?? /^\..+\.(\d+)\.tmp$/.exec(name);
  return m ? Number(m[1]) : undefined;
};

/** Temp files and folders of this process not yet renamed or removed: what a signal must not leave behind. */
const live = new Set<string>();

/** Registers `p` (a temp file or folder) as this process's, removed by removeLiveTemps until untracked. */
export const trackTemp = (p: string): void => void live.add(p);
export const untrackTemp = (p: string): void => void live.delete(p);

/** Removes every live temp file and folder now (synchronously: a signal handler calls it before exiting). */
export function removeLiveTemps(): void {
  for (const p of live) rmSync(p, { recursive: true, force: true });
  live.clear();
}

/** A write or mkdir failure as a few words: what the user can act on. */
export function describeWriteError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOSPC') return 'no space left on the device';
  if (code === 'EDQUOT') return 'disk quota exceeded';
  if (code === 'ENOTDIR' || code === 'EEXIST') return 'not a folder';
  if (code === 'EISDIR') return 'is a folder';
  if (code === 'ENAMETOOLONG') return 'name too long';
  if (code === 'ELOOP') return 'a symbolic link where a file is written';
  return (err as Error).message;
}

/** The failures of a disk (full, read-only, forbidden) rather than of the program: the user can act on them. */
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'EFBIG']);

/** A file that could not be written for a reason of the disk's: exit 2, naming the file. */
export class WriteError extends InputError {
  readonly code?: string;
  constructor(readonly file: string, err: unknown) {
    super(`cannot write ${file}: ${describeWriteError(err)}`);
    this.name = 'WriteError';
    this.code = (err as NodeJS.ErrnoException).code;
  }
}

/** `err` as a WriteError naming `file` when it is a failure of the disk; other errors unchanged. */
export function asWriteError(file: string, err: unknown): unknown {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  return code !== undefined && DISK_ERRORS.has(code) ? new WriteError(file, err) : err;
}

/** Is process `pid` alive on this machine (a zombie, killed but not reaped, counts as dead)? */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process that its parent has not reaped yet still answers signal 0: state Z in /proc.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

const swept = new Set<string>();

/**
 * Removes, once per folder and process, the temp files of atomic writes that a killed process left in `dir`:
 * `.NAME.PID.N.tmp` whose PID is no longer running here. Only regular files and links are removed.
 */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  const key = path.resolve(dir);
  if (swept.has(key)) return [];
  swept.add(key);
  const removed: string[] = [];
  for (const name of await fs.readdir(key).catch(() => [] as string[])) {
    const pid = tempPid(name);
    if (pid === undefined || pid === process.pid || pidAlive(pid)) continue;
    const st = await fs.lstat(path.join(key, name)).catch(() => null);
    if (!st || st.isDirectory()) continue;
    await fs.rm(path.join(key, name), { force: true }).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** A fresh temp name beside `file`: `.NAME.PID.N.tmp`. */
const tempName = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);

// Exclusive and not through a symbolic link: a name someone else planted is never written through.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Creates a temp file beside `file` (exclusively, never through a link, mode 0666 less the umask), tracked until
 * committed or discarded. A name that exists (a PID reused) is skipped for the next.
 */
export async function openTemp(file: string): Promise<{ tmp: string; handle: fs.FileHandle }> {
  await sweepStaleTemps(path.dirname(file));
  for (let tries = 0; ; tries++) {
    const tmp = tempName(file);
    try {
      const handle = await fs.open(tmp, CREATE_FLAGS, 0o666);
      trackTemp(tmp);
      return { tmp, handle };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && tries < 100) continue;
      throw asWriteError(file, err);
    }
  }
}

/** Removes a temp file that will not be committed. */
export async function discardTemp(tmp: string): Promise<void> {
  await fs.rm(tmp, { force: true }).catch(() => undefined);
  untrackTemp(tmp);
}

/** Renames a complete temp file over `file`. */
export async function commitTemp(tmp: string, file: string): Promise<void> {
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await discardTemp(tmp);
    throw asWriteError(file, err);
  }
  untrackTemp(tmp);
}

/** Writes `data` into a fresh temp file beside `file` and flushes it; returns the temp file's path. */
async function writeTemp(file: string, data: string | Uint8Array): Promise<string> {
  const { tmp, handle } = await openTemp(file);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await discardTemp(tmp);
    throw asWriteError(file, err);
  }
  await handle.close();
  return tmp;
}

/**
 * Writes `data` to `file` so that a reader (or a crash) sees either the old file or the whole new one:
 * write a temp file in the same folder, fsync it, rename it over the target. A failure of the disk (full,
 * read-only, forbidden) is a WriteError naming `file`.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await commitTemp(await writeTemp(file, data), file);
}

/**
 * Writes several files that belong together (a model and its card): every temp file is written and flushed
 * first, and only then are they renamed over their targets, one after the other. A failure while writing (a
 * full disk, say) leaves every target as it was.
 */
export async function writeFilesAtomic(files: { file: string; data: string | Uint8Array }[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const { file, data } of files) temps.push(await writeTemp(file, data));
    for (const [i, { file }] of files.entries()) {
      await commitTemp(temps[i], file);
      temps[i] = '';
    }
  } catch (err) {
    await Promise.all(temps.filter((t) => t !== '').map(discardTemp));
    throw err;
  }
}
