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
  if (code === 'ELOOP') return 'symbolic link loop (too many levels of symbolic links)';
  return (err as Error).message;
}

/** Files decoded at once by default: sharp decodes on the libuv pool, and reads overlap decodes (8 beats 2 even on 2 cores). */
export const DECODE_CONCURRENCY = Math.max(8, os.availableParallelism());
/** Largest image decoded, in pixels: sharp's default limitInputPixels (16383 x 16383, 805 MB as RGB). */
export const MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;
/** Images above this many pixels (48 MB as RGB) are decoded one at a time, so parallel decodes stay bounded. */
const LARGE_IMAGE_PIXELS = 16_000_000;
let largeImageQueue: Promise<unknown> = Promise.resolve();

/** Runs `fn` after every earlier large decode finished: at most one large image is in memory at once. */
function oneLargeAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const run = largeImageQueue.then(fn, fn);
  largeImageQueue = run.catch(() => undefined);
  return run;
}

/** Pillow's cmyk2rgb (convert('RGB') of a CMYK image): no colour management, r = (255 - k) * (1 - c / 255). */
export function cmykToRgbPIL(dst: Uint8Array, cmyk: Uint8Array, pixels: number): void {
  const mulDiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += 4, o += 3) {
    const nk = 255 - cmyk[i + 3];
    dst[o] = Math.max(0, nk - mulDiv255(cmyk[i], nk));
    dst[o + 1] = Math.max(0, nk - mulDiv255(cmyk[i + 1], nk));
    dst[o + 2] = Math.max(0, nk - mulDiv255(cmyk[i + 2], nk));
  }
}

async function decodeWithSharp(buf: Buffer, cmyk: boolean, autoOrient: boolean): Promise<RawRGB> {
  const img = sharp(buf, { failOn: 'truncated', ignoreIcc: true, autoOrient, limitInputPixels: MAX_IMAGE_PIXELS });
  if (cmyk) {
    // Keep the ink values: sharp would otherwise colour-manage CMYK to sRGB for raw output.
    const { data, info } = await img.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 4) throw new Error(`CMYK image decoded to ${info.channels} channels`);
    const rgb = new Uint8Array(info.width * info.height * 3);
    cmykToRgbPIL(rgb, data, info.width * info.height);
    return { data: rgb, width: info.width, height: info.height };
  }
  // 16-bit samples come out as their high byte (v >> 8), grey is replicated to RGB, alpha is dropped.
  const { data, info } = await img.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(`decoder returned ${info.channels} channels of ${data.length} bytes for ${info.width}x${info.height}`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * Decodes a file to 8-bit RGB, HWC, the way PIL's `Image.open(f).convert('RGB')` does:
 * grayscale is replicated to 3 channels, alpha is dropped (not composited), CMYK is converted with Pillow's
 * plain formula, embedded ICC profiles and EXIF orientation are ignored. 16-bit images keep their high byte
 * (PIL would clip 16-bit grey to 255). Truncated or corrupt pixel data is an error, never grey fill. Images
 * above MAX_IMAGE_PIXELS are refused before decoding; large ones are decoded one at a time.
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
    const meta = await sharp(buf, { limitInputPixels: false }).metadata();
    const pixels = (meta.width ?? 0) * (meta.height ?? 0);
    if (pixels > MAX_IMAGE_PIXELS)
      throw new Error(`${meta.width}x${meta.height} pixels is above the limit of ${MAX_IMAGE_PIXELS} (16383 x 16383); scale it down first`);
    const decode = () => decodeWithSharp(buf, meta.space === 'cmyk', opts.autoOrient ?? false);
    return await (pixels > LARGE_IMAGE_PIXELS ? oneLargeAtATime(decode) : decode());
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
  /** Files decoded at once; default DECODE_CONCURRENCY. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Leave out files that fail to decode (reported in `skipped`) instead of failing. */
  skipBadImages?: boolean;
}

/** Decodes a whole split into one contiguous buffer, in listing order. */
export async function loadSplit(
  listing: SplitListing,
  opts: LoadOptions = {},
): Promise<ImageSet & { skipped: string[]; skipReasons: string[] }> {
  const total = listing.files.length;
  const concurrency = opts.concurrency ?? DECODE_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer; got ${concurrency}`);
  }
  const images = new Uint8Array(total * IMAGE_BYTES);
  const bad = new Uint8Array(total);
  const reasons = new Map<number, string>();
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
        reasons.set(i, err.message);
      }
      opts.onProgress?.(++done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  if (failure !== null) throw failure;

  const skipped = listing.files.filter((_, i) => bad[i]);
  const skipReasons = [...reasons.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
  if (skipped.length === 0) {
    return { files: [...listing.files], labels: listing.labels.slice(), classes: [...listing.classes], images, size: total, skipped, skipReasons };
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
    skipReasons,
  };
}
