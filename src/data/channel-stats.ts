// The per-channel mean and standard deviation of a split's pixels / 255: the input normalisation that
// `--normalize auto` computes from the training split (and records, and folds into the exported graph).
import type { ImageSource } from './image-store.js';

export interface ChannelStats {
  /** per channel, of pixels / 255 */
  mean: number[];
  /** per channel, the population standard deviation of pixels / 255 */
  std: number[];
}

/** Images read per chunk (a split on disk is read in pieces). */
const CHUNK = 1024;

/**
 * Mean and standard deviation per channel over every pixel of every image of `source`. The sums are of whole
 * numbers (exact in a double up to 2^53, some 10^11 pixels), so the result does not depend on the chunking or
 * the order. A constant channel gets std 1 (it carries nothing to scale).
 */
export async function channelStats(source: ImageSource): Promise<ChannelStats> {
  const c = source.shape[2];
  const sum = new Array<number>(c).fill(0);
  const squares = new Array<number>(c).fill(0);
  const scratch = new Uint8Array(source.inMemory ? 0 : CHUNK * source.imageBytes);
  for (let start = 0; start < source.size; start += CHUNK) {
    const n = Math.min(CHUNK, source.size - start);
    const pixels = await source.range(start, n, scratch);
    for (let ch = 0; ch < c; ch++) {
      let s = 0;
      let q = 0;
      for (let i = ch; i < n * source.imageBytes; i += c) {
        const v = pixels[i];
        s += v;
        q += v * v;
      }
      sum[ch] += s;
      squares[ch] += q;
    }
  }
  const count = (source.size * source.imageBytes) / c;
  const mean = sum.map((s) => s / count / 255);
  const std = sum.map((s, ch) => {
    const variance = squares[ch] / count - (s / count) ** 2;
    return variance > 0 ? Math.sqrt(variance) / 255 : 1;
  });
  return { mean, std };
}
