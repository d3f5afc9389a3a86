import { InputError, UsageError } from '../errors.js';

const TWO_POW_32 = 2 ** 32;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Seeded PRNG: xoshiro128** (Blackman & Vigna), state seeded from a 32-bit seed through splitmix32.
 * Small, fast in 32-bit JS integer arithmetic, and its whole state is four integers,
 * so a checkpoint can store it and a resumed run continues the exact stream.
 */
export class Rng {
  private readonly s = new Uint32Array(4);

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= TWO_POW_32) {
      throw new UsageError(`seed must be an integer in [0, ${TWO_POW_32 - 1}]; got ${seed}`);
    }
    // splitmix32 is a bijection of its counter, so the four words are distinct and never all zero.
    let x = seed | 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      this.s[i] = z ^ (z >>> 15);
    }
  }

  /** Next raw 32-bit output, in [0, 2^32). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32-bit resolution (one output per call): k / 2^32. */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n), without modulo bias (rejection sampling); n in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new RangeError(`int(n) needs an integer n in [1, 2^32]; got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return u % n;
  }

  /** The four 32-bit state words, for a checkpoint. */
  getState(): number[] {
    return Array.from(this.s);
  }

  /** Restores a state saved by getState(); the stream continues exactly where it was saved. */
  setState(state: readonly number[]): void {
    const valid =
      Array.isArray(state) &&
      state.length === 4 &&
      state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) &&
      state.some((w) => w !== 0);
    if (!valid) {
      throw new InputError(`RNG state must be 4 unsigned 32-bit integers, not all zero; got ${JSON.stringify(state)}`);
    }
    this.s.set(state);
  }
}

/** In-place Fisher-Yates shuffle. */
export function shuffle(indices: Uint32Array, rng: Rng): void {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = indices[i];
    indices[i] = indices[j];
    indices[j] = t;
  }
}

/** A random permutation of 0..n-1. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  shuffle(p, rng);
  return p;
}

/** Keras ImageDataGenerator settings the native warp supports. */
export interface AugmentConfig {
  /** Shear range in degrees (Keras 2.1.3+ `shear_range`): angle uniform in [-s, s]. */
  shearDegrees: number;
  /** Zoom range [lo, hi]; zx and zy are drawn independently. */
  zoom: readonly [number, number];
  horizontalFlip: boolean;
}

/** The seed's ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True). */
export const SEED_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  shearDegrees: 0.2,
  zoom: Object.freeze([0.8, 1.2]) as readonly [number, number],
  horizontalFlip: true,
});

/** Values per image written by drawAugmentation: shear (radians), zx, zy, flip (0 or 1). */
export const AUGMENT_STRIDE = 4;

/**
 * Draws the random transform of `batch` images into `out` ([batch, 4]: shear radians, zx, zy, flip),
 * in Keras 2.1.5 random_transform's order; like Keras, a disabled transform draws nothing.
 */
export function drawAugmentation(out: Float64Array, batch: number, rng: Rng, cfg: Readonly<AugmentConfig> = SEED_AUGMENT): void {
  if (!Number.isInteger(batch) || batch < 0 || out.length < batch * AUGMENT_STRIDE) {
    throw new RangeError(`drawAugmentation: out holds ${out.length} floats, batch ${batch} needs ${batch * AUGMENT_STRIDE}`);
  }
  const [zlo, zhi] = cfg.zoom;
  const zoomOn = !(zlo === 1 && zhi === 1);
  for (let b = 0; b < batch; b++) {
    const o = b * AUGMENT_STRIDE;
    out[o] = cfg.shearDegrees ? (rng.uniform(-cfg.shearDegrees, cfg.shearDegrees) * Math.PI) / 180 : 0;
    out[o + 1] = zoomOn ? rng.uniform(zlo, zhi) : 1;
    out[o + 2] = zoomOn ? rng.uniform(zlo, zhi) : 1;
    out[o + 3] = cfg.horizontalFlip && rng.next() < 0.5 ? 1 : 0;
  }
}
