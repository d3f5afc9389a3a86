// The CLI's preprocessing, in the browser: RGBA pixels -> RGB resized with PIL's NEAREST rule -> the model's
// input tensor data (float32 times float32(scale), or raw uint8; NCHW or NHWC), and the float32 sigmoid of
// the logit. Mirrors src/data/decode.ts (nearestIndicesPIL, resizeNearestPIL), src/eval/feed.ts (inputTensor)
// and src/eval/session.ts (sigmoidFloat32) line for line; test/demo.test.mjs checks they agree.

/** PIL's NEAREST source indices: the running sum x += src/dst from src/dst/2, truncated (see decode.ts). */
export function nearestIndicesPIL(src, dst) {
  const out = new Int32Array(dst);
  const step = src / dst;
  let centre = step * 0.5;
  for (let i = 0; i < dst; i++, centre += step) out[i] = Math.min(Math.trunc(centre), src - 1);
  return out;
}

/** RGBA [srcH, srcW, 4] (canvas ImageData) -> RGB [dstH, dstW, 3], PIL-nearest; alpha dropped, not composited. */
export function resizeRgbaNearestPIL(rgba, srcW, srcH, dstW, dstH) {
  const xs = nearestIndicesPIL(srcW, dstW);
  const ys = nearestIndicesPIL(srcH, dstH);
  const out = new Uint8Array(dstW * dstH * 3);
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const row = ys[y] * srcW;
    for (let x = 0; x < dstW; x++) {
      const p = (row + xs[x]) * 4;
      out[o++] = rgba[p];
      out[o++] = rgba[p + 1];
      out[o++] = rgba[p + 2];
    }
  }
  return out;
}

/** HWC RGB uint8 -> the model's input data and dims, as its metadata says (info from /model-info.json). */
export function inputData(info, rgb) {
  const { height: h, width: w } = info;
  const plane = h * w;
  const nchw = info.layout === 'NCHW';
  const dims = nchw ? [1, 3, h, w] : [1, h, w, 3];
  if (info.dtype === 'uint8') {
    if (!nchw) return { type: 'uint8', data: rgb, dims };
    const out = new Uint8Array(rgb.length);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = rgb[p * 3 + c];
    return { type: 'uint8', data: out, dims };
  }
  // float32(scale) * pixel is exact in a double, so one rounding when stored: the product the trainer computes.
  const scale = Math.fround(info.scale);
  const out = new Float32Array(rgb.length);
  if (nchw) for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = rgb[p * 3 + c] * scale;
  else for (let i = 0; i < rgb.length; i++) out[i] = rgb[i] * scale;
  return { type: 'float32', data: out, dims };
}

/** 1 / (1 + exp(-z)) rounded to float32 at each step, as Keras and the engine compute it. */
export function sigmoidFloat32(z) {
  return Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-z))));
}

/** The CLI's prediction from P(classes[1]): positive iff p > threshold; probability of the predicted class. */
export function predictionOf(classes, p, threshold = 0.5) {
  const positive = p > threshold;
  return { class: positive ? classes[1] : classes[0], probability: positive ? p : 1 - p, scores: { [classes[0]]: 1 - p, [classes[1]]: p } };
}
