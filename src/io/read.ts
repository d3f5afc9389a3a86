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
