// `engine data fetch`: download the seed's 575-image CelebA extract (a tar.gz of the seed's GitHub repository),
// check every file against the SHA-256 manifest committed in manifests/, and lay it out as DEST/{all,train,val}.
// Atomic: files go into a temp folder beside DEST, which is renamed to DEST only once every file has been
// verified; any failure removes the temp folder, so DEST is either absent (as before) or complete.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { EngineError, InputError, UsageError } from '../errors.js';
import { resolveFetchOptions } from '../options/data-fetch.js';
import { listSplit } from './discover.js';
import { readTar, TarError } from './tar.js';

/** Where the images are inside that archive, under its top folder. */
export const ARCHIVE_DATA_FOLDER = 'gender_classification';
export const DATA_SOURCE_HINT =
  'github.com/CZhihao/gender-prediction, folder gender_classification/{all,train,val}/{man,woman} (CelebA, non-commercial research use)';
export const MANIFEST_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'manifests', 'celeba-575.sha256');
/** A download larger than this is refused (the real archive is a few tens of MiB). */
const MAX_DOWNLOAD_BYTES = 1 << 30;

export interface FetchOptions {
  /** folder to create (default ./data); must not exist, or be an empty folder */
  dest?: string;
  /** http(s) URL of a tar.gz (or .tar), or a local file path / file: URL (default: ENGINE_DATA_URL, else DEFAULT_DATA_URL) */
  url?: string;
  /** manifest to verify against (default: the committed manifests/celeba-575.sha256) */
  manifest?: string;
  onLog?(line: string): void;
  /** bytes received so far, and the total when the server says it */
  onDownloadProgress?(received: number, total: number | null): void;
  /** abort the download after this many milliseconds without completing (default 10 minutes) */
  timeoutMs?: number;
}

export interface FetchResult {
  dest: string;
  url: string;
  bytes: number;
  /** files written, each verified */
  files: number;
  /** files per top folder, e.g. { all: 575, train: 500, val: 75 } */
  splits: Record<string, number>;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** path -> sha256 hex, from `<hex>  <path>` lines. */
export async function readManifest(file = MANIFEST_FILE): Promise<Map<string, string>> {
  const text = await fs.readFile(file, 'utf8').catch((err: Error) => {
    throw new EngineError(`cannot read the dataset manifest ${file}: ${err.message}`, 1);
  });
  const entries = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m || m[2].split('/').some((c) => c === '..' || c === '' || c === '.'))
      throw new EngineError(`${file}:${i + 1}: expected '<sha256>  <relative path>', got ${JSON.stringify(line)}`, 1);
    entries.set(m[2], m[1]);
  }
  if (entries.size === 0) throw new EngineError(`${file}: the manifest is empty`, 1);
  return entries;
}

/**
 * Is `dir` the seed's dataset: do its `splits` hold exactly the manifest's files under them (same relative
 * paths, as listed for training), each with the manifest's SHA-256? False when anything differs or cannot be read.
 */
export async function matchesSeedManifest(dir: string, splits: readonly string[] = ['train', 'val'], manifestFile = MANIFEST_FILE): Promise<boolean> {
  const manifest = await readManifest(manifestFile).catch(() => null);
  if (!manifest) return false;
  const root = path.resolve(dir);
  const expected = [...manifest.keys()].filter((k) => splits.includes(k.split('/')[0])).sort();
  const found: string[] = [];
  for (const split of splits) {
    const listing = await listSplit(path.join(root, split)).catch(() => null);
    if (!listing) return false;
    found.push(...listing.files.map((f) => path.relative(root, f).split(path.sep).join('/')));
  }
  found.sort();
  if (expected.length === 0 || found.length !== expected.length || found.some((f, i) => f !== expected[i])) return false;
  for (const rel of expected) {
    const bytes = await fs.readFile(path.join(root, ...rel.split('/'))).catch(() => null);
    if (!bytes || sha256(bytes) !== manifest.get(rel)) return false;
  }
  return true;
}

/** The archive's bytes: from an http(s) URL (redirects followed) or a local file. */
async function download(url: string, opts: FetchOptions): Promise<Uint8Array> {
  if (!/^https?:\/\//i.test(url)) {
    const file = url.startsWith('file:') ? fileURLToPath(url) : url;
    return fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new InputError(`--url ${url}: ${err.code === 'ENOENT' ? 'no such file' : err.message} (expected an http(s) URL or a .tar.gz file)`);
    });
  }
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000) });
  } catch (err) {
    const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new InputError(`download of ${url} failed: ${cause}. Without internet, get the data from ${DATA_SOURCE_HINT} and pass --data DIR`);
  }
  if (response.status !== 200)
    throw new InputError(`download of ${url} failed: HTTP ${response.status} ${response.statusText}`.trimEnd());
  const declared = Number(response.headers.get('content-length'));
  const total = Number.isFinite(declared) && declared > 0 ? declared : null;
  if (total !== null && total > MAX_DOWNLOAD_BYTES) throw new InputError(`download of ${url}: ${total} bytes is more than the ${MAX_DOWNLOAD_BYTES} allowed`);
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      received += chunk.length;
      if (received > MAX_DOWNLOAD_BYTES) throw new InputError(`download of ${url}: more than the ${MAX_DOWNLOAD_BYTES} bytes allowed`);
      chunks.push(chunk);
      opts.onDownloadProgress?.(received, total);
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`download of ${url} broke off after ${received} bytes: ${(err as Error).message}`);
  }
  if (total !== null && received !== total) throw new InputError(`download of ${url} is truncated: ${received} of ${total} bytes`);
  return Buffer.concat(chunks);
}

/** The tar inside: gunzipped when gzip, refused with a reason when it is some other format. */
function tarBytes(archive: Uint8Array, url: string): Uint8Array {
  if (archive[0] === 0x1f && archive[1] === 0x8b) {
    try {
      return gunzipSync(archive);
    } catch (err) {
      throw new InputError(`archive from ${url} is damaged or truncated (gzip: ${(err as Error).message})`);
    }
  }
  if (archive[0] === 0x50 && archive[1] === 0x4b) throw new InputError(`archive from ${url} is a zip file: give the .tar.gz archive (GitHub: codeload.github.com/OWNER/REPO/tar.gz/BRANCH)`);
  if (archive.length >= 512 && new TextDecoder().decode(archive.subarray(257, 262)) === 'ustar') return archive;
  throw new InputError(`archive from ${url} is neither a tar.gz nor a tar file (${archive.length} bytes starting ${JSON.stringify(new TextDecoder().decode(archive.subarray(0, 16)))})`);
}

/** The manifest path an archive entry stands for: its path with leading folders stripped, if any suffix matches. */
function manifestPathOf(entryPath: string, manifest: Map<string, string>): string | undefined {
  const parts = entryPath.split('/').filter((p) => p !== '' && p !== '.');
  for (let i = 0; i < parts.length; i++) {
    const rel = parts.slice(i).join('/');
    if (manifest.has(rel)) return rel;
  }
  return undefined;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    if (err.code === 'ENOTDIR') throw new UsageError(`--dest ${dir} is a file, expected a folder to create`);
    throw new UsageError(`--dest ${dir}: ${err.message}`);
  });
  return entries.length === 0;
}

export async function fetchDataset(opts: FetchOptions = {}): Promise<FetchResult> {
  const resolved = resolveFetchOptions(opts);
  const dest = path.resolve(resolved.dest);
  const url = resolved.url;
  const log = (line: string) => opts.onLog?.(line);
  if (!(await isEmptyOrMissing(dest))) throw new UsageError(`${dest} already exists and is not empty: remove it or choose another --dest`);
  const manifest = await readManifest(opts.manifest);

  const remote = /^https?:\/\//i.test(url);
  log(`${remote ? 'downloading' : 'reading'} ${url}`);
  const started = performance.now();
  const archive = await download(url, opts);
  log(`${remote ? 'downloaded' : 'read'} ${(archive.length / 1024 / 1024).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s; verifying ${manifest.size} files`);
  const tar = tarBytes(archive, url);

  await fs.mkdir(path.dirname(dest), { recursive: true });
  const tmp = await fs.mkdtemp(path.join(path.dirname(dest), `.${path.basename(dest)}.fetch-`));
  try {
    const seen = new Set<string>();
    const made = new Set<string>();
    try {
      for (const entry of readTar(tar)) {
        if (entry.type !== 'file') continue;
        const rel = manifestPathOf(entry.path, manifest);
        if (rel === undefined) continue; // the repository's code, models and label tables: not data
        if (seen.has(rel)) throw new InputError(`archive from ${url} holds ${rel} twice`);
        const got = sha256(entry.data);
        if (got !== manifest.get(rel))
          throw new InputError(`archive from ${url}: ${entry.path} has SHA-256 ${got}, the manifest expects ${manifest.get(rel)} (tampered or corrupt download); nothing was written`);
        seen.add(rel);
        const file = path.join(tmp, ...rel.split('/'));
        if (!made.has(path.dirname(file))) {
          await fs.mkdir(path.dirname(file), { recursive: true });
          made.add(path.dirname(file));
        }
        await fs.writeFile(file, entry.data);
      }
    } catch (err) {
      if (err instanceof TarError) throw new InputError(`archive from ${url}: ${err.message}; nothing was written`);
      throw err;
    }
    const missing = [...manifest.keys()].filter((k) => !seen.has(k));
    if (missing.length > 0)
      throw new InputError(
        `archive from ${url} lacks ${missing.length} of the ${manifest.size} dataset files (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}); nothing was written`,
      );
    // An empty dest folder is replaced by the rename (rename(2) replaces an empty directory).
    await fs.rename(tmp, dest).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST' && err.code !== 'EPERM') throw err;
      await fs.rmdir(dest);
      await fs.rename(tmp, dest);
    });
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw err;
  }
  const splits: Record<string, number> = {};
  for (const rel of manifest.keys()) splits[rel.split('/')[0]] = (splits[rel.split('/')[0]] ?? 0) + 1;
  log(`data ready in ${dest}: ${Object.entries(splits).map(([s, n]) => `${s}/ ${n}`).join(', ')} images, every file verified against ${path.basename(opts.manifest ?? MANIFEST_FILE)}`);
  return { dest, url, bytes: archive.length, files: manifest.size, splits };
}

/**
 * For `engine train` without --data: ./data when it is there; otherwise fetch it (saying so), or, with
 * fetching refused, an error that says where to get it.
 */
export async function ensureDefaultData(opts: { dest: string; fetch: boolean; onLog?(line: string): void }): Promise<string> {
  const dest = opts.dest;
  if (await fs.stat(dest).catch(() => null)) return dest;
  if (!opts.fetch)
    throw new InputError(
      `no dataset at ${path.resolve(dest)} and --no-fetch was given: run \`engine data fetch\` (downloads and verifies the seed's ` +
        `575 images), or get them from ${DATA_SOURCE_HINT} and pass --data DIR`,
    );
  opts.onLog?.(`data: ${path.resolve(dest)} is missing; fetching the seed's 575-image extract first (engine data fetch)`);
  await fetchDataset({ dest, onLog: opts.onLog });
  return dest;
}
