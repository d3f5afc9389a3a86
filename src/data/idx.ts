// MNIST-family datasets: a folder with the four IDX files (LeCun's format: a 4-byte magic 0x0000TTDD, TT the
// element type (0x08: unsigned byte), DD the number of dimensions, then DD big-endian uint32 sizes, then the data
// in C order), each gzipped (.gz) or not. Splits: train (train-*) and test (t10k-*); images uint8 [N, 28, 28, 1].
// Class names come from the files' SHA-256 (Fashion-MNIST, MNIST), else classes.txt beside them, else 0..N-1.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { InputError } from '../errors.js';
import { readInputFile } from '../io/read.js';
import type { SplitListing } from './discover.js';
import { memorySource, type ImageShape, type ImageSource } from './image-store.js';
import { bytesPerImage, fitToInput, type Preprocess } from './preprocess.js';

const gunzip = promisify(zlib.gunzip);

/** The file names of each split (each may also be `<name>.gz`). */
export const IDX_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;
export type IdxSplit = keyof typeof IDX_FILES;
export const IDX_SPLITS: readonly IdxSplit[] = ['train', 'test'];
/** class names, one per line, for IDX files that are not a known dataset */
export const IDX_CLASSES_FILE = 'classes.txt';

export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

interface KnownIdx {
  name: string;
  classes: string[];
  /** SHA-256 of the train and test label files, decompressed (so a gunzipped copy is recognised too) */
  labels?: Record<IdxSplit, string>;
  /** SHA-256 of the .gz label files as published (where the decompressed bytes' are not known) */
  gzLabels?: Record<IdxSplit, string>;
}

/**
 * Datasets recognised by their label files (both splits must match). Fashion-MNIST: computed here from Debian's
 * dataset-fashion-mnist; its images hash to c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888 (train)
 * and 5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b (test) decompressed. MNIST: the .gz files'
 * SHA-256 as tensorflow_datasets publishes them (url_checksums/mnist.txt; not checked against a copy here).
 */
const KNOWN: readonly KnownIdx[] = [
  {
    name: 'Fashion-MNIST',
    classes: FASHION_MNIST_CLASSES,
    labels: {
      train: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
      test: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    },
  },
  {
    name: 'MNIST',
    classes: MNIST_CLASSES,
    gzLabels: {
      train: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
      test: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
    },
  },
];

const exists = async (file: string) => (await fs.stat(file).catch(() => null))?.isFile() ?? false;

/** The path of `name` or `name.gz` in `dir` (the plain file when both are there), or undefined. */
async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const candidate of [name, `${name}.gz`]) if (await exists(path.join(dir, candidate))) return path.join(dir, candidate);
  return undefined;
}

export type IdxFiles = Record<IdxSplit, { images: string; labels: string }>;

/** The four IDX files of `dir`; null when it holds none of them, an InputError naming the missing ones when only some. */
export async function findIdxFiles(dir: string): Promise<IdxFiles | null> {
  const found: Partial<Record<IdxSplit, { images?: string; labels?: string }>> = {};
  const missing: string[] = [];
  let any = false;
  for (const split of IDX_SPLITS) {
    const entry: { images?: string; labels?: string } = {};
    for (const kind of ['images', 'labels'] as const) {
      const name = IDX_FILES[split][kind];
      entry[kind] = await findFile(dir, name);
      if (entry[kind]) any = true;
      else missing.push(`${name}[.gz]`);
    }
    found[split] = entry;
  }
  if (!any) return null;
  if (missing.length)
    throw new InputError(`${path.resolve(dir)} holds MNIST-style IDX files but not ${missing.join(', ')}: the four files are needed (train and t10k, images and labels)`);
  return found as IdxFiles;
}

/** Does `dir` hold an IDX dataset (any of the four files)? */
export async function isIdxDataset(dir: string): Promise<boolean> {
  for (const split of IDX_SPLITS) for (const kind of ['images', 'labels'] as const) if (await findFile(dir, IDX_FILES[split][kind])) return true;
  return false;
}

/** A file's bytes, gunzipped when they start with gzip's magic. `raw` is the file as stored. */
async function readMaybeGzipped(file: string): Promise<{ raw: Buffer; bytes: Buffer }> {
  const raw = await readInputFile(file, 'IDX file');
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) {
    if (file.endsWith('.gz')) throw new InputError(`${file}: not a gzip file (it does not start with gzip's magic bytes 1f 8b)`);
    return { raw, bytes: raw };
  }
  try {
    // gzip's trailer holds the size (mod 2^32): one output chunk of it saves zlib's concatenation of 16 KiB ones
    const size = raw.length >= 18 ? raw.readUInt32LE(raw.length - 4) : 0;
    return { raw, bytes: await gunzip(raw, { chunkSize: Math.min(Math.max(size + 1, 64 * 1024), 256 * 2 ** 20) }) };
  } catch (err) {
    throw new InputError(`${file}: the gzip data is corrupt or truncated (${(err as Error).message})`);
  }
}

/** An IDX array of unsigned bytes: its sizes and its data (a view of the decompressed file). */
export interface IdxArray {
  file: string;
  shape: number[];
  data: Uint8Array;
}

/** Parses an IDX file's bytes, which must be unsigned bytes of `dims` dimensions; every problem names `file`. */
export function parseIdx(file: string, bytes: Uint8Array, dims: 1 | 3): IdxArray {
  const what = dims === 3 ? 'images (magic 0x00000803: count, rows, columns)' : 'labels (magic 0x00000801: count)';
  if (bytes.length < 4) throw new InputError(`${file}: ${bytes.length} bytes, too short for an IDX header (expected ${what})`);
  const magic = Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32BE(0);
  if (bytes[0] !== 0 || bytes[1] !== 0)
    throw new InputError(`${file}: not an IDX file (magic 0x${magic.toString(16).padStart(8, '0')}, expected ${what})`);
  if (bytes[2] !== 0x08) throw new InputError(`${file}: IDX element type 0x${bytes[2].toString(16).padStart(2, '0')}, expected 0x08 (unsigned bytes)`);
  if (bytes[3] !== dims) throw new InputError(`${file}: ${bytes[3]} dimensions, expected ${dims}: ${what}`);
  const header = 4 + 4 * dims;
  if (bytes.length < header) throw new InputError(`${file}: truncated in its header (${bytes.length} bytes, the header needs ${header})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, header);
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = shape.reduce((a, b) => a * b, 1);
  const got = bytes.length - header;
  if (got < expected) throw new InputError(`${file}: truncated: ${got} bytes of data, but its header announces ${shape.join(' x ')} = ${expected}`);
  if (got > expected) throw new InputError(`${file}: ${got - expected} bytes after the ${shape.join(' x ')} = ${expected} its header announces`);
  if (dims === 3 && shape[0] > 0 && (shape[1] === 0 || shape[2] === 0)) throw new InputError(`${file}: images of ${shape[1]}x${shape[2]} pixels`);
  if (shape[0] === 0) throw new InputError(`${file}: holds no ${dims === 3 ? 'images' : 'labels'}`);
  return { file, shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset + header, expected) };
}

/** An IDX images file, decompressed: [count, height, width] uint8, one grey channel. */
export interface IdxImages {
  file: string;
  count: number;
  height: number;
  width: number;
  /** [count * height * width] */
  data: Uint8Array;
}

/** Reads an images file and checks it against the labels' count. */
export async function readIdxImages(file: string, labelsFile: string, labels: number): Promise<IdxImages> {
  const { shape, data } = parseIdx(file, (await readMaybeGzipped(file)).bytes, 3);
  if (shape[0] !== labels)
    throw new InputError(`${file}: ${shape[0]} images, but ${path.basename(labelsFile)} has ${labels} labels: the two files must describe the same items`);
  return { file, count: shape[0], height: shape[1], width: shape[2], data };
}

interface LabelsRead {
  labels: Uint8Array;
  /** SHA-256 of the decompressed file and, for a .gz, of the file as stored */
  sha256: string;
  gzSha256?: string;
}

async function readIdxLabels(file: string): Promise<LabelsRead> {
  const { raw, bytes } = await readMaybeGzipped(file);
  const { data } = parseIdx(file, bytes, 1);
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  return { labels: data, sha256: sha(bytes), ...(raw !== bytes ? { gzSha256: sha(raw) } : {}) };
}

/** class names, one a line (a trailing empty line is allowed); InputError naming the file and line. */
async function readClassesFile(file: string): Promise<string[]> {
  const text = (await readInputFile(file, 'class names')).toString('utf8');
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((name, i) => {
    if (name.trim() === '') throw new InputError(`${file} line ${i + 1}: an empty class name (one name a line)`);
    const first = lines.indexOf(name);
    if (first !== i) throw new InputError(`${file} line ${i + 1}: '${name}' repeats line ${first + 1}`);
  });
  if (lines.length < 2 || lines.length > 256) throw new InputError(`${file}: ${lines.length} class names; 2 to 256 are needed`);
  return lines;
}

/** An IDX dataset's labels, classes and files; the images are read when asked for (once). */
export interface IdxDataset {
  dir: string;
  files: IdxFiles;
  classes: string[];
  /** where the class names came from */
  classSource: string;
  /** the recognised dataset (Fashion-MNIST, MNIST), if any */
  known?: string;
  labels: Record<IdxSplit, Uint8Array>;
  /** the split's images, read and checked on the first call */
  images(split: IdxSplit): Promise<IdxImages>;
}

/** Reads the labels of the IDX dataset in `dir` (findIdxFiles must have found it), its classes and names. */
export async function openIdxDataset(dir: string): Promise<IdxDataset> {
  const root = path.resolve(dir);
  const files = await findIdxFiles(root);
  if (!files) throw new InputError(`${root} holds no MNIST-style IDX files (${IDX_FILES.train.images}[.gz], ...)`);
  const read = { train: await readIdxLabels(files.train.labels), test: await readIdxLabels(files.test.labels) };
  const known = KNOWN.find((k) =>
    IDX_SPLITS.every((s) => (k.labels && k.labels[s] === read[s].sha256) || (k.gzLabels && k.gzLabels[s] === read[s].gzSha256)),
  );
  let classes: string[];
  let classSource: string;
  const classesFile = path.join(root, IDX_CLASSES_FILE);
  if (known) {
    classes = [...known.classes];
    classSource = `${known.name} (recognised by the SHA-256 of its label files)`;
  } else if (await exists(classesFile)) {
    classes = await readClassesFile(classesFile);
    classSource = IDX_CLASSES_FILE;
  } else {
    let max = 0;
    for (const s of IDX_SPLITS) for (const l of read[s].labels) if (l > max) max = l;
    classes = Array.from({ length: Math.max(max + 1, 2) }, (_, i) => String(i));
    classSource = `the labels (0..${classes.length - 1}; no ${IDX_CLASSES_FILE})`;
  }
  for (const s of IDX_SPLITS) {
    const bad = read[s].labels.findIndex((l) => l >= classes.length);
    if (bad >= 0)
      throw new InputError(
        `${files[s].labels}: label ${read[s].labels[bad]} of item ${bad} is out of range: ${known ? known.name : IDX_CLASSES_FILE} has ${classes.length} classes (0..${classes.length - 1})`,
      );
  }
  const loaded = new Map<IdxSplit, Promise<IdxImages>>();
  return {
    dir: root,
    files,
    classes,
    classSource,
    ...(known ? { known: known.name } : {}),
    labels: { train: read.train.labels, test: read.test.labels },
    images(split) {
      let p = loaded.get(split);
      if (!p) {
        p = readIdxImages(files[split].images, files[split].labels, read[split].labels.length);
        loaded.set(split, p);
      }
      return p;
    },
  };
}

/** A listing of (some of) an IDX split's items: `files` are ids '<data dir>/<images file>#<row>'. */
export interface IdxListing extends SplitListing {
  idx: {
    split: IdxSplit;
    /** the item of each entry: its row in the images file */
    rows: Uint32Array;
    images(): Promise<IdxImages>;
  };
}

export const isIdxListing = (l: SplitListing): l is IdxListing => (l as IdxListing).idx !== undefined;

/** The id of row `row` of an images file: '<dir>/<file name>#<row>' (what listings hold in place of paths). */
export const idxId = (imagesFile: string, row: number): string => `${imagesFile}#${row}`;

/** A split of an open IDX dataset, every item, in file order. */
export function listIdxSplit(ds: IdxDataset, split: IdxSplit): IdxListing {
  const labels = ds.labels[split];
  const file = ds.files[split].images;
  return {
    dir: ds.dir,
    classes: [...ds.classes],
    files: Array.from(labels, (_, i) => idxId(file, i)),
    labels: labels.slice(),
    idx: { split, rows: Uint32Array.from(labels, (_, i) => i), images: () => ds.images(split) },
  };
}

/**
 * An IDX listing's images as the model's input. 28x28 grey into a 28x28x1 model is the file's bytes (a view
 * when the listing is the whole split, else one copy); other inputs are converted (channels, resize rule) into
 * memory when they fit in `memoryLimit` bytes, else image by image as batches are read.
 */
export async function openIdxSource(listing: IdxListing, pre: Preprocess, memoryLimit: number): Promise<ImageSource> {
  const img = await listing.idx.images();
  const n = listing.idx.rows.length;
  const srcBytes = img.height * img.width;
  const bytes = bytesPerImage(pre);
  const shape: ImageShape = [pre.height, pre.width, pre.channels];
  if (pre.resize === 'none' && (img.width !== pre.width || img.height !== pre.height))
    throw new InputError(`${img.file}: the images are ${img.width}x${img.height}, but the model takes ${pre.width}x${pre.height} images as they are (resize rule 'none')`);
  const rows = listing.idx.rows;
  const identity = img.width === pre.width && img.height === pre.height && pre.channels === 1;
  const convert = (row: number, dst: Uint8Array) =>
    fitToInput({ data: img.data.subarray(row * srcBytes, (row + 1) * srcBytes), width: img.width, height: img.height, channels: 1 }, pre, dst, idxId(img.file, row));
  const base = { size: n, labels: listing.labels, classes: listing.classes };
  if (identity || n * bytes <= memoryLimit) {
    const whole = identity && n === img.count && rows.every((r, i) => r === i);
    let images: Uint8Array;
    if (whole) images = img.data;
    else {
      images = new Uint8Array(n * bytes);
      for (let i = 0; i < n; i++) {
        if (identity) images.set(img.data.subarray(rows[i] * srcBytes, (rows[i] + 1) * srcBytes), i * bytes);
        else convert(rows[i], images.subarray(i * bytes, (i + 1) * bytes));
      }
    }
    return memorySource({ ...base, files: listing.files, images, shape });
  }
  return {
    ...base,
    shape,
    imageBytes: bytes,
    inMemory: false,
    async gather(dst, indices) {
      for (let i = 0; i < indices.length; i++) convert(rows[indices[i]], dst.subarray(i * bytes, (i + 1) * bytes));
    },
    async range(start, count, scratch) {
      for (let i = 0; i < count; i++) convert(rows[start + i], scratch.subarray(i * bytes, (i + 1) * bytes));
      return scratch.subarray(0, count * bytes);
    },
    async close() {},
  };
}
