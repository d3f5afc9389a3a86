// The small-image augmentation's random draws (the native side applies them: ref::augment_crop): per image a
// shift (a random crop of the image zero-padded by `shift`), a flip, a rotation and a randomly erased rectangle,
// drawn from the run's seeded generator in a fixed order. Like the Keras draws, a transform that is off draws
// nothing, so turning one on does not change the others' streams more than it must.
import type { Rng } from './random.js';

export interface CropAugmentConfig {
  /** pixels of shift each way, uniform over the 2 * shift + 1 integers */
  shift: number;
  /** mirror left-right with probability 1/2 */
  flip: boolean;
  /** rotation uniform in [-rotate, rotate] degrees */
  rotate: number;
  /** the probability of erasing a rectangle */
  erase: number;
  /** the rectangle's share of the image area, uniform in [lo, hi] */
  eraseArea: readonly [number, number];
  /** its height / width, log-uniform in [lo, hi] */
  eraseAspect: readonly [number, number];
}

/** Numbers per image: row shift, column shift, flip, rotation radians, erased row, column, height, width. */
export const CROP_STRIDE = 8;

/** torchvision's RandomErasing: tries this many rectangles before giving up (no erasing) */
const ERASE_ATTEMPTS = 10;

/**
 * Draws `batch` images' parameters into out [batch, 8] for images of height h and width w. Per image, in this
 * order: row and column shift (rng.int), flip (rng.next() < 0.5), rotation (uniform), then with probability
 * `erase` a rectangle as torchvision's RandomErasing draws it (area share, log aspect, up to 10 tries for one that
 * fits, then its top-left corner); height 0 means none.
 */
export function drawCropAugmentation(out: Float64Array, batch: number, rng: Rng, cfg: Readonly<CropAugmentConfig>, h: number, w: number): void {
  if (!Number.isInteger(batch) || batch < 0 || out.length < batch * CROP_STRIDE)
    throw new RangeError(`drawCropAugmentation: out holds ${out.length} floats, batch ${batch} needs ${batch * CROP_STRIDE}`);
  const [alo, ahi] = cfg.eraseArea;
  const [rlo, rhi] = [Math.log(cfg.eraseAspect[0]), Math.log(cfg.eraseAspect[1])];
  for (let b = 0; b < batch; b++) {
    const o = out.subarray(b * CROP_STRIDE, (b + 1) * CROP_STRIDE);
    o.fill(0);
    if (cfg.shift > 0) {
      o[0] = rng.int(2 * cfg.shift + 1) - cfg.shift;
      o[1] = rng.int(2 * cfg.shift + 1) - cfg.shift;
    }
    if (cfg.flip) o[2] = rng.next() < 0.5 ? 1 : 0;
    if (cfg.rotate > 0) o[3] = (rng.uniform(-cfg.rotate, cfg.rotate) * Math.PI) / 180;
    if (cfg.erase > 0 && rng.next() < cfg.erase) {
      for (let attempt = 0; attempt < ERASE_ATTEMPTS; attempt++) {
        const area = h * w * rng.uniform(alo, ahi);
        const aspect = Math.exp(rng.uniform(rlo, rhi));
        const eh = Math.round(Math.sqrt(area * aspect));
        const ew = Math.round(Math.sqrt(area / aspect));
        if (eh < 1 || ew < 1 || eh >= h || ew >= w) continue;
        o[4] = rng.int(h - eh + 1);
        o[5] = rng.int(w - ew + 1);
        o[6] = eh;
        o[7] = ew;
        break;
      }
    }
  }
}
