// Images as a model's metadata says to feed them: decoded to RGB, resized to its input size with PIL's NEAREST
// rule, laid out NCHW or NHWC, float32 times its scale or raw uint8.
import os from 'node:os';
import { Tensor } from 'onnxruntime-node';
import { loadImageResized, type DecodeOptions } from '../data/decode.js';
import { InputError } from '../errors.js';
import type { ModelInfo } from '../onnx/graph.js';

/**
 * What this code can feed: RGB images resized with PIL's NEAREST rule (see decode.ts). The tensors below take
 * any channel count; decodeForModel is the one place that would decode to another.
 */
export function checkFeedable(info: ModelInfo, source: string): void {
  if (info.channels !== 3) throw new InputError(`${source}: the model takes ${info.channels}-channel input; images are decoded to 3-channel RGB`);
  if (info.resize !== 'pil-nearest') throw new InputError(`${source}: unknown resize rule '${info.resize}' in the model's metadata (known: pil-nearest)`);
  if (info.dtype === 'uint8' && info.scale !== 1)
    throw new InputError(`${source}: a uint8 input cannot carry scale ${info.scale}; metadata 'scale' must be 1`);
}

/** Bytes of one image as the model's metadata sizes it: [height, width, channels] uint8, HWC. */
export function imageBytes(info: ModelInfo): number {
  return info.height * info.width * info.channels;
}

/** Decodes one file into `dst` (imageBytes long) at the model's input size, PIL-NEAREST resized (RGB: see checkFeedable). */
export async function decodeForModel(info: ModelInfo, file: string, dst: Uint8Array, opts: DecodeOptions = {}): Promise<void> {
  await loadImageResized(file, info.width, info.height, dst, opts);
}

/**
 * Decodes files[i] into out[i * imageBytes ...] with `concurrency` files in flight (sharp decodes on the
 * libuv pool, so these overlap each other and onnxruntime). Fails with the first error, naming the file.
 */
export async function decodeMany(
  info: ModelInfo,
  files: readonly string[],
  out: Uint8Array,
  opts: DecodeOptions & { concurrency?: number } = {},
): Promise<void> {
  const size = imageBytes(info);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      await decodeForModel(info, files[i], out.subarray(i * size, (i + 1) * size), opts);
    }
  };
  const concurrency = Math.min(opts.concurrency ?? Math.max(4, os.availableParallelism()), files.length);
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * The model's input tensor for `n` HWC images of info.channels channels: scaled float32 or raw uint8, NCHW or
 * NHWC. `scratch` (at least as long as the pixels) is reused across batches: touching fresh memory costs more
 * than the conversion.
 */
export function inputTensor(info: ModelInfo, pixels: Uint8Array, n: number, scratch?: Float32Array | Uint8Array): Tensor {
  const { height: h, width: w, channels: c } = info;
  const hwc = pixels.subarray(0, n * h * w * c);
  const nchw = info.layout === 'NCHW';
  const dims = nchw ? [n, c, h, w] : [n, h, w, c];
  if (info.dtype === 'uint8') {
    if (!nchw) return new Tensor('uint8', hwc, dims);
    const out = scratch instanceof Uint8Array ? scratch.subarray(0, hwc.length) : new Uint8Array(hwc.length);
    return new Tensor('uint8', toPlanes(out, hwc, h * w, c, 1), dims);
  }
  // float32(scale) * pixel is exact in a double, so one rounding: the float32 product the trainer computes.
  const scale = Math.fround(info.scale);
  const out = scratch instanceof Float32Array ? scratch.subarray(0, hwc.length) : new Float32Array(hwc.length);
  if (nchw) return new Tensor('float32', toPlanes(out, hwc, h * w, c, scale), dims);
  for (let i = 0; i < hwc.length; i++) out[i] = hwc[i] * scale;
  return new Tensor('float32', out, dims);
}

/** HWC -> CHW for images of `c` channels of `plane` pixels each, times `scale`. */
function toPlanes<T extends Float32Array | Uint8Array>(dst: T, src: Uint8Array, plane: number, c: number, scale: number): T {
  for (let base = 0; base < src.length; base += c * plane)
    for (let ch = 0; ch < c; ch++) {
      const out = dst.subarray(base + ch * plane, base + (ch + 1) * plane);
      for (let p = 0, q = base + ch; p < plane; p++, q += c) out[p] = src[q] * scale;
    }
  return dst;
}
