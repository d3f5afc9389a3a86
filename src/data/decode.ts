import { promises as fs } from 'node:fs';
import os from 'node:os';
import sharp from 'sharp';
import { InputError } from '../errors.js';
import { decodeBmp, isBmp, type RawRGB } from './bmp.js';
import type { SplitListing } from './discover.js';

/** Side of the square network input, in pixels. */
export const IMAGE_SIZE = 150;
/** Bytes of one network input: [150, 150, 3] uint8. */
export const IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3;

export interface DecodeOptions {
  /** Apply the EXIF orientation. Off by default, because Keras/PIL ignore it. */
  autoOrient?: boolean;
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file does not exist';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (err as Error).message;
}

/**
 * Decodes a file to 8-bit RGB, HWC, the way PIL's `Image.open(f).convert('RGB')` does:
 * grayscale is replicated to 3 channels, alpha is dropped (not composited), embedded ICC profiles
 * and EXIF orientation are ignored. Truncated or corrupt pixel data is an error, never grey fill.
 */
export async function decodeRGB(file: string, opts: DecodeOptions = {}): Promise<RawRGB> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (err) {
    throw new InputError(`cannot read image ${file}: ${describeReadError(err)}`);
  }
  if (buf.length === 0) throw new InputError(`cannot decode image ${file}: the file is empty (0 bytes)`);
  try {
    if (isBmp(buf)) return decodeBmp(buf); // BMP rows carry no EXIF orientation
    const { data, info } = await sharp(buf, { failOn: 'truncated', ignoreIcc: true, autoOrient: opts.autoOrient ?? false })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`decoder returned ${info.channels} channels of ${data.length} bytes for ${info.width}x${info.height}`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (err) {
    throw new InputError(`cannot decode image ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * PIL's NEAREST source indices for one axis. PIL (ImagingScaleAffine) walks the centres by repeated
 * addition, x += src/dst starting at src/dst/2, and truncates; the rounding of that running sum differs
 * from floor((i + 0.5) * src / dst) when a centre lands exactly on an integer (2 -> 7: i = 3 reads 0, not 1).
 */
export function nearestIndicesPIL(src: number, dst: number): Int32Array {
  const out = new Int32Array(dst);
  const step = src / dst;
  let centre = step * 0.5;
  for (let i = 0; i < dst; i++, centre += step) out[i] = Math.min(Math.trunc(centre), src - 1);
  return out;
}

/** Nearest-neighbour resize of an HWC image, picking exactly the pixels PIL's Image.NEAREST picks. */
export function resizeNearestPIL(
  dst: Uint8Array,
  src: Uint8Array,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  channels = 3,
): void {
  if (src.length < srcW * srcH * channels) throw new RangeError(`source holds ${src.length} bytes, needs ${srcW * srcH * channels}`);
  if (dst.length < dstW * dstH * channels) throw new RangeError(`destination holds ${dst.length} bytes, needs ${dstW * dstH * channels}`);
  const xs = nearestIndicesPIL(srcW, dstW);
  const ys = nearestIndicesPIL(srcH, dstH);
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const row = ys[y] * srcW;
    for (let x = 0; x < dstW; x++) {
      const p = (row + xs[x]) * channels;
      for (let c = 0; c < channels; c++) dst[o++] = src[p + c];
    }
  }
}

/** Decodes one file and resizes it with PIL's NEAREST rule into `dst` [height, width, 3] (HWC, uint8 RGB). */
export async function loadImageResized(file: string, width: number, height: number, dst: Uint8Array, opts: DecodeOptions = {}): Promise<Uint8Array> {
  const img = await decodeRGB(file, opts);
  resizeNearestPIL(dst, img.data, img.width, img.height, width, height);
  return dst;
}

/** Decodes and resizes one file to the network's 150x150x3 RGB input (HWC, uint8). */
export async function loadImage150(file: string, opts: DecodeOptions = {}, dst = new Uint8Array(IMAGE_BYTES)): Promise<Uint8Array> {
  return loadImageResized(file, IMAGE_SIZE, IMAGE_SIZE, dst, opts);
}

export interface ImageSet {
  files: string[];
  labels: Uint8Array;
  classes: string[];
  /** [size, 150, 150, 3] uint8, HWC, RGB. */
  images: Uint8Array;
  size: number;
}

export interface LoadOptions extends DecodeOptions {
  /** Files decoded at once; default os.availableParallelism(). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Leave out files that fail to decode (reported in `skipped`) instead of failing. */
  skipBadImages?: boolean;
}

/** Decodes a whole split into one contiguous buffer, in listing order. */
export async function loadSplit(listing: SplitListing, opts: LoadOptions = {}): Promise<ImageSet & { skipped: string[] }> {
  const total = listing.files.length;
  const concurrency = opts.concurrency ?? os.availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer; got ${concurrency}`);
  }
  const images = new Uint8Array(total * IMAGE_BYTES);
  const bad = new Uint8Array(total);
  let next = 0;
  let done = 0;
  let failure: unknown = null;

  const worker = async (): Promise<void> => {
    while (failure === null && next < total) {
      const i = next++;
      try {
        await loadImage150(listing.files[i], opts, images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES));
      } catch (err) {
        if (!(opts.skipBadImages && err instanceof InputError)) {
          failure ??= err;
          return;
        }
        bad[i] = 1;
      }
      opts.onProgress?.(++done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  if (failure !== null) throw failure;

  const skipped = listing.files.filter((_, i) => bad[i]);
  if (skipped.length === 0) {
    return { files: [...listing.files], labels: listing.labels.slice(), classes: [...listing.classes], images, size: total, skipped };
  }
  const keep = listing.files.map((_, i) => i).filter((i) => !bad[i]);
  if (keep.length === 0) throw new InputError(`none of the ${total} images in ${listing.dir} could be decoded`);
  const kept = new Uint8Array(keep.length * IMAGE_BYTES);
  keep.forEach((src, dst) => kept.set(images.subarray(src * IMAGE_BYTES, (src + 1) * IMAGE_BYTES), dst * IMAGE_BYTES));
  return {
    files: keep.map((i) => listing.files[i]),
    labels: Uint8Array.from(keep, (i) => listing.labels[i]),
    classes: [...listing.classes],
    images: kept,
    size: keep.length,
    skipped,
  };
}
