import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUGMENT_STRIDE, Rng, SEED_AUGMENT, drawAugmentation, permutation, shuffle } from '../dist/src/data/random.js';
import { InputError, UsageError } from '../dist/src/errors.js';

const take = (rng, n) => Array.from({ length: n }, () => rng.nextUint32());

test('Rng is xoshiro128** seeded through splitmix32', () => {
  // Known-answer values: catch any change to seeding or the generator, which would break resumed checkpoints.
  // Values from an independent Python implementation of both algorithms.
  assert.deepEqual(new Rng(0).getState(), [1684164658, 3653269916, 2939563536, 2141751570]);
  assert.deepEqual(take(new Rng(0), 4), [1789933344, 44971166, 2521387044, 3848737593]);
  assert.deepEqual(take(new Rng(1), 2), [393288148, 2174103013]);
  // The reference C xoshiro128** from state {1, 2, 3, 4}.
  const ref = new Rng(0);
  ref.setState([1, 2, 3, 4]);
  assert.deepEqual(take(ref, 6), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('same seed gives the same stream; different seeds differ', () => {
  assert.deepEqual(take(new Rng(42), 100), take(new Rng(42), 100));
  assert.notDeepEqual(take(new Rng(42), 100), take(new Rng(43), 100));
});

test('setState resumes the exact stream', () => {
  const a = new Rng(7);
  take(a, 13);
  const saved = a.getState();
  assert.ok(saved.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32));
  const expected = take(a, 50);
  const b = new Rng(999);
  b.setState(JSON.parse(JSON.stringify(saved)));
  assert.deepEqual(take(b, 50), expected);
});

test('bad seeds and states are rejected', () => {
  for (const seed of [-1, 1.5, 2 ** 32, NaN]) {
    assert.throws(() => new Rng(seed), (e) => e instanceof UsageError && e.exitCode === 2 && e.message.includes(String(seed)));
  }
  const rng = new Rng(1);
  for (const state of [[1, 2, 3], [0, 0, 0, 0], [1, 2, 3, -4], [1, 2, 3, 2 ** 32]]) {
    assert.throws(() => rng.setState(state), (e) => e instanceof InputError && e.exitCode === 2);
  }
});

test('next, uniform and int stay in range and are roughly uniform', () => {
  const rng = new Rng(3);
  let sum = 0;
  const buckets = new Array(10).fill(0);
  for (let i = 0; i < 20000; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    const v = rng.uniform(-2, 3);
    assert.ok(v >= -2 && v < 3);
    const k = rng.int(10);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 10);
    buckets[k]++;
  }
  assert.ok(Math.abs(sum / 20000 - 0.5) < 0.01, `mean ${sum / 20000}`);
  for (const c of buckets) assert.ok(c > 1800 && c < 2200, `bucket counts ${buckets}`);
  assert.equal(rng.int(1), 0);
  assert.throws(() => rng.int(0), RangeError);
});

test('shuffle and permutation produce permutations, deterministically', () => {
  const p = permutation(1000, new Rng(5));
  assert.ok(p instanceof Uint32Array);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual([...p], Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(permutation(1000, new Rng(5)), p);

  const values = Uint32Array.from([10, 20, 30, 40, 50, 60]);
  shuffle(values, new Rng(8));
  assert.deepEqual([...values].sort((a, b) => a - b), [10, 20, 30, 40, 50, 60]);
  assert.equal(permutation(0, new Rng(1)).length, 0);

  // Every position receives every value over many shuffles (no off-by-one in Fisher-Yates).
  const rng = new Rng(11);
  const seen = Array.from({ length: 4 }, () => new Set());
  for (let i = 0; i < 200; i++) permutation(4, rng).forEach((v, pos) => seen[pos].add(v));
  for (const s of seen) assert.equal(s.size, 4);
});

test('drawAugmentation draws shear in radians, independent zooms and fair flips', () => {
  assert.deepEqual({ ...SEED_AUGMENT, zoom: [...SEED_AUGMENT.zoom] }, { shearDegrees: 0.2, zoom: [0.8, 1.2], horizontalFlip: true });
  const n = 10000;
  const out = new Float64Array(n * AUGMENT_STRIDE);
  drawAugmentation(out, n, new Rng(21));
  const maxShear = (0.2 * Math.PI) / 180;
  let flips = 0;
  let maxAbsShear = 0;
  let zxBelow1 = 0;
  let sameZoom = 0;
  for (let b = 0; b < n; b++) {
    const [shear, zx, zy, flip] = out.subarray(b * 4, b * 4 + 4);
    assert.ok(Math.abs(shear) <= maxShear * (1 + 1e-6), `shear ${shear}`);
    assert.ok(zx >= 0.8 - 1e-6 && zx <= 1.2 + 1e-6 && zy >= 0.8 - 1e-6 && zy <= 1.2 + 1e-6, `zoom ${zx} ${zy}`);
    assert.ok(flip === 0 || flip === 1);
    flips += flip;
    maxAbsShear = Math.max(maxAbsShear, Math.abs(shear));
    if (zx < 1) zxBelow1++;
    if (zx === zy) sameZoom++;
  }
  assert.ok(maxAbsShear > maxShear * 0.99, `shear spans its range in radians (max ${maxAbsShear})`);
  assert.ok(Math.abs(flips / n - 0.5) < 0.02, `flip rate ${flips / n}`);
  assert.ok(Math.abs(zxBelow1 / n - 0.5) < 0.02, `zoom below 1 rate ${zxBelow1 / n}`);
  assert.ok(sameZoom < 10, 'zx and zy are drawn independently');

  // Draw order per image: shear, zx, zy, flip from one stream.
  const rng = new Rng(4);
  const u = [rng.next(), rng.next(), rng.next(), rng.next()];
  const one = new Float64Array(4);
  drawAugmentation(one, 1, new Rng(4));
  assert.deepEqual([...one], [...new Float64Array([(-0.2 + 0.4 * u[0]) * Math.PI / 180, 0.8 + (1.2 - 0.8) * u[1], 0.8 + (1.2 - 0.8) * u[2], u[3] < 0.5 ? 1 : 0])]);
});

test('drawAugmentation draws nothing for disabled transforms, like Keras', () => {
  const out = new Float64Array(8);
  const rng = new Rng(9);
  drawAugmentation(out, 2, rng, { shearDegrees: 0, zoom: [1, 1], horizontalFlip: false });
  assert.deepEqual([...out], [0, 1, 1, 0, 0, 1, 1, 0]);
  assert.deepEqual(rng.getState(), new Rng(9).getState());
  assert.throws(() => drawAugmentation(new Float64Array(7), 2, rng), RangeError);
});
