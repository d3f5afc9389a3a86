// Where training reads its preprocessed images from: a buffer in memory (small datasets) or a packed .npy
// file on disk read with positional reads per batch (any size, bounded memory). Both give the same bytes.
import { promises as fs } from 'node:fs';
import { InputError } from '../errors.js';
import { IMAGE_BYTES, IMAGE_SIZE, type ImageSet } from './decode.js';

/** A split's preprocessed images, [size, 150, 150, 3] uint8, readable by index. */
export interface ImageSource {
  size: number;
  /** [size] class index per image */
  labels: Uint8Array;
  classes: string[];
  /** copies images indices[0..n) into dst [n, 150, 150, 3] */
  gather(dst: Uint8Array, indices: ArrayLike<number>): Promise<void>;
  /** images start..start+n as [n, 150, 150, 3]: a view of memory, or `scratch` filled from disk */
  range(start: number, n: number, scratch: Uint8Array): Promise<Uint8Array>;
  /** true when every read is from memory (no prefetching needed) */
  readonly inMemory: boolean;
  close(): Promise<void>;
}

/** An ImageSet (everything decoded in memory) as an ImageSource. */
export function memorySource(set: ImageSet): ImageSource {
  return {
    size: set.size,
    labels: set.labels,
    classes: set.classes,
    inMemory: true,
    async gather(dst, indices) {
      for (let i = 0; i < indices.length; i++) {
        const src = indices[i];
        dst.set(set.images.subarray(src * IMAGE_BYTES, (src + 1) * IMAGE_BYTES), i * IMAGE_BYTES);
      }
    },
    async range(start, n) {
      return set.images.subarray(start * IMAGE_BYTES, (start + n) * IMAGE_BYTES);
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

/** The .npy header of a C-order uint8 array [rows, 150, 150, 3], padded to NPY_DATA_OFFSET bytes. */
export function npyHeader(rows: number): Buffer {
  const dict = `{'descr': '|u1', 'fortran_order': False, 'shape': (${rows}, ${IMAGE_SIZE}, ${IMAGE_SIZE}, 3), }`;
  const headerLen = NPY_DATA_OFFSET - 10;
  if (dict.length + 1 > headerLen) throw new RangeError(`npy header for ${rows} rows does not fit`);
  const out = Buffer.alloc(NPY_DATA_OFFSET, 0x20);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0); // \x93NUMPY v1.0
  out.writeUInt16LE(headerLen, 8);
  out.write(dict, 10, 'latin1');
  out[NPY_DATA_OFFSET - 1] = 0x0a;
  return out;
}

/** Rows of a .npy file written by npyHeader, checked against the file size; InputError when it is not one. */
export function npyRows(file: string, head: Buffer, fileSize: number): number {
  const m = /'shape': \((\d+), (\d+), (\d+), 3\)/.exec(head.subarray(10, NPY_DATA_OFFSET).toString('latin1'));
  const ok = head.length >= NPY_DATA_OFFSET && head.readUInt32BE(0) === 0x934e554d && m && +m[2] === IMAGE_SIZE && +m[3] === IMAGE_SIZE;
  if (!ok) throw new InputError(`${file}: not an engine image cache (.npy of [N, ${IMAGE_SIZE}, ${IMAGE_SIZE}, 3] uint8)`);
  const rows = Number(m[1]);
  if (fileSize !== NPY_DATA_OFFSET + rows * IMAGE_BYTES) throw new InputError(`${file}: ${fileSize} bytes for ${rows} images (truncated?)`);
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
export async function openNpySource(file: string, labels: Uint8Array, classes: string[]): Promise<ImageSource> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(NPY_DATA_OFFSET);
    await handle.read(head, 0, NPY_DATA_OFFSET, 0);
    const rows = npyRows(file, head, (await handle.stat()).size);
    if (rows !== labels.length) throw new InputError(`${file}: ${rows} images but ${labels.length} labels`);
  } catch (err) {
    await handle.close();
    throw err;
  }
  const readAt = async (dst: Uint8Array, offset: number, bytes: number, position: number) => {
    let done = 0;
    while (done < bytes) {
      const { bytesRead } = await handle.read(dst, offset + done, bytes - done, position + done);
      if (bytesRead === 0) throw new InputError(`${file}: unexpected end of file (changed while training?)`);
      done += bytesRead;
    }
  };
  return {
    size: labels.length,
    labels,
    classes,
    inMemory: false,
    async gather(dst, indices) {
      await Promise.all(
        runs(indices).map(([slot, row, count]) => readAt(dst, slot * IMAGE_BYTES, count * IMAGE_BYTES, NPY_DATA_OFFSET + row * IMAGE_BYTES)),
      );
    },
    async range(start, n, scratch) {
      await readAt(scratch, 0, n * IMAGE_BYTES, NPY_DATA_OFFSET + start * IMAGE_BYTES);
      return scratch.subarray(0, n * IMAGE_BYTES);
    },
    close: () => handle.close(),
  };
}
