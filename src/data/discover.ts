import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';

/** File extensions read as images (matched case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = ['jpg', 'jpeg', 'png', 'bmp', 'tif', 'tiff', 'webp'];

const EXTENSION_LIST = IMAGE_EXTENSIONS.map((e) => `.${e}`).join('/');

/** One split folder (`train`, `val`, ...) laid out as `<dir>/<class>/<image>`. */
export interface SplitListing {
  dir: string;
  /** Sorted class folder names; a label is an index into this list. */
  classes: string[];
  /** Absolute paths, class by class, each class sorted by file name. */
  files: string[];
  /** Class index per file. */
  labels: Uint8Array;
}

export function isImageFile(name: string): boolean {
  const ext = path.extname(name).slice(1).toLowerCase();
  return IMAGE_EXTENSIONS.includes(ext);
}

/** Code-unit order, the same as Python's sorted() for these names, and locale independent. */
function sortNames(names: string[]): string[] {
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'ENOTDIR') return 'is not a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'is not readable (permission denied)';
  return `cannot be read (${(err as Error).message})`;
}

async function readFolder(dir: string, what: string): Promise<Dirent[]> {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new InputError(`${what} ${dir} ${describeError(err)}`);
  }
}

/**
 * Follows symbolic links, as Keras' os.path.isdir / os.walk checks do. A link that leads nowhere (dangling, or
 * a loop) counts as a file, as os.walk lists it: reading it then fails with a message naming it.
 */
async function entryKind(dir: string, entry: Dirent): Promise<'dir' | 'file' | 'other'> {
  if (entry.isDirectory()) return 'dir';
  if (entry.isFile()) return 'file';
  if (entry.isSymbolicLink()) {
    const stat = await fs.stat(path.join(dir, entry.name)).catch(() => null);
    if (stat?.isDirectory()) return 'dir';
    if (stat?.isFile() || !stat) return 'file';
  }
  return 'other';
}

async function namesOfKind(dir: string, entries: Dirent[], kind: 'dir' | 'file'): Promise<string[]> {
  const visible = entries.filter((e) => !e.name.startsWith('.'));
  // In slices: 100,000 symbolic links stat'ed at once would hold 100,000 requests (hundreds of MB) in flight.
  const kinds: Array<'dir' | 'file' | 'other'> = [];
  for (let i = 0; i < visible.length; i += 256) kinds.push(...(await Promise.all(visible.slice(i, i + 256).map((e) => entryKind(dir, e)))));
  return sortNames(visible.filter((_, i) => kinds[i] === kind).map((e) => e.name));
}

function quoteList(names: readonly string[]): string {
  return names.length === 0 ? '(none)' : names.map((n) => `'${n}'`).join(', ');
}

/**
 * Lists a split the way Keras' flow_from_directory does: classes are the sorted subfolders,
 * files are the images directly inside each class folder. Hidden entries are ignored.
 * With `opts.classes` (normally the training split's classes) the split must have exactly those folders,
 * so that label indices mean the same thing in every split.
 */
export async function listSplit(dir: string, opts: { classes?: readonly string[] } = {}): Promise<SplitListing> {
  const root = path.resolve(dir);
  const classes = await namesOfKind(root, await readFolder(root, 'data folder'), 'dir');

  if (opts.classes) {
    const expected = sortNames([...opts.classes]);
    if (expected.length !== classes.length || expected.some((c, i) => c !== classes[i])) {
      throw new InputError(
        `class folders in ${root} do not match: expected ${quoteList(expected)}, found ${quoteList(classes)}`,
      );
    }
  }
  if (classes.length < 2) {
    throw new InputError(
      `${root} needs at least 2 class subfolders (one per class); found ${classes.length}: ${quoteList(classes)}`,
    );
  }
  if (classes.length > 256) {
    throw new InputError(`${root} has ${classes.length} class subfolders; at most 256 are supported`);
  }

  const files: string[] = [];
  const labels: number[] = [];
  for (const [index, name] of classes.entries()) {
    const classDir = path.join(root, name);
    const images = (await namesOfKind(classDir, await readFolder(classDir, 'class folder'), 'file')).filter(isImageFile);
    if (images.length === 0) {
      throw new InputError(`empty class folder '${name}' (${classDir}): no ${EXTENSION_LIST} files`);
    }
    for (const image of images) {
      files.push(path.join(classDir, image));
      labels.push(index);
    }
  }
  return { dir: root, classes, files, labels: Uint8Array.from(labels) };
}

/** The folder of one split (`train`, `val`, ...) under the data folder. */
export async function resolveSplitDir(dataDir: string, split: string): Promise<string> {
  const root = await fs.stat(dataDir).catch(() => null);
  if (!root?.isDirectory())
    throw new InputError(
      `data folder ${path.resolve(dataDir)} ${root ? 'is not a folder' : 'does not exist'}: expected DIR/train and DIR/val, ` +
        `each with one subfolder per class (the seed's 575 CelebA images: see the README, "Dataset"), or CelebA's own ` +
        `img_align_celeba/ with list_attr_celeba.txt and list_eval_partition.txt`,
    );
  const dir = path.resolve(dataDir, split);
  const stat = await fs.stat(dir).catch(() => null);
  if (!stat) throw new InputError(`missing split '${split}': ${dir} does not exist`);
  if (!stat.isDirectory()) throw new InputError(`split '${split}': ${dir} is not a directory`);
  return dir;
}
