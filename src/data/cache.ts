// The on-disk image cache: a split's images decoded and resized once into a packed .npy ([N, H, W, C] uint8, C
// order, the model's input; numpy.load opens it) plus a JSON sidecar with the source fingerprint (paths, sizes,
// mtimes, labels, and the preprocessing: size, channels, resize rule).
// A later run whose listing has the same fingerprint reads the .npy and decodes nothing, once its bytes match the
// SHA-256 the sidecar recorded; a changed source gets a new entry and the old one for the same folder is removed.
// Built in chunks, so memory stays bounded. The folder is private: created 0700, and the default and temp-dir
// fallback are refused unless this user owns them and no one else may write there (a shared, predictable
// folder would let another user poison the cache or plant links).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { asWriteError, commitTemp, discardTemp, openTemp, writeFileAtomic } from '../io/atomic.js';
import { openInputFile, READ_LIMITS, readInputText } from '../io/read.js';
import { loadImagesInto, loadSplit } from './decode.js';
import type { SplitListing } from './discover.js';
import { isIdxListing, openIdxSource } from './idx.js';
import { memorySource, npyHeader, NPY_DATA_OFFSET, openNpySource, type ImageShape, type ImageSource } from './image-store.js';
import { bytesPerImage, describePreprocess, SEED_PREPROCESS, type Preprocess } from './preprocess.js';

export const CACHE_FORMAT = 'engine-image-cache/1';
/** What the cached bytes are (the seed's: 'rgb8 pil-nearest 150x150 hwc, no exif orientation'): part of the fingerprint. */
const preprocessing = (p: Preprocess) => `${describePreprocess(p)}, no exif orientation`;
/** Splits up to this many decoded bytes stay in memory by default (512 MiB, about 7,950 images). */
export const IN_MEMORY_MAX_BYTES = 512 * 2 ** 20;
/** Images decoded per chunk while building: bounds the build's memory (64 x 67.5 kB). */
const BUILD_CHUNK = 64;

export interface SplitLoadOptions {
  /** true: always use the on-disk cache; false: always decode into memory; undefined: by size */
  cache?: boolean;
  /** cache folder (default: defaultCacheDir()) */
  cacheDir?: string;
  skipBadImages?: boolean;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  onLog?: (line: string) => void;
  /** what the images become: the model's input (default: the seed's 150x150 RGB, PIL's NEAREST) */
  preprocess?: Preprocess;
}

export type LoadedSplit = ImageSource & { skipped: string[]; skipReasons: string[]; cacheFile?: string };

/** $ENGINE_CACHE_DIR, else $XDG_CACHE_HOME/engine, else ~/.cache/engine. */
export function defaultCacheDir(): string {
  if (process.env.ENGINE_CACHE_DIR) return path.resolve(process.env.ENGINE_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'engine');
}

async function writableDir(dir: string): Promise<boolean> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await fs.access(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why `dir` is not a private cache folder of this user, or undefined when it is: it must be a real folder (not a
 * link to one) that this user owns and that no one else may write in; `strict` (a folder under the shared temp
 * dir) also makes it 0700 (an older engine made it 0755), so no one else reads or enters it.
 */
export async function privateDirProblem(dir: string, strict: boolean): Promise<string | undefined> {
  const st = await fs.lstat(dir).catch(() => null);
  if (!st) return 'it does not exist';
  if (st.isSymbolicLink()) return 'it is a symbolic link';
  if (!st.isDirectory()) return 'it is not a folder';
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return `it belongs to user ${st.uid}, not to you (${uid})`;
  const mode = st.mode & 0o777;
  if (mode & 0o022) return `its mode is ${mode.toString(8).padStart(4, '0')}: others may write there`;
  if (strict && mode & 0o077) await fs.chmod(dir, 0o700);
  return undefined;
}

/** The private fallback under the temp dir: created 0700, else refused unless it is a private folder of ours. */
async function privateTempDir(dir: string): Promise<string | undefined> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => undefined);
  const problem = await privateDirProblem(dir, true);
  if (problem) return problem;
  return (await writableDir(dir)) ? undefined : 'it is not writable';
}

/**
 * The cache folder to use: the one asked for (must be writable), else the default (must be ours, not writable by
 * others), else a private one under the temp dir (ours, mode 0700).
 */
export async function resolveCacheDir(asked: string | undefined, log?: (line: string) => void): Promise<string> {
  if (asked !== undefined) {
    const dir = path.resolve(asked);
    if (!(await writableDir(dir))) throw new UsageError(`--cache-dir ${asked}: cannot create or write to ${dir}`);
    return dir;
  }
  const dir = defaultCacheDir();
  if (await writableDir(dir)) {
    const problem = await privateDirProblem(dir, false);
    if (problem) throw new UsageError(`image cache ${dir}: ${problem}; a cache others can change could feed training other images: fix it, or pass --cache-dir or --no-cache`);
    return dir;
  }
  const fallback = path.join(os.tmpdir(), `engine-cache-${process.getuid?.() ?? os.userInfo().uid}`);
  const problem = await privateTempDir(fallback);
  if (problem)
    throw new UsageError(`no usable cache folder: ${dir} is not writable, and ${fallback} is refused (${problem}): pass --cache-dir or --no-cache`);
  log?.(`image cache: ${dir} is not writable, using ${fallback}`);
  return fallback;
}

interface Fingerprint {
  hash: string;
  sizes: number[];
  mtimes: number[];
}

/** sha256 over the preprocessing, the classes and every file's path, size, mtime and label. */
async function fingerprint(listing: SplitListing, pre: Preprocess): Promise<Fingerprint> {
  const n = listing.files.length;
  const sizes = new Array<number>(n);
  const mtimes = new Array<number>(n);
  for (let start = 0; start < n; start += 256) {
    await Promise.all(
      listing.files.slice(start, start + 256).map(async (f, j) => {
        const st = await fs.stat(f).catch(() => null);
        sizes[start + j] = st ? st.size : -1;
        mtimes[start + j] = st ? st.mtimeMs : -1;
      }),
    );
  }
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: CACHE_FORMAT, preprocessing: preprocessing(pre), dir: listing.dir, classes: listing.classes }));
  for (let i = 0; i < n; i++) h.update(`\n${listing.files[i]}\t${sizes[i]}\t${mtimes[i]}\t${listing.labels[i]}`);
  return { hash: h.digest('hex'), sizes, mtimes };
}

interface Sidecar {
  format: string;
  fingerprint: string;
  created: string;
  preprocessing: string;
  dir: string;
  classes: string[];
  /** every listed file, relative to dir, with its size, mtime and label */
  files: string[];
  sizes: number[];
  mtimes: number[];
  labels: number[];
  /** rows of the .npy: the listed files minus the skipped ones, in listing order */
  rows: number;
  skipped: string[];
  skipReasons: string[];
  /** SHA-256 of the .npy's image bytes (after its header), checked before the entry is reused */
  sha256: string;
}

async function readSidecar(file: string): Promise<Sidecar | null> {
  try {
    const s = JSON.parse(await readInputText(file, 'cache record')) as Sidecar;
    return s && s.format === CACHE_FORMAT && typeof s.sha256 === 'string' ? s : null;
  } catch {
    return null;
  }
}

/** Does `npyFile` hold an engine .npy of `rows` images of `shape` whose image bytes hash to `sha256`? */
async function cacheMatches(npyFile: string, rows: number, shape: ImageShape, sha256: string): Promise<boolean> {
  const opened = await openInputFile(npyFile, 'image cache', Number.MAX_SAFE_INTEGER).catch(() => null);
  if (!opened) return false;
  const { handle, size } = opened;
  try {
    const imageBytes = shape[0] * shape[1] * shape[2];
    if (size !== NPY_DATA_OFFSET + rows * imageBytes) return false;
    const head = Buffer.alloc(NPY_DATA_OFFSET);
    await handle.read(head, 0, NPY_DATA_OFFSET, 0);
    if (!head.equals(npyHeader(rows, shape))) return false;
    const h = createHash('sha256');
    const buf = Buffer.alloc(BUILD_CHUNK * imageBytes);
    for (let at = NPY_DATA_OFFSET; at < size; ) {
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - at), at);
      if (bytesRead === 0) return false;
      h.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    return h.digest('hex') === sha256;
  } finally {
    await handle.close();
  }
}

/** Decodes the listing into `npyFile` (via a temp file and a rename) chunk by chunk; returns the skip lists. */
async function buildCache(
  listing: SplitListing,
  npyFile: string,
  pre: Preprocess,
  opts: SplitLoadOptions,
): Promise<{ skipped: number[]; reasons: string[]; sha256: string }> {
  const total = listing.files.length;
  const imageBytes = bytesPerImage(pre);
  const shape: ImageShape = [pre.height, pre.width, pre.channels];
  const { tmp, handle } = await openTemp(npyFile);
  const hash = createHash('sha256');
  const chunk = new Uint8Array(BUILD_CHUNK * imageBytes); // [64, H, W, C]
  const skipped: number[] = [];
  const reasons: string[] = [];
  let rows = 0;
  try {
    await handle.write(npyHeader(0, shape), 0, NPY_DATA_OFFSET, 0);
    for (let start = 0; start < total; start += BUILD_CHUNK) {
      const n = Math.min(BUILD_CHUNK, total - start);
      const bad = new Map<number, string>();
      await loadImagesInto(listing.files.slice(start, start + n), pre, chunk, {
        concurrency: opts.concurrency,
        onError: (i, err) => {
          if (!(opts.skipBadImages && err instanceof InputError)) throw err;
          bad.set(i, err.message);
        },
      });
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (bad.has(i)) {
          skipped.push(start + i);
          reasons.push(bad.get(i)!);
          continue;
        }
        if (kept !== i) chunk.copyWithin(kept * imageBytes, i * imageBytes, (i + 1) * imageBytes);
        kept++;
      }
      if (kept) {
        await handle.write(chunk, 0, kept * imageBytes, NPY_DATA_OFFSET + rows * imageBytes);
        hash.update(chunk.subarray(0, kept * imageBytes));
      }
      rows += kept;
      opts.onProgress?.(start + n, total);
    }
    if (rows === 0) throw new InputError(`none of the ${total} images in ${listing.dir} could be decoded`);
    await handle.write(npyHeader(rows, shape), 0, NPY_DATA_OFFSET, 0);
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await discardTemp(tmp);
    throw asWriteError(npyFile, err);
  }
  await commitTemp(tmp, npyFile);
  const order = skipped.map((s, i) => [s, i]).sort((a, b) => a[0] - b[0]);
  return { skipped: order.map(([s]) => s), reasons: order.map(([, i]) => reasons[i]), sha256: hash.digest('hex') };
}

/** Removes the other cache entries built from the same folder for the same input (an older state of it). */
async function removeStaleEntries(cacheDir: string, listingDir: string, what: string, keep: string): Promise<void> {
  for (const name of await fs.readdir(cacheDir).catch(() => [] as string[])) {
    if (!name.endsWith('.json') || name === `${keep}.json`) continue;
    const side = await readSidecar(path.join(cacheDir, name));
    if (side?.dir !== listingDir || side.preprocessing !== what) continue;
    const stem = name.slice(0, -'.json'.length);
    await fs.rm(path.join(cacheDir, `${stem}.json`), { force: true });
    await fs.rm(path.join(cacheDir, `${stem}.npy`), { force: true });
  }
}

/** A split through the on-disk cache: reused when the fingerprint matches, built (with progress) otherwise. */
export async function openCachedSplit(listing: SplitListing, opts: SplitLoadOptions = {}): Promise<LoadedSplit> {
  const pre = opts.preprocess ?? SEED_PREPROCESS;
  const imageBytes = bytesPerImage(pre);
  const shape: ImageShape = [pre.height, pre.width, pre.channels];
  const cacheDir = await resolveCacheDir(opts.cacheDir, opts.onLog);
  const fp = await fingerprint(listing, pre);
  const key = fp.hash.slice(0, 32);
  const npyFile = path.join(cacheDir, `${key}.npy`);
  const sideFile = path.join(cacheDir, `${key}.json`);
  const rel = (f: string) => path.relative(listing.dir, f);

  let side = await readSidecar(sideFile);
  if (side && side.fingerprint === fp.hash && (await cacheMatches(npyFile, side.rows, shape, side.sha256))) {
    if (side.skipped.length && !opts.skipBadImages) throw new InputError(side.skipReasons[0]);
    opts.onLog?.(`image cache: reusing ${npyFile} (${side.rows} images of ${listing.dir}, built ${side.created})`);
  } else {
    opts.onLog?.(`image cache: building ${npyFile} from ${listing.files.length} images of ${listing.dir}`);
    if (side?.fingerprint === fp.hash) opts.onLog?.(`image cache: ${npyFile} does not match its record (changed or damaged): rebuilding it`);
    const { skipped, reasons, sha256 } = await buildCache(listing, npyFile, pre, opts);
    const skip = new Set(skipped);
    side = {
      format: CACHE_FORMAT,
      fingerprint: fp.hash,
      created: new Date().toISOString(),
      preprocessing: preprocessing(pre),
      dir: listing.dir,
      classes: listing.classes,
      files: listing.files.map(rel),
      sizes: fp.sizes,
      mtimes: fp.mtimes,
      labels: Array.from(listing.labels),
      rows: listing.files.length - skip.size,
      skipped: skipped.map((i) => rel(listing.files[i])),
      skipReasons: reasons,
      sha256,
    };
    await writeFileAtomic(sideFile, JSON.stringify(side) + '\n');
    await removeStaleEntries(cacheDir, listing.dir, side.preprocessing, key);
  }
  const skippedSet = new Set(side.skipped);
  const rowLabels = Uint8Array.from(listing.labels.filter((_, i) => !skippedSet.has(side!.files[i])));
  const source = await openNpySource(npyFile, rowLabels, listing.classes, shape);
  return Object.assign(source, {
    skipped: side.skipped.map((f) => path.join(listing.dir, f)),
    skipReasons: side.skipReasons,
    cacheFile: npyFile,
  });
}

/**
 * A split ready for training: in memory when small (or `cache: false`), else through the on-disk cache, so
 * memory stays bounded whatever the dataset size. An IDX listing is read from its file (already packed: no
 * cache), converted in memory or batch by batch.
 */
export async function openTrainingSplit(listing: SplitListing, opts: SplitLoadOptions = {}): Promise<LoadedSplit> {
  const pre = opts.preprocess ?? SEED_PREPROCESS;
  if (isIdxListing(listing)) {
    const source = await openIdxSource(listing, pre, IN_MEMORY_MAX_BYTES);
    opts.onProgress?.(listing.files.length, listing.files.length);
    return Object.assign(source, { skipped: [], skipReasons: [] });
  }
  const useCache = opts.cache ?? listing.files.length * bytesPerImage(pre) > IN_MEMORY_MAX_BYTES;
  if (useCache) return openCachedSplit(listing, opts);
  const set = await loadSplit(listing, { skipBadImages: opts.skipBadImages, onProgress: opts.onProgress, concurrency: opts.concurrency, preprocess: pre });
  return Object.assign(memorySource(set), { skipped: set.skipped, skipReasons: set.skipReasons });
}
