import os from 'node:os';
import type { Sharp, SharpOptions } from 'sharp';
import { InputError } from '../errors.js';
import { READ_LIMITS, readInputFile } from '../io/read.js';
import { decodeBmp, isBmp, type RawRGB } from './bmp.js';
import type { SplitListing } from './discover.js';
import { bytesPerImage, fitToInput, resizeNearestPIL, SEED_PREPROCESS, type Preprocess } from './preprocess.js';

/** Side of the seed's square network input, in pixels (other models: their spec's input, see preprocess.ts). */
export const IMAGE_SIZE = 150;
/** Bytes of one input of the seed's model: [150, 150, 3] uint8. */
export const IMAGE_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3;

export interface DecodeOptions {
  /** Apply the EXIF orientation. Off by default, because Keras/PIL ignore it. */
  autoOrient?: boolean;
  /** what messages call an input that is not a file (default 'image bytes') */
  name?: string;
}

/** An image to decode: a file's path, or the encoded file's bytes (JPEG, PNG, WebP, TIFF, BMP...), as sharp reads them. */
export type ImageInput = string | ArrayBuffer | ArrayBufferView;

/** How messages name an input: its path, or `opts.name`. */
export const inputName = (input: ImageInput, opts: DecodeOptions = {}): string =>
  typeof input === 'string' ? input : (opts.name ?? 'image bytes');

// sharp (libvips) is loaded on the first decode it does: commands that decode nothing (IDX data) or only plain
// JPEGs (the native decoder's) start without it.
let sharpModule: Promise<(input?: Buffer, options?: SharpOptions) => Sharp> | undefined;
const loadSharp = () => (sharpModule ??= import('sharp').then((m) => m.default));
let nativeModule: Promise<typeof import('../native.js')> | undefined;
const loadNative = () => (nativeModule ??= import('../native.js'));

const isJpeg = (buf: Uint8Array) => buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;

/**
 * A YCbCr or grey JPEG decoded by the addon's libjpeg-turbo (native/image/jpeg.h): the bytes sharp's decode gives
 * (test/jpeg-decode.test.mjs), without libvips' per-image pipeline, which costs several times the decode itself
 * for the small images trained on here. Undefined where it leaves the image to sharp: any other JPEG, a warning
 * (truncated data...), an error, a large image, or no libjpeg.so.62 on this machine.
 */
async function decodeJpegNatively(buf: Buffer): Promise<RawRGB | undefined> {
  const r = await (await loadNative()).native.decodeJpeg(buf, LARGE_IMAGE_PIXELS);
  return 'data' in r ? r : undefined;
}

/** Files per job of the addon's loader: a few milliseconds of work, so that a batch spreads over the libuv pool. */
const FILES_PER_JOB = 8;
let jpegLoaderAvailable: boolean | undefined;

/**
 * The addon's loader (native/image) on the JPEG files among `inputs`: each read, decoded and fitted to `pre` into
 * its slot of `dst` (bytesPerImage(pre) each) on the libuv pool, FILES_PER_JOB files a job, so the JS thread
 * handles one callback a job instead of a read, a decode and a resize an image. Resolves which it fitted (1);
 * the others (not a file path, not a plain JPEG, unreadable...) are for loadImageFor, which words any error.
 * Undefined where it does not apply: EXIF orientation asked for, a resize rule other than PIL's NEAREST or
 * none, other than 1 or 3 channels, or no libjpeg here. `onFitted(i)` hears of each image as its job ends.
 */
export async function fitJpegFiles(
  inputs: readonly ImageInput[],
  pre: Preprocess,
  dst: Uint8Array,
  opts: DecodeOptions = {},
  onFitted?: (i: number) => void,
): Promise<Uint8Array | undefined> {
  if (opts.autoOrient || (pre.resize !== 'pil-nearest' && pre.resize !== 'none') || (pre.channels !== 1 && pre.channels !== 3)) return undefined;
  const { native } = await loadNative();
  if (!(jpegLoaderAvailable ??= native.jpegDecoder().available)) return undefined;
  const bytes = bytesPerImage(pre);
  const shape = { height: pre.height, width: pre.width, channels: pre.channels, resize: pre.resize, maxPixels: LARGE_IMAGE_PIXELS, maxBytes: READ_LIMITS.image } as const;
  const fitted = new Uint8Array(inputs.length);
  const jobs: Promise<void>[] = [];
  for (let start = 0; start < inputs.length; start += FILES_PER_JOB) {
    const paths = inputs.slice(start, start + FILES_PER_JOB);
    if (!paths.every((p) => typeof p === 'string')) continue;
    const slots = dst.subarray(start * bytes, (start + paths.length) * bytes);
    const job = native.loadJpegFiles(paths, slots, shape).then((done) => {
      fitted.set(done, start);
      for (let j = 0; j < done.length; j++) if (done[j]) onFitted?.(start + j);
    });
    jobs.push(job);
  }
  await Promise.all(jobs);
  return fitted;
}

/**
 * The formats decoded, as sharp reports them from the bytes (BMP is decoded here, see bmp.ts): the README's
 * list. sharp would also decode SVG, AVIF/HEIF, GIF, PDF and more by sniffing the content whatever the file's
 * name; those are refused, so an SVG named .jpg is never rendered.
 */
const DECODED_FORMATS: Readonly<Record<string, string>> = { jpeg: 'JPEG', png: 'PNG', tiff: 'TIFF', webp: 'WebP' };
const FORMAT_NAMES = 'JPEG, PNG, BMP, TIFF or WebP';
/** Seconds one decode may take (a 16383 x 16383 JPEG takes a few): a budget against pathological files. */
export const DECODE_TIMEOUT_SECONDS = 60;

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
  const sharp = await loadSharp();
  const img = sharp(buf, { failOn: 'truncated', ignoreIcc: true, autoOrient, limitInputPixels: MAX_IMAGE_PIXELS }).timeout({
    seconds: DECODE_TIMEOUT_SECONDS,
  });
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
 * above MAX_IMAGE_PIXELS are refused before decoding; large ones are decoded one at a time. Only regular files of
 * the README's formats are read, whatever their name says (see DECODED_FORMATS).
 */
export async function decodeRGB(input: ImageInput, opts: DecodeOptions = {}): Promise<RawRGB> {
  const file = inputName(input, opts);
  let buf: Buffer;
  if (typeof input === 'string') buf = await readInputFile(input, 'image', READ_LIMITS.image);
  else if (input instanceof ArrayBuffer) buf = Buffer.from(input);
  else if (ArrayBuffer.isView(input)) buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  else throw new InputError(`${file}: expected a file path, a Buffer, a typed array or an ArrayBuffer of an encoded image, got ${describeValue(input)}`);
  if (buf.length === 0) throw new InputError(`cannot decode image ${file}: ${typeof input === 'string' ? 'the file is empty' : 'no bytes'} (0 bytes)`);
  try {
    if (isBmp(buf)) return decodeBmp(buf); // BMP rows carry no EXIF orientation
    const decoded = isJpeg(buf) && !opts.autoOrient ? await decodeJpegNatively(buf) : undefined;
    if (decoded) return decoded;
    const sharp = await loadSharp();
    const meta = await sharp(buf, { limitInputPixels: false }).metadata();
    if (!Object.hasOwn(DECODED_FORMATS, meta.format ?? ''))
      throw new Error(`its content is ${String(meta.format).toUpperCase()} data; images are read as ${FORMAT_NAMES}`);
    const pixels = (meta.width ?? 0) * (meta.height ?? 0);
    if (pixels > MAX_IMAGE_PIXELS)
      throw new Error(`${meta.width}x${meta.height} pixels is above the limit of ${MAX_IMAGE_PIXELS} (16383 x 16383); scale it down first`);
    const decode = () => decodeWithSharp(buf, meta.space === 'cmyk', opts.autoOrient ?? false);
    return await (pixels > LARGE_IMAGE_PIXELS ? oneLargeAtATime(decode) : decode());
  } catch (err) {
    throw new InputError(`cannot decode image ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
}

export { nearestIndicesPIL, resizeNearestPIL } from './preprocess.js';

/** 'null', 'a number', 'an object': what came instead of an image, for messages */
function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `${/^[aeiou]/.test(typeof v) ? 'an' : 'a'} ${typeof v}`;
}

/** Decodes one file and resizes it with PIL's NEAREST rule into `dst` [height, width, 3] (HWC, uint8 RGB). */
export async function loadImageResized(file: string, width: number, height: number, dst: Uint8Array, opts: DecodeOptions = {}): Promise<Uint8Array> {
  const img = await decodeRGB(file, opts);
  resizeNearestPIL(dst, img.data, img.width, img.height, width, height);
  return dst;
}

/** Decodes one image into `dst` (bytesPerImage(pre) long) as the model's input: grey or RGB, by its resize rule. */
export async function loadImageFor(input: ImageInput, pre: Preprocess, dst: Uint8Array, opts: DecodeOptions = {}): Promise<Uint8Array> {
  const img = await decodeRGB(input, opts);
  return fitToInput({ ...img, channels: 3 }, pre, dst, inputName(input, opts));
}

/** Decodes and resizes one file to the network's 150x150x3 RGB input (HWC, uint8). */
export async function loadImage150(file: string, opts: DecodeOptions = {}, dst = new Uint8Array(IMAGE_BYTES)): Promise<Uint8Array> {
  return loadImageFor(file, SEED_PREPROCESS, dst, opts);
}

export interface LoadIntoOptions extends DecodeOptions {
  /** images decoded at once by the general path (default DECODE_CONCURRENCY) */
  concurrency?: number;
  /** what messages call input i when it is not a file (default opts.name, else 'image bytes') */
  nameOf?: (i: number) => string;
  /** hears input i's failure, and may throw to fail the whole load; absent: the first failure rejects */
  onError?: (i: number, err: unknown) => void;
  /** input i is in its slot */
  onLoaded?: (i: number) => void;
}

/**
 * Loads inputs[i] into slot i of `dst` (bytesPerImage(pre) bytes each) for every i: JPEG files by the addon's
 * loader (fitJpegFiles), the rest one by one with loadImageFor, `concurrency` at a time. A failure rejects, or
 * goes to `onError`, which leaves that slot as it was while the others load.
 */
export async function loadImagesInto(inputs: readonly ImageInput[], pre: Preprocess, dst: Uint8Array, opts: LoadIntoOptions = {}): Promise<void> {
  const { concurrency = DECODE_CONCURRENCY, nameOf, onError, onLoaded, ...decode } = opts;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer; got ${concurrency}`);
  const bytes = bytesPerImage(pre);
  const fitted = await fitJpegFiles(inputs, pre, dst, decode, onLoaded);
  const rest = Array.from(inputs.keys()).filter((i) => !fitted?.[i]);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < rest.length) {
      const i = rest[next++];
      const named = nameOf && typeof inputs[i] !== 'string' ? { ...decode, name: nameOf(i) } : decode;
      try {
        await loadImageFor(inputs[i], pre, dst.subarray(i * bytes, (i + 1) * bytes), named);
      } catch (err) {
        if (!onError) throw err;
        onError(i, err);
        continue;
      }
      onLoaded?.(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rest.length) }, worker)).catch((err: unknown) => {
    failed = true; // the other workers stop at their next image
    throw err;
  });
}

export interface ImageSet {
  files: string[];
  labels: Uint8Array;
  classes: string[];
  /** [size, height, width, channels] uint8, HWC (the seed's: [size, 150, 150, 3], RGB). */
  images: Uint8Array;
  size: number;
  /** [height, width, channels] of one image; absent: the seed's [150, 150, 3] */
  shape?: [number, number, number];
}

/** Bytes of one image of `set` (the seed's 67,500 when it names no shape). */
export const imageBytesOf = (set: { shape?: readonly number[] }): number => (set.shape ? set.shape[0] * set.shape[1] * set.shape[2] : IMAGE_BYTES);

export interface LoadOptions extends DecodeOptions {
  /** Files decoded at once; default DECODE_CONCURRENCY. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Leave out files that fail to decode (reported in `skipped`) instead of failing. */
  skipBadImages?: boolean;
  /** what the images become (default: the seed's 150x150 RGB, PIL's NEAREST) */
  preprocess?: Preprocess;
}

/** Decodes a whole split into one contiguous buffer, in listing order. */
export async function loadSplit(
  listing: SplitListing,
  opts: LoadOptions = {},
): Promise<ImageSet & { skipped: string[]; skipReasons: string[] }> {
  const total = listing.files.length;
  const pre = opts.preprocess ?? SEED_PREPROCESS;
  const bytes = bytesPerImage(pre);
  const shape: [number, number, number] = [pre.height, pre.width, pre.channels];
  const images = new Uint8Array(total * bytes);
  const bad = new Uint8Array(total);
  const reasons = new Map<number, string>();
  let done = 0;
  await loadImagesInto(listing.files, pre, images, {
    autoOrient: opts.autoOrient,
    concurrency: opts.concurrency,
    onError: (i, err) => {
      if (!(opts.skipBadImages && err instanceof InputError)) throw err;
      bad[i] = 1;
      reasons.set(i, err.message);
      opts.onProgress?.(++done, total);
    },
    onLoaded: () => opts.onProgress?.(++done, total),
  });

  const skipped = listing.files.filter((_, i) => bad[i]);
  const skipReasons = [...reasons.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
  if (skipped.length === 0) {
    return { files: [...listing.files], labels: listing.labels.slice(), classes: [...listing.classes], images, size: total, shape, skipped, skipReasons };
  }
  const keep = listing.files.map((_, i) => i).filter((i) => !bad[i]);
  if (keep.length === 0) throw new InputError(`none of the ${total} images in ${listing.dir} could be decoded`);
  const kept = new Uint8Array(keep.length * bytes);
  keep.forEach((src, dst) => kept.set(images.subarray(src * bytes, (src + 1) * bytes), dst * bytes));
  return {
    files: keep.map((i) => listing.files[i]),
    labels: Uint8Array.from(keep, (i) => listing.labels[i]),
    classes: [...listing.classes],
    images: kept,
    size: keep.length,
    shape,
    skipped,
    skipReasons,
  };
}
