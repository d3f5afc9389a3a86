// Reading what the user named: files with errors that name them, and whether a file is there.
import { promises as fs } from 'node:fs';
import { InputError } from '../errors.js';

/** Reads a file the user named; a missing or unreadable one is an InputError naming it as `what`. */
export async function readInputFile(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new InputError(e.code === 'ENOENT' ? `${what} not found: ${file}` : `cannot read ${what} ${file}: ${e.message}`);
  }
}

/** The file's mtime, or null when it is not a regular file. */
export async function fileMtime(file: string): Promise<number | null> {
  const stat = await fs.stat(file).catch(() => null);
  return stat?.isFile() ? stat.mtimeMs : null;
}
