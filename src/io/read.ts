// Reading what the user named: one way to open an input file. Only regular files are read (a character device,
// a FIFO or a socket named as an image or a model would be read forever or block), each read is capped at a
// size that fits what is being read, and every failure is an InputError that names the file.
import { closeSync, constants, fstatSync, openSync, promises as fs, readSync, type Stats } from 'node:fs';
import { InputError } from '../errors.js';

const MiB = 2 ** 20;
/** Size caps by what is read: far above any real file of the kind, far below what would exhaust memory. */
export const READ_LIMITS = {
  /** an image (a 16383 x 16383 BMP is 805 MB: decoded images are capped in pixels, see data/decode.ts) */
  image: 1024 * MiB,
  /** a checkpoint or an ONNX model of the small networks this engine trains */
  model: 1024 * MiB,
  /** a dataset file (IDX images: Fashion-MNIST's 60,000 are 47 MB) */
  data: 2048 * MiB,
  /** JSON and text records: run.json, history.csv, a spec, a manifest, a cache sidecar */
  text: 64 * MiB,
} as const;

/** What a stat is, in words, when it is not a regular file. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A read failure in a few words. */
export function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file does not exist';
  if (code === 'EISDIR') return 'is a folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'symbolic link loop (too many levels of symbolic links)';
  if (code === 'ENOTDIR') return 'a path component is a file, not a folder';
  return (err as Error).message;
}

/** The failure to open `file`: a missing one is '<what> not found', as every command words it. */
const openError = (file: string, what: string, err: NodeJS.ErrnoException) =>
  new InputError(err.code === 'ENOENT' ? `${what} not found: ${file}: the file does not exist` : `cannot read ${what} ${file}: ${describeReadError(err)}`);

const mib = (n: number) => `${(n / MiB).toFixed(n < 10 * MiB ? 1 : 0)} MiB`;

/** The refusal of a non-regular or oversized file, or undefined when `st` may be read. */
function statProblem(st: Stats, limit: number): string | undefined {
  if (!st.isFile()) return `is ${kindOf(st)}, not a regular file`;
  if (st.size > limit) return `is ${mib(st.size)}, more than the ${mib(limit)} such a file can be`;
  return undefined;
}

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; regular files ignore it.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Reads a file the user named, refusing anything but a regular file of at most `limit` bytes. `what` names it in
 * the message ('image', 'checkpoint', 'model'); a missing one is "<what> not found: <file>".
 */
export async function readInputFile(file: string, what: string, limit: number = READ_LIMITS.data): Promise<Buffer> {
  const { handle, size } = await openInputFile(file, what, limit);
  try {
    // Read at most limit + 1 bytes: a file that grows while being read is caught too.
    const buf = Buffer.allocUnsafe(Math.min(size, limit) + 1);
    let done = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, done, buf.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
      if (done > limit) throw new InputError(`cannot read ${what} ${file}: it grew past the ${mib(limit)} such a file can be while being read`);
      if (done === buf.length) break;
    }
    return buf.subarray(0, done);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what} ${file}: ${describeReadError(err)}`);
  } finally {
    await handle.close();
  }
}

/** readInputFile as UTF-8 text (JSON and text records: capped at READ_LIMITS.text unless told). */
export async function readInputText(file: string, what: string, limit: number = READ_LIMITS.text): Promise<string> {
  return (await readInputFile(file, what, limit)).toString('utf8');
}

/** readInputText, synchronously (an option resolved synchronously, such as --arch FILE.json). */
export function readInputTextSync(file: string, what: string, limit: number = READ_LIMITS.text): string {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw openError(file, what, e);
  }
  try {
    const st = fstatSync(fd);
    const problem = statProblem(st, limit);
    if (problem) throw new InputError(`cannot read ${what} ${file}: it ${problem}`);
    // sized by the file (a spec is a few kB), grown only if the file grows while being read
    let buf = Buffer.allocUnsafe(Math.min(st.size, limit) + 1);
    let done = 0;
    for (;;) {
      if (done === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(Math.min(buf.length, limit + 1 - buf.length))]);
      const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 20), null);
      if (n === 0) break;
      done += n;
      if (done > limit) throw new InputError(`cannot read ${what} ${file}: it grew past the ${mib(limit)} such a file can be while being read`);
    }
    return buf.subarray(0, done).toString('utf8');
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${what} ${file}: ${describeReadError(err)}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens a file for positional reads (a large file read in parts: an HDF5 file, a cache .npy), refusing anything
 * but a regular file of at most `limit` bytes as readInputFile does. The caller closes the handle.
 */
export async function openInputFile(file: string, what: string, limit: number = READ_LIMITS.data): Promise<{ handle: fs.FileHandle; size: number }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, OPEN_FLAGS);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw openError(file, what, e);
  }
  const st = await handle.stat().catch(async (err) => {
    await handle.close();
    throw new InputError(`cannot read ${what} ${file}: ${describeReadError(err)}`);
  });
  const problem = statProblem(st, limit);
  if (problem) {
    await handle.close();
    throw new InputError(`cannot read ${what} ${file}: it ${problem}`);
  }
  return { handle, size: st.size };
}

/** The file's mtime, or null when it is not a regular file. */
export async function fileMtime(file: string): Promise<number | null> {
  const stat = await fs.stat(file).catch(() => null);
  return stat?.isFile() ? stat.mtimeMs : null;
}
