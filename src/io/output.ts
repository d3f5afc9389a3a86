// Files the user names as outputs: checked before any work (a folder where a file is expected, a parent folder
// that cannot be created, an output that is one of the command's inputs), and written with failures turned
// into one-line InputErrors instead of stack traces.
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { describeWriteError, writeFileAtomic, writeFilesAtomic } from './atomic.js';

export { describeWriteError } from './atomic.js';

const statOf = (p: string) => fs.stat(p).catch(() => null);

/**
 * Why the folder `dir` cannot be made (mkdir -p) and written in, or undefined when it can: the nearest existing
 * ancestor must be a folder we may write in. Without `create`, `dir` itself must exist.
 */
async function folderProblem(dir: string, create: boolean): Promise<string | undefined> {
  const target = path.resolve(dir);
  let at = target;
  for (;;) {
    const st = await fs.stat(at).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) {
      const code = (st as NodeJS.ErrnoException).code;
      // ENOENT: not there yet; ENOTDIR: a file further up, named once the climb reaches it
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return `${at} cannot be read (${describeWriteError(st)})`;
    } else {
      if (!st.isDirectory()) return `${at} is a file, not a folder`;
      if (at !== target && !create) return `the folder ${target} does not exist`;
      try {
        await fs.access(at, fs.constants.W_OK | fs.constants.X_OK);
        return undefined;
      } catch (err) {
        return at === target ? `${at} is not writable (${describeWriteError(err)})` : `cannot create folders in ${at} (${describeWriteError(err)})`;
      }
    }
    const up = path.dirname(at);
    if (up === at) return `${at} does not exist`;
    at = up;
  }
}

/**
 * Refuses, before any work, an output file that cannot be written: an existing folder, or a parent folder that
 * cannot be created (`createParent`, the default) or does not exist. `flag` names it in the message ('--html').
 */
export async function checkOutputFile(flag: string, file: string, opts: { createParent?: boolean; folderHint?: string } = {}): Promise<void> {
  const out = path.resolve(file);
  const st = await statOf(out);
  if (st?.isDirectory()) throw new UsageError(`${flag} ${file} is a folder: ${opts.folderHint ?? 'name the file to write'}`);
  const problem = await folderProblem(path.dirname(out), opts.createParent ?? true);
  if (problem) throw new UsageError(`${flag} ${file}: cannot write there: ${problem}`);
}

/** Refuses, before any work, a folder output (`--annotate DIR`, `--out DIR`) that is a file or cannot be made. */
export async function checkOutputFolder(flag: string, dir: string, what = 'a folder'): Promise<void> {
  const st = await statOf(dir);
  if (st && !st.isDirectory()) throw new UsageError(`${flag} ${dir} is a file, expected ${what}`);
  const problem = await folderProblem(dir, true);
  if (problem) throw new UsageError(`${flag} ${dir}: cannot create it: ${problem}`);
}

export interface NamedPath {
  /** how the message names it: '--annotate', 'the input image', '--weights' */
  name: string;
  file: string;
}

const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

/**
 * Refuses outputs that are one of the inputs (the same file by device and inode, so a relative path, a symbolic
 * link or a hard link to an input counts too): writing them would destroy what the user had. Only outputs that
 * exist can be an input.
 */
export async function refuseInputsAsOutputs(outputs: NamedPath[], inputs: NamedPath[]): Promise<void> {
  const existing: { out: NamedPath; st: Stats }[] = [];
  for (const out of outputs) {
    // resolved as the writers resolve it ('sub/../x' is x even where sub does not exist)
    const st = await statOf(path.resolve(out.file));
    if (st?.isFile()) existing.push({ out, st });
  }
  if (existing.length === 0) return;
  for (const input of inputs) {
    const st = await statOf(input.file);
    if (!st) continue;
    const clash = existing.find((e) => sameFile(e.st, st));
    if (clash)
      throw new UsageError(
        `${clash.out.name} ${clash.out.file} is ${input.name} ${input.file}: writing it would destroy the input; choose another output path`,
      );
  }
}

/** mkdir -p of `dir`, a failure as an InputError naming `flag`. */
export async function makeOutputFolder(flag: string, dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    throw new InputError(`${flag}: cannot create the folder ${dir}: ${describeWriteError(err)}`);
  }
}

/** Writes `file` atomically, creating its folder; a failure is an InputError naming `flag` and the reason. */
export async function writeOutputFile(flag: string, file: string, data: string | Uint8Array): Promise<void> {
  await makeOutputFolder(flag, path.dirname(file));
  try {
    await writeFileAtomic(file, data);
  } catch (err) {
    throw new InputError(`${flag}: cannot write ${file}: ${describeWriteError(err)}`);
  }
}

/** Writes every file (temp files first, renamed only once all are complete); failures as for writeOutputFile. */
export async function writeOutputFiles(flag: string, files: { file: string; data: string | Uint8Array }[]): Promise<void> {
  for (const dir of new Set(files.map((f) => path.dirname(f.file)))) await makeOutputFolder(flag, dir);
  try {
    await writeFilesAtomic(files);
  } catch (err) {
    throw new InputError(`${flag}: cannot write ${files.map((f) => f.file).join(' and ')}: ${describeWriteError(err)}`);
  }
}
