// Images as a model's metadata says to feed them: decoded, converted to its channels (grey or RGB, as PIL's
// convert), brought to its input size by its resize rule (data/preprocess.ts), laid out NCHW or NHWC, float32
// times its scale or raw uint8. The same preprocessing as training's, so eval and predict see what the trainer saw.
import os from 'node:os';
import { Tensor } from './runtime.js';
import { loadImagesInto, type DecodeOptions, type ImageInput } from '../data/decode.js';
import { bytesPerImage, type Preprocess } from '../data/preprocess.js';
import { InputError } from '../errors.js';
import { RESIZE_RULES, type ResizeRule } from '../model/spec.js';
import type { ModelInfo } from '../onnx/model-info.js';

/** What the model's metadata asks of its input that this code must be able to do: a known resize rule, 1 or 3 channels. */
export function checkFeedable(info: ModelInfo, source: string): void {
  if (!(RESIZE_RULES as readonly string[]).includes(info.resize))
    throw new InputError(`${source}: unknown resize rule '${info.resize}' in the model's metadata (known: ${RESIZE_RULES.join(', ')})`);
  if (info.channels !== 1 && info.channels !== 3)
    throw new InputError(`${source}: the model takes ${info.channels}-channel input; images are decoded to grey (1 channel) or RGB (3)`);
  if (info.dtype === 'uint8' && info.scale !== 1)
    throw new InputError(`${source}: a uint8 input cannot carry scale ${info.scale}; metadata 'scale' must be 1`);
}

/** The preprocessing a model's metadata describes (checkFeedable has accepted its rule). */
export const preprocessOfModel = (info: ModelInfo): Preprocess => ({
  height: info.height,
  width: info.width,
  channels: info.channels,
  resize: info.resize as ResizeRule,
});

/** Bytes of one image as the model's metadata sizes it: [height, width, channels] uint8, HWC. */
export function imageBytes(info: ModelInfo): number {
  return bytesPerImage(preprocessOfModel(info));
}

/**
 * Images start .. start + count - 1, HWC as the model takes them (imageBytes each): written into `dst`, or a view
 * of pixels already in memory (an IDX file's).
 */
export type BatchReader = (start: number, count: number, dst: Uint8Array) => Promise<Uint8Array>;

/**
 * A BatchReader that decodes `inputs` (files or encoded bytes) with data/decode.ts' loadImagesInto: JPEG files
 * by the addon's loader, the rest `concurrency` at a time, on the libuv pool, so these overlap each other and
 * onnxruntime. A batch fails with its first error, naming the image (`nameOf` names the inputs that are not files).
 */
export function decodingReader(
  info: ModelInfo,
  inputs: readonly ImageInput[],
  opts: DecodeOptions & { concurrency?: number; nameOf?: (i: number) => string } = {},
): BatchReader {
  const pre = preprocessOfModel(info);
  const size = bytesPerImage(pre);
  const { nameOf, concurrency = Math.max(4, os.availableParallelism()), ...decode } = opts;
  return async (start, count, dst) => {
    const named = nameOf ? { nameOf: (j: number) => nameOf(start + j) } : {};
    await loadImagesInto(inputs.slice(start, start + count), pre, dst, { ...decode, concurrency, ...named });
    return dst.subarray(0, count * size);
  };
}

/** Decodes every input into out[i * imageBytes ...] (decodingReader of all of them at once). */
export async function decodeMany(
  info: ModelInfo,
  inputs: readonly ImageInput[],
  out: Uint8Array,
  opts: DecodeOptions & { concurrency?: number } = {},
): Promise<void> {
  await decodingReader(info, inputs, opts)(0, inputs.length, out);
}

/**
 * The model's input tensor for `n` HWC images of info.channels channels: scaled float32 or raw uint8, NCHW or
 * NHWC. `scratch` (at least as long as the pixels) is reused across batches: touching fresh memory costs more
 * than the conversion.
 */
export function inputTensor(info: ModelInfo, pixels: Uint8Array, n: number, scratch?: Float32Array | Uint8Array): Tensor {
  const { height: h, width: w, channels: c } = info;
  const hwc = pixels.subarray(0, n * h * w * c);
  const nchw = info.layout === 'NCHW' && c > 1;
  const dims = info.layout === 'NCHW' ? [n, c, h, w] : [n, h, w, c];
  if (info.dtype === 'uint8') {
    if (!nchw) return new Tensor('uint8', hwc, dims);
    const out = scratch instanceof Uint8Array ? scratch.subarray(0, hwc.length) : new Uint8Array(hwc.length);
    return new Tensor('uint8', toPlanes(out, hwc, h * w, 1), dims);
  }
  // float32(scale) * pixel is exact in a double, so one rounding: the float32 product the trainer computes.
  // (One channel is the same bytes in either layout.)
  const scale = Math.fround(info.scale);
  const out = scratch instanceof Float32Array ? scratch.subarray(0, hwc.length) : new Float32Array(hwc.length);
  if (nchw) return new Tensor('float32', toPlanes(out, hwc, h * w, scale), dims);
  for (let i = 0; i < hwc.length; i++) out[i] = hwc[i] * scale;
  return new Tensor('float32', out, dims);
}

/** HWC -> CHW for RGB images of `plane` pixels each, times `scale` (a grey image is the same bytes in either layout). */
function toPlanes<T extends Float32Array | Uint8Array>(dst: T, src: Uint8Array, plane: number, scale: number): T {
  for (let base = 0; base < src.length; base += 3 * plane)
    for (let p = 0, q = base, o = base; p < plane; p++, q += 3, o++) {
      dst[o] = src[q] * scale;
      dst[o + plane] = src[q + 1] * scale;
      dst[o + 2 * plane] = src[q + 2] * scale;
    }
  return dst;
}
