// What a model's input is made of: an image brought to [height, width, channels] uint8 (HWC) by the model's
// resize rule, grey (1 channel, PIL's convert('L')) or RGB (3). The rules are the model's own (spec.resize),
// so training, export, eval and predict prepare an image the same way.
import { InputError } from '../errors.js';
import { resizeOf, type ModelSpec, type ResizeRule } from '../model/spec.js';

/** How images become a model's input. */
export interface Preprocess {
  height: number;
  width: number;
  /** 1: grey (ITU-R 601-2 luma, as PIL's convert('L')); 3: RGB */
  channels: number;
  resize: ResizeRule;
}

/** The seed's: 150x150 RGB, PIL's NEAREST. */
export const SEED_PREPROCESS: Readonly<Preprocess> = Object.freeze({ height: 150, width: 150, channels: 3, resize: 'pil-nearest' });

/** A model spec's preprocessing: its input shape and its resize rule. */
export function preprocessOf(spec: ModelSpec): Preprocess {
  const [height, width, channels] = spec.input;
  return { height, width, channels, resize: resizeOf(spec) };
}

/** Bytes of one preprocessed image. */
export const bytesPerImage = (p: Preprocess): number => p.height * p.width * p.channels;

/** One line that names the preprocessing (the image cache's key includes it): 'rgb8 pil-nearest 150x150 hwc'. */
export const describePreprocess = (p: Preprocess): string =>
  `${p.channels === 1 ? 'grey8' : p.channels === 3 ? 'rgb8' : `${p.channels}ch8`} ${p.resize} ${p.width}x${p.height} hwc`;

/** A decoded image: HWC uint8 with 1 or 3 channels. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/**
 * PIL's RGB -> L (Convert.c rgb2l): L = (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16, ITU-R 601-2's
 * 299/587/114 per mille in 16-bit fixed point, rounded to nearest. A grey image replicated to RGB comes back
 * unchanged (the three weights sum to 65536).
 */
export function rgbToGreyPIL(dst: Uint8Array, rgb: Uint8Array, pixels: number): void {
  for (let p = 0, i = 0; p < pixels; p++, i += 3) dst[p] = (rgb[i] * 19595 + rgb[i + 1] * 38470 + rgb[i + 2] * 7471 + 0x8000) >>> 16;
}

/** Grey -> RGB by repeating the value, as PIL's convert('RGB') of an L image. */
export function greyToRgb(dst: Uint8Array, grey: Uint8Array, pixels: number): void {
  for (let p = 0, o = 0; p < pixels; p++, o += 3) dst[o] = dst[o + 1] = dst[o + 2] = grey[p];
}

/** `img` with `channels` channels (1 or 3): itself, or converted as PIL converts between L and RGB. */
export function withChannels(img: RawImage, channels: number): RawImage {
  if (img.channels === channels) return img;
  const pixels = img.width * img.height;
  const data = new Uint8Array(pixels * channels);
  if (img.channels === 3 && channels === 1) rgbToGreyPIL(data, img.data, pixels);
  else if (img.channels === 1 && channels === 3) greyToRgb(data, img.data, pixels);
  else throw new RangeError(`cannot convert ${img.channels} channels to ${channels}`);
  return { data, width: img.width, height: img.height, channels };
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

/** A resize's buffers must hold its images (a short one would be read or written past its end). */
function checkSizes(dst: Uint8Array, src: Uint8Array, srcW: number, srcH: number, dstW: number, dstH: number, channels: number): void {
  if (src.length < srcW * srcH * channels) throw new RangeError(`source holds ${src.length} bytes, needs ${srcW * srcH * channels}`);
  if (dst.length < dstW * dstH * channels) throw new RangeError(`destination holds ${dst.length} bytes, needs ${dstW * dstH * channels}`);
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
  checkSizes(dst, src, srcW, srcH, dstW, dstH, channels);
  const xs = nearestIndicesPIL(srcW, dstW);
  const ys = nearestIndicesPIL(srcH, dstH);
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const row = ys[y] * srcW;
    if (channels === 3)
      // (the common case, unrolled: the loop below indexes channel by channel)
      for (let x = 0; x < dstW; x++, o += 3) {
        const p = (row + xs[x]) * 3;
        dst[o] = src[p];
        dst[o + 1] = src[p + 1];
        dst[o + 2] = src[p + 2];
      }
    else
      for (let x = 0; x < dstW; x++) {
        const p = (row + xs[x]) * channels;
        for (let c = 0; c < channels; c++) dst[o++] = src[p + c];
      }
  }
}

// PIL's resample (libImaging/Resample.c) in 8 bits: coefficients in fixed point with 22 fractional bits.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/**
 * PIL's bilinear coefficients for one axis (precompute_coeffs + normalize_coeffs_8bpc): output i reads source
 * pixels bounds[2i] .. bounds[2i] + bounds[2i+1] - 1 with integer weights `k[i * ksize + j]` (sum about 2^22).
 */
function bilinearCoefficients(src: number, dst: number): { bounds: Int32Array; k: Int32Array; ksize: number } {
  const scale = src / dst;
  const filterscale = Math.max(scale, 1);
  const support = 1 * filterscale; // the triangle's support, widened when shrinking (antialiasing)
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(dst * 2);
  const k = new Int32Array(dst * ksize);
  const w = new Float64Array(ksize);
  for (let i = 0; i < dst; i++) {
    const centre = (i + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(centre + support + 0.5), src) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - centre + 0.5) * ss);
      w[x] = t < 1 ? 1 - t : 0;
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      // (int)(0.5 + v * 2^22): the weights are never negative, so truncation is floor
      k[i * ksize + x] = Math.trunc(0.5 + v * ONE);
    }
    bounds[2 * i] = xmin;
    bounds[2 * i + 1] = xmax;
  }
  return { bounds, k, ksize };
}

/** clip8 of Resample.c: the fixed-point sum (rounding term included) to 0..255. */
const clip8 = (ss: number): number => {
  const v = Math.floor(ss / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * PIL's Image.resize((dstW, dstH), Image.BILINEAR) of an 8-bit HWC image, byte for byte: a horizontal pass (when
 * the width changes) into rows of the new width, then a vertical pass (when the height changes), each a triangle
 * filter whose support grows with the shrink factor, in 22-bit fixed point with rounding.
 */
export function resizeBilinearPIL(
  dst: Uint8Array,
  src: Uint8Array,
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  channels = 3,
): void {
  checkSizes(dst, src, srcW, srcH, dstW, dstH, channels);
  const C = channels;
  let rows = src;
  if (dstW !== srcW) {
    const { bounds, k, ksize } = bilinearCoefficients(srcW, dstW);
    rows = new Uint8Array(srcH * dstW * C);
    for (let y = 0; y < srcH; y++) {
      for (let x = 0; x < dstW; x++) {
        const xmin = bounds[2 * x];
        const n = bounds[2 * x + 1];
        for (let c = 0; c < C; c++) {
          let ss = ONE / 2;
          for (let j = 0; j < n; j++) ss += src[(y * srcW + xmin + j) * C + c] * k[x * ksize + j];
          rows[(y * dstW + x) * C + c] = clip8(ss);
        }
      }
    }
  }
  if (dstH === srcH) {
    dst.set(rows.subarray(0, dstW * dstH * C));
    return;
  }
  const { bounds, k, ksize } = bilinearCoefficients(srcH, dstH);
  const rowBytes = dstW * C;
  for (let y = 0; y < dstH; y++) {
    const ymin = bounds[2 * y];
    const n = bounds[2 * y + 1];
    for (let i = 0; i < rowBytes; i++) {
      let ss = ONE / 2;
      for (let j = 0; j < n; j++) ss += rows[(ymin + j) * rowBytes + i] * k[y * ksize + j];
      dst[y * rowBytes + i] = clip8(ss);
    }
  }
}

/**
 * Brings a decoded image to the model's input in `dst` (bytesPerImage(p) long): channels first (grey <-> RGB,
 * as Keras' load_img converts before it resizes), then the resize rule. `name` (the file, or an IDX entry)
 * starts the error of the rule 'none' when the size differs.
 */
export function fitToInput(img: RawImage, p: Preprocess, dst: Uint8Array, name: string): Uint8Array {
  const { data, width, height } = withChannels(img, p.channels);
  if (p.resize === 'none' || (width === p.width && height === p.height)) {
    if (width !== p.width || height !== p.height)
      throw new InputError(`${name}: the image is ${width}x${height}, but the model takes ${p.width}x${p.height} images as they are (resize rule 'none')`);
    dst.set(data.subarray(0, bytesPerImage(p)));
  } else if (p.resize === 'pil-nearest') resizeNearestPIL(dst, data, width, height, p.width, p.height, p.channels);
  else if (p.resize === 'bilinear') resizeBilinearPIL(dst, data, width, height, p.width, p.height, p.channels);
  else throw new RangeError(`unknown resize rule ${JSON.stringify(p.resize)}`);
  return dst;
}
