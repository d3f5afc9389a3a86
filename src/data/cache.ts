// The on-disk image cache: a split's images decoded and resized once into a packed .npy ([N, H, W, C] uint8, C
// order, the model's input; numpy.load opens it) plus a JSON sidecar with the source fingerprint (paths, sizes,
// mtimes, labels, and the preprocessing: size, channels, resize rule).
// A later run whose listing has the same fingerprint reads the .npy and decodes nothing; a changed source gets
// a new entry and the old one for the same folder is removed. Built in chunks, so memory stays bounded.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { DECODE_CONCURRENCY, loadImageFor, loadSplit } from './decode.js';
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
    await fs.mkdir(dir, { recursive: true });
    await fs.access(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cache folder to use: the one asked for (must be writable), else the default, else one under the temp dir. */
export async function resolveCacheDir(asked: string | undefined, log?: (line: string) => void): Promise<string> {
  if (asked !== undefined) {
    const dir = path.resolve(asked);
    if (!(await writableDir(dir))) throw new UsageError(`--cache-dir ${asked}: cannot create or write to ${dir}`);
    return dir;
  }
  const dir = defaultCacheDir();
  if (await writableDir(dir)) return dir;
  const fallback = path.join(os.tmpdir(), `engine-cache-${os.userInfo().uid}`);
  if (!(await writableDir(fallback))) throw new UsageError(`no writable cache folder (${dir}, ${fallback}): pass --cache-dir or --no-cache`);
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
}

async function readSidecar(file: string): Promise<Sidecar | null> {
  try {
    const s = JSON.parse(await fs.readFile(file, 'utf8')) as Sidecar;
    return s.format === CACHE_FORMAT ? s : null;
  } catch {
    return null;
  }
}

/** Decodes the listing into `npyFile` (via a temp file and a rename) chunk by chunk; returns the skip lists. */
async function buildCache(listing: SplitListing, npyFile: string, pre: Preprocess, opts: SplitLoadOptions): Promise<{ skipped: number[]; reasons: string[] }> {
  const total = listing.files.length;
  const imageBytes = bytesPerImage(pre);
  const shape: ImageShape = [pre.height, pre.width, pre.channels];
  const concurrency = opts.concurrency ?? DECODE_CONCURRENCY;
  const tmp = path.join(path.dirname(npyFile), `.${path.basename(npyFile)}.${process.pid}.tmp`);
  const handle = await fs.open(tmp, 'w');
  const chunk = new Uint8Array(BUILD_CHUNK * imageBytes); // [64, H, W, C]
  const skipped: number[] = [];
  const reasons: string[] = [];
  let rows = 0;
  try {
    await handle.write(npyHeader(0, shape), 0, NPY_DATA_OFFSET, 0);
    for (let start = 0; start < total; start += BUILD_CHUNK) {
      const n = Math.min(BUILD_CHUNK, total - start);
      const bad = new Uint8Array(n);
      let next = 0;
      const worker = async () => {
        while (next < n) {
          const i = next++;
          try {
            await loadImageFor(listing.files[start + i], pre, chunk.subarray(i * imageBytes, (i + 1) * imageBytes));
          } catch (err) {
            if (!(opts.skipBadImages && err instanceof InputError)) throw err;
            bad[i] = 1;
            skipped.push(start + i);
            reasons.push(err.message);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (bad[i]) continue;
        if (kept !== i) chunk.copyWithin(kept * imageBytes, i * imageBytes, (i + 1) * imageBytes);
        kept++;
      }
      if (kept) await handle.write(chunk, 0, kept * imageBytes, NPY_DATA_OFFSET + rows * imageBytes);
      rows += kept;
      opts.onProgress?.(start + n, total);
    }
    if (rows === 0) throw new InputError(`none of the ${total} images in ${listing.dir} could be decoded`);
    await handle.write(npyHeader(rows, shape), 0, NPY_DATA_OFFSET, 0);
    await handle.sync();
    await handle.close();
    await fs.rename(tmp, npyFile);
  } catch (err) {
    await handle.close().catch(() => undefined);
    await fs.rm(tmp, { force: true });
    throw err;
  }
  const order = skipped.map((s, i) => [s, i]).sort((a, b) => a[0] - b[0]);
  return { skipped: order.map(([s]) => s), reasons: order.map(([, i]) => reasons[i]) };
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
  if (side && side.fingerprint === fp.hash && (await fs.stat(npyFile).catch(() => null))?.size === NPY_DATA_OFFSET + side.rows * imageBytes) {
    if (side.skipped.length && !opts.skipBadImages) throw new InputError(side.skipReasons[0]);
    opts.onLog?.(`image cache: reusing ${npyFile} (${side.rows} images of ${listing.dir}, built ${side.created})`);
  } else {
    opts.onLog?.(`image cache: building ${npyFile} from ${listing.files.length} images of ${listing.dir}`);
    const { skipped, reasons } = await buildCache(listing, npyFile, pre, opts);
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
