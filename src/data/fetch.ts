// `engine data fetch`: download the seed's 575-image CelebA extract (a tar.gz of the seed's GitHub repository),
// check every file against the SHA-256 manifest committed in manifests/, and lay it out as DEST/{all,train,val}.
// Atomic: files go into a temp folder beside DEST, which is renamed to DEST only once every file has been
// verified; any failure (or a signal) removes the temp folder and the parent folders the fetch created, so DEST is
// either absent (as before) or complete; a temp folder a killed fetch left is swept by the next one.
// Bounded: the download is capped, the archive is decompressed and read as a stream with a cap on its unpacked
// size derived from the manifest, entry paths are capped in length and depth, and only the manifest's files
// are held in memory. Proxies are taken from HTTPS_PROXY, HTTP_PROXY and NO_PROXY.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { EnvHttpProxyAgent, fetch as httpFetch } from 'undici';
import { EngineError, InputError, UsageError } from '../errors.js';
import { pidAlive, trackTemp, untrackTemp } from '../io/atomic.js';
import { checkOutputFolder } from '../io/output.js';
import { READ_LIMITS, readInputFile, readInputText } from '../io/read.js';
import { resolveFetchOptions } from '../options/data-fetch.js';
import { listSplit } from './discover.js';
import { TarError, TarParser } from './tar.js';

/** Where the images are inside that archive, under its top folder. */
export const ARCHIVE_DATA_FOLDER = 'gender_classification';
export const DATA_SOURCE_HINT =
  'github.com/CZhihao/gender-prediction, folder gender_classification/{all,train,val}/{man,woman} (CelebA, non-commercial research use)';
export const MANIFEST_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'manifests', 'celeba-575.sha256');
/** A download larger than this is refused (the real archive is a few tens of MiB). */
const MAX_DOWNLOAD_BYTES = 1 << 30;
/** A dataset file of the manifest larger than this is refused (the seed's images are at most 13 KB). */
export const MAX_DATA_FILE_BYTES = 1 << 20;
/** What the archive may hold besides the manifest's files (the repository's code, models and tables). */
export const ARCHIVE_SLACK_BYTES = 256 << 20;
/** The unpacked archive's cap for a manifest of `files` files: each at most MAX_DATA_FILE_BYTES, plus the slack. */
export const unpackedCap = (files: number): number => ARCHIVE_SLACK_BYTES + files * MAX_DATA_FILE_BYTES;

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
  const text = await readInputText(file, 'dataset manifest').catch((err: Error) => {
    throw new EngineError(err.message, 1);
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
    const bytes = await readInputFile(path.join(root, ...rel.split('/')), 'image', MAX_DATA_FILE_BYTES).catch(() => null);
    if (!bytes || sha256(bytes) !== manifest.get(rel)) return false;
  }
  return true;
}

/** The local file a non-http(s) --url names: a path, or a file: URL of this machine. */
function localFile(url: string): string {
  if (!url.startsWith('file:')) return url;
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new InputError(`--url ${url}: not a file URL of this machine (${(err as Error).message}); use file:///PATH or a plain path`);
  }
}

/** The archive's bytes: from an http(s) URL (redirects followed, through the environment's proxy) or a local file. */
async function download(url: string, opts: FetchOptions): Promise<Uint8Array> {
  if (!/^https?:\/\//i.test(url)) {
    const file = localFile(url);
    return readInputFile(file, 'archive', MAX_DOWNLOAD_BYTES).catch((err: InputError) => {
      throw new InputError(`--url ${url}: ${err.message} (expected an http(s) URL or a .tar.gz file)`);
    });
  }
  // Proxies as curl and most tools take them: HTTPS_PROXY / HTTP_PROXY (either case), hosts in NO_PROXY direct.
  const dispatcher = new EnvHttpProxyAgent();
  try {
    return await downloadHttp(url, opts, dispatcher);
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

async function downloadHttp(url: string, opts: FetchOptions, dispatcher: EnvHttpProxyAgent): Promise<Uint8Array> {
  let response: Awaited<ReturnType<typeof httpFetch>>;
  try {
    response = await httpFetch(url, {
      redirect: 'follow',
      // identity: Content-Length is then the length of the bytes received, and nothing is decoded here
      headers: { 'accept-encoding': 'identity' },
      signal: AbortSignal.timeout(opts.timeoutMs ?? 600_000),
      dispatcher,
    });
  } catch (err) {
    const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new InputError(
      `download of ${url} failed: ${cause}. Without internet, download the archive on another machine and run ` +
        `\`engine data fetch --url <downloaded archive>\` (it is verified the same way), or get the images from ${DATA_SOURCE_HINT} and pass --data DIR`,
    );
  }
  if (response.status !== 200)
    throw new InputError(`download of ${url} failed: HTTP ${response.status} ${response.statusText}`.trimEnd());
  // A server that encodes anyway (Content-Encoding: gzip) declares the encoded length; the bytes read are decoded.
  const encoding = (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
  const declared = Number(response.headers.get('content-length'));
  const total = encoding === 'identity' && Number.isFinite(declared) && declared > 0 ? declared : null;
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

/**
 * The tar inside, as a stream of chunks: gunzipped on the fly when gzip, refused with a reason when it is some
 * other format. The unpacked bytes stop at the first byte past `cap` (a gzip bomb expands no further).
 */
async function* tarStream(archive: Uint8Array, url: string, cap: number): AsyncGenerator<Uint8Array> {
  if (archive[0] === 0x1f && archive[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    Readable.from([archive]).pipe(gunzip);
    let unpacked = 0;
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        unpacked += chunk.length;
        if (unpacked > cap)
          throw new InputError(`archive from ${url} unpacks to more than ${cap} bytes, more than the dataset can need (a damaged archive, or not the dataset's); nothing was written`);
        yield chunk;
      }
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(`archive from ${url} is damaged or truncated (gzip: ${(err as Error).message})`);
    } finally {
      gunzip.destroy();
    }
    return;
  }
  if (archive[0] === 0x50 && archive[1] === 0x4b) throw new InputError(`archive from ${url} is a zip file: give the .tar.gz archive (GitHub: codeload.github.com/OWNER/REPO/tar.gz/BRANCH)`);
  if (archive.length >= 512 && new TextDecoder().decode(archive.subarray(257, 262)) === 'ustar') {
    yield archive;
    return;
  }
  throw new InputError(`archive from ${url} is neither a tar.gz nor a tar file (${archive.length} bytes starting ${JSON.stringify(new TextDecoder().decode(archive.subarray(0, 16)))})`);
}

/**
 * The manifest path an archive entry stands for: its path with leading folders stripped, if any suffix matches
 * (the longest first). Only suffixes as deep as the manifest's paths are tried: linear in the entry's path.
 */
function manifestPathOf(entryPath: string, manifest: Map<string, string>, depth: number): string | undefined {
  const parts = entryPath.split('/').filter((p) => p !== '' && p !== '.');
  for (let k = Math.min(depth, parts.length); k >= 1; k--) {
    const rel = parts.slice(parts.length - k).join('/');
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

/** `.NAME.fetch-PID-RANDOM`: a fetch's temp folder beside DEST. */
const tempFolderName = (dest: string, pid: number) => `.${path.basename(dest)}.fetch-${pid}-`;

/** Removes the temp folders that killed fetches (their PID gone) left beside `dest`. */
async function sweepStaleFetches(dest: string): Promise<void> {
  const dir = path.dirname(dest);
  const prefix = `.${path.basename(dest)}.fetch-`;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const m = name.startsWith(prefix) ? /^(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length)) : null;
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** Creates the fetch's temp folder beside `dest` with mkdir (so the umask gives its mode, as for any folder). */
async function makeTempFolder(dest: string): Promise<string> {
  for (;;) {
    const tmp = path.join(path.dirname(dest), tempFolderName(dest, process.pid) + randomBytes(4).toString('hex'));
    try {
      await fs.mkdir(tmp);
      trackTemp(tmp);
      return tmp;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Removes the empty folders from `deepest` up to `first` (the folders mkdir -p created), deepest first. */
async function removeCreatedFolders(first: string | undefined, deepest: string): Promise<void> {
  if (first === undefined) return;
  for (let dir = deepest; ; dir = path.dirname(dir)) {
    if (!(await fs.rmdir(dir).then(() => true, () => false))) return;
    if (dir === first || path.dirname(dir) === dir) return;
  }
}

export async function fetchDataset(opts: FetchOptions = {}): Promise<FetchResult> {
  const resolved = resolveFetchOptions(opts);
  const dest = path.resolve(resolved.dest);
  const url = resolved.url;
  const log = (line: string) => opts.onLog?.(line);
  if (!(await isEmptyOrMissing(dest))) throw new UsageError(`${dest} already exists and is not empty: remove it or choose another --dest`);
  // a folder that cannot be made (a read-only disk, a file above it) is refused before the download
  await checkOutputFolder('--dest', dest, 'a folder to create');
  const manifest = await readManifest(opts.manifest);
  const depth = Math.max(...[...manifest.keys()].map((k) => k.split('/').length));

  const remote = /^https?:\/\//i.test(url);
  log(`${remote ? 'downloading' : 'reading'} ${url}`);
  const started = performance.now();
  const archive = await download(url, opts);
  log(`${remote ? 'downloaded' : 'read'} ${(archive.length / 1024 / 1024).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s; verifying ${manifest.size} files`);

  const createdParent = await fs.mkdir(path.dirname(dest), { recursive: true }).catch((err) => {
    throw new InputError(`--dest ${dest}: cannot create its folder: ${(err as Error).message}`);
  });
  await sweepStaleFetches(dest);
  let tmp: string | undefined;
  try {
    tmp = await makeTempFolder(dest);
    const seen = new Set<string>();
    const made = new Set<string>();
    const keep = (p: string) => manifestPathOf(p, manifest, depth) !== undefined;
    const parser = new TarParser((head) => keep(head.path), { maxFileBytes: MAX_DATA_FILE_BYTES });
    try {
      for await (const chunk of tarStream(archive, url, unpackedCap(manifest.size)))
        for (const entry of parser.push(chunk)) {
          if (entry.type !== 'file' || entry.skipped) continue; // the repository's code, models and label tables: not data
          const rel = manifestPathOf(entry.path, manifest, depth)!;
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
      parser.end();
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
    const folder = tmp;
    await fs.rename(folder, dest).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST' && err.code !== 'EPERM') throw err;
      await fs.rmdir(dest);
      await fs.rename(folder, dest);
    });
    untrackTemp(folder);
  } catch (err) {
    if (tmp !== undefined) {
      await fs.rm(tmp, { recursive: true, force: true });
      untrackTemp(tmp);
    }
    await removeCreatedFolders(createdParent, path.dirname(dest));
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
