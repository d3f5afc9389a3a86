// Test-time augmentation by flipping: the mirrored copy of a batch of images, and the average of the scores of
// the images and of their mirrors, in float32 as the exported TTA graph computes it (Add, then Mul by 0.5), so
// that `eval --tta flip` on a plain model and a model exported with --tta flip give the same numbers.

/** dst = the n images of `src` ([n, h, w, c], HWC) mirrored left-right. */
export function mirrorImages(dst: Uint8Array, src: Uint8Array, n: number, h: number, w: number, c: number): Uint8Array {
  const row = w * c;
  for (let r = 0; r < n * h; r++) {
    const base = r * row;
    for (let x = 0; x < w; x++) {
      const from = base + x * c;
      const to = base + (w - 1 - x) * c;
      for (let ch = 0; ch < c; ch++) dst[to + ch] = src[from + ch];
    }
  }
  return dst;
}

/** (a + b) / 2 element by element in float32: fround(fround(a + b) * 0.5). */
export function averageScores(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.fround(a[i] + b[i]) * 0.5;
  return out;
}
