// Where training reads its preprocessed images from: a buffer in memory (small datasets) or a packed .npy
// file on disk read with positional reads per batch (any size, bounded memory). Both give the same bytes.
import { promises as fs } from 'node:fs';
import { InputError } from '../errors.js';
import { IMAGE_SIZE, imageBytesOf, type ImageSet } from './decode.js';

/** [height, width, channels] of one image */
export type ImageShape = [number, number, number];
/** The seed's images: 150x150 RGB. */
export const SEED_SHAPE: Readonly<ImageShape> = Object.freeze([IMAGE_SIZE, IMAGE_SIZE, 3]) as Readonly<ImageShape>;

/** A split's preprocessed images, [size, height, width, channels] uint8, readable by index. */
export interface ImageSource {
  size: number;
  /** [size] class index per image */
  labels: Uint8Array;
  classes: string[];
  /** [height, width, channels] of one image */
  shape: ImageShape;
  /** bytes of one image: the product of `shape` */
  imageBytes: number;
  /** copies images indices[0..n) into dst [n, height, width, channels] */
  gather(dst: Uint8Array, indices: ArrayLike<number>): Promise<void>;
  /** images start..start+n as [n, height, width, channels]: a view of memory, or `scratch` filled from disk */
  range(start: number, n: number, scratch: Uint8Array): Promise<Uint8Array>;
  /** true when every read is from memory (no prefetching needed) */
  readonly inMemory: boolean;
  close(): Promise<void>;
}

/** An ImageSet (everything decoded in memory) as an ImageSource. */
export function memorySource(set: ImageSet): ImageSource {
  const bytes = imageBytesOf(set);
  return {
    size: set.size,
    labels: set.labels,
    classes: set.classes,
    shape: [...(set.shape ?? SEED_SHAPE)] as ImageShape,
    imageBytes: bytes,
    inMemory: true,
    async gather(dst, indices) {
      for (let i = 0; i < indices.length; i++) {
        const src = indices[i];
        dst.set(set.images.subarray(src * bytes, (src + 1) * bytes), i * bytes);
      }
    },
    async range(start, n) {
      return set.images.subarray(start * bytes, (start + n) * bytes);
    },
    async close() {},
  };
}

export function isImageSource(x: ImageSet | ImageSource): x is ImageSource {
  return typeof (x as ImageSource).gather === 'function';
}

// ---- .npy (NumPy format 1.0): magic, version, little-endian header length, a Python dict literal, data.

/** Bytes before the data: fixed, so the header can be rewritten in place once the row count is known. */
export const NPY_DATA_OFFSET = 128;

/** The .npy header of a C-order uint8 array [rows, height, width, channels], padded to NPY_DATA_OFFSET bytes. */
export function npyHeader(rows: number, shape: Readonly<ImageShape> = SEED_SHAPE): Buffer {
  const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${rows}, ${shape.join(', ')}), }`;
  const headerLen = NPY_DATA_OFFSET - 10;
  if (dict.length + 1 > headerLen) throw new RangeError(`npy header for ${rows} rows does not fit`);
  const out = Buffer.alloc(NPY_DATA_OFFSET, 0x20);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  out.writeUInt16LE(headerLen, 8);
  out.write(dict, 10, 'latin1');
  out[NPY_DATA_OFFSET - 1] = 0x0a;
  return out;
}

/** Rows of a .npy file written by npyHeader for images of `shape`, checked against the file size; InputError when it is not one. */
export function npyRows(file: string, head: Buffer, fileSize: number, shape: Readonly<ImageShape> = SEED_SHAPE): number {
  const m = /'shape': \((\d+), (\d+), (\d+), (\d+)\)/.exec(head.subarray(10, NPY_DATA_OFFSET).toString('latin1'));
  const ok = head.length >= NPY_DATA_OFFSET && head.readUInt32BE(0) === 0x934e554d && m && shape.every((d, i) => +m[i + 2] === d);
  if (!ok) throw new InputError(`${file}: not an engine image cache (.npy of [N, ${shape.join(', ')}] uint8)`);
  const rows = Number(m[1]);
  if (fileSize !== NPY_DATA_OFFSET + rows * shape[0] * shape[1] * shape[2]) throw new InputError(`${file}: ${fileSize} bytes for ${rows} images (truncated?)`);
  return rows;
}

/** Contiguous runs of `indices` (sorted copies of them), so a batch costs few reads. */
function runs(indices: ArrayLike<number>): Array<[slot: number, row: number, count: number]> {
  const order = Array.from(indices, (row, slot) => [row, slot]).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number, number]> = [];
  for (const [row, slot] of order) {
    const last = out[out.length - 1];
    // merge only when both the rows and the destination slots are consecutive
    if (last && last[1] + last[2] === row && last[0] + last[2] === slot) last[2]++;
    else out.push([slot, row, 1]);
  }
  return out;
}

/** Opens a cache .npy for positional reads: memory use is the caller's batch buffers, whatever the file size. */
export async function openNpySource(file: string, labels: Uint8Array, classes: string[], shape: Readonly<ImageShape> = SEED_SHAPE): Promise<ImageSource> {
  const bytes = shape[0] * shape[1] * shape[2];
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(NPY_DATA_OFFSET);
    await handle.read(head, 0, NPY_DATA_OFFSET, 0);
    const rows = npyRows(file, head, (await handle.stat()).size, shape);
    if (rows !== labels.length) throw new InputError(`${file}: ${rows} images but ${labels.length} labels`);
  } catch (err) {
    await handle.close();
    throw err;
  }
  const readAt = async (dst: Uint8Array, offset: number, length: number, position: number) => {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(dst, offset + done, length - done, position + done);
      if (bytesRead === 0) throw new InputError(`${file}: unexpected end of file (changed while training?)`);
      done += bytesRead;
    }
  };
  return {
    size: labels.length,
    labels,
    classes,
    shape: [...shape] as ImageShape,
    imageBytes: bytes,
    inMemory: false,
    async gather(dst, indices) {
      await Promise.all(
        runs(indices).map(([slot, row, count]) => readAt(dst, slot * bytes, count * bytes, NPY_DATA_OFFSET + row * bytes)),
      );
    },
    async range(start, n, scratch) {
      await readAt(scratch, 0, n * bytes, NPY_DATA_OFFSET + start * bytes);
      return scratch.subarray(0, n * bytes);
    },
    close: () => handle.close(),
  };
}
