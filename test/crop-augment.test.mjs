// The crop augmentation's draws (data/crop-augment.ts): shifts within +-shift, flips about half the time,
// rotations within +-rotate degrees, erased rectangles inside the image with their area share in range; seeded,
// and a transform that is off draws nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CROP_STRIDE, drawCropAugmentation } from '../dist/src/data/crop-augment.js';
import { Rng } from '../dist/src/data/random.js';

const ALL = { shift: 2, flip: true, rotate: 10, erase: 0.5, eraseArea: [0.02, 0.33], eraseAspect: [0.3, 3.3] };
const NONE = { shift: 0, flip: false, rotate: 0, erase: 0, eraseArea: [0.02, 0.33], eraseAspect: [0.3, 3.3] };

test('drawCropAugmentation: each number within its range; seeded', () => {
  const n = 2000;
  const out = new Float64Array(n * CROP_STRIDE);
  drawCropAugmentation(out, n, new Rng(9), ALL, 28, 28);
  let flips = 0;
  let erased = 0;
  const shifts = new Set();
  for (let i = 0; i < n; i++) {
    const [dy, dx, flip, rot, ey, ex, eh, ew] = out.subarray(i * CROP_STRIDE, (i + 1) * CROP_STRIDE);
    assert.ok(Number.isInteger(dy) && Math.abs(dy) <= 2 && Number.isInteger(dx) && Math.abs(dx) <= 2, `shift ${dy},${dx}`);
    shifts.add(`${dy},${dx}`);
    assert.ok(flip === 0 || flip === 1);
    flips += flip;
    assert.ok(Math.abs(rot) <= (10 * Math.PI) / 180 + 1e-15);
    if (eh > 0) {
      erased++;
      assert.ok(ey >= 0 && ex >= 0 && ey + eh <= 28 && ex + ew <= 28, `rect ${ey},${ex},${eh},${ew}`);
      assert.ok(eh * ew <= 0.33 * 784 * 1.3 && eh * ew >= 1, `area ${eh * ew}`);
    } else assert.deepEqual([ey, ex, ew], [0, 0, 0]);
  }
  assert.equal(shifts.size, 25, 'every shift in [-2, 2]^2 drawn');
  assert.ok(flips > 0.45 * n && flips < 0.55 * n, `${flips} flips`);
  assert.ok(erased > 0.4 * n && erased < 0.55 * n, `${erased} erased`);
  const again = new Float64Array(n * CROP_STRIDE);
  drawCropAugmentation(again, n, new Rng(9), ALL, 28, 28);
  assert.deepEqual(again, out);
});

test('a transform that is off draws nothing: all off leaves the generator where it was', () => {
  const rng = new Rng(3);
  const before = rng.getState();
  const out = new Float64Array(4 * CROP_STRIDE).fill(7);
  drawCropAugmentation(out, 4, rng, NONE, 28, 28);
  assert.deepEqual(Array.from(out), new Array(4 * CROP_STRIDE).fill(0));
  assert.deepEqual(rng.getState(), before);
  // flips only: one draw an image
  const a = new Rng(3);
  drawCropAugmentation(new Float64Array(5 * CROP_STRIDE), 5, a, { ...NONE, flip: true }, 28, 28);
  const b = new Rng(3);
  for (let i = 0; i < 5; i++) b.next();
  assert.deepEqual(a.getState(), b.getState());
  assert.throws(() => drawCropAugmentation(new Float64Array(8), 2, new Rng(1), ALL, 28, 28), RangeError);
});
