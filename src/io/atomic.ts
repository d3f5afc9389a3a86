import { promises as fs } from 'node:fs';
import path from 'node:path';

let counter = 0;

const tempName = (file: string) => path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);

/** Writes `data` into a fresh temp file beside `file` and flushes it; returns the temp file's path. */
async function writeTemp(file: string, data: string | Uint8Array): Promise<string> {
  const tmp = tempName(file);
  const handle = await fs.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  return tmp;
}

/**
 * Writes `data` to `file` so that a reader (or a crash) sees either the old file or the whole new one:
 * write a temp file in the same folder, fsync it, rename it over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = await writeTemp(file, data);
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
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
      await fs.rename(temps[i], file);
      temps[i] = '';
    }
  } catch (err) {
    await Promise.all(temps.filter((t) => t !== '').map((t) => fs.rm(t, { force: true })));
    throw err;
  }
}
