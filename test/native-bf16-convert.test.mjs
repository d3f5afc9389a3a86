// The conversions that turn fp32 activations and gradients into the bf16 operands of the bf16 kernels
// (native/bf16_convert.h): the AVX512-BF16 build, which the real AMX kernels and the AVX512-BF16 kernels run, and
// the portable build, which the AMX tile model runs. Both must give the bits of round-to-nearest-even on normal
// numbers, zeros and infinities (denormals and NaN are outside their contract), in the layout each kernel reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../dist/src/native.js';
import { rng } from './helpers.mjs';
import { bf16Bits } from './numerics.mjs';

const k = native.kernels;
const hasBf16 = native.buildInfo().bf16;
if (!hasBf16) console.log('# AVX512-BF16 conversions skipped: this CPU has none; the portable ones run');
const IMPLS = ['portable', ...(hasBf16 ? ['avx512-bf16'] : [])];

/** n floats over many magnitudes and signs, with exact halfway cases (both parities of the kept bit), zeros and
 * infinities */
function values(n, seed) {
  const r = rng(seed);
  const u = new Uint32Array(n);
  const special = [0, 0x80000000, 0x7f800000, 0xff800000, 0x3f808000, 0x3f818000, 0xbf808000, 0x7f7fffff];
  for (let i = 0; i < n; i++) {
    if (i % 7 === 3) u[i] = special[(i / 7) % special.length | 0];
    else u[i] = ((Math.floor(r() * 2) << 31) | ((1 + Math.floor(r() * 253)) << 23) | Math.floor(r() * 0x800000)) >>> 0;
  }
  return new Float32Array(u.buffer);
}

for (const impl of IMPLS) {
  test(`toBf16 rounds to nearest even, vector body and tail (${impl})`, () => {
    const src = values(53, 1);
    const dst = new Uint16Array(src.length);
    k.toBf16(dst, src, impl);
    assert.deepEqual(Array.from(dst), Array.from(src, bf16Bits));
  });

  test(`interleaveBf16 puts a in the low half and b in the high half, zeros for a null side (${impl})`, () => {
    const [a, b] = [values(37, 2), values(37, 3)];
    for (const [x, y] of [[a, b], [a, null], [null, b], [null, null]]) {
      const dst = new Uint32Array(37).fill(0xdeadbeef);
      k.interleaveBf16(dst, x, y, impl);
      const want = Array.from(dst, (_, i) => ((x ? bf16Bits(x[i]) : 0) | ((y ? bf16Bits(y[i]) : 0) << 16)) >>> 0);
      assert.deepEqual(Array.from(dst), want, `a ${x ? 'set' : 'null'}, b ${y ? 'set' : 'null'}`);
    }
  });

  test(`pairPixelsBf16 pairs pixel 2k with pixel 2k+1 channel by channel (${impl})`, () => {
    const [pairs, C] = [5, 40];
    const src = values(2 * pairs * C, 4);
    const dst = new Uint32Array(pairs * C);
    k.pairPixelsBf16(dst, src, { pairs, C }, impl);
    for (let p = 0; p < pairs; p++)
      for (let c = 0; c < C; c++)
        assert.equal(dst[p * C + c], (bf16Bits(src[2 * p * C + c]) | (bf16Bits(src[(2 * p + 1) * C + c]) << 16)) >>> 0, `pair ${p} channel ${c}`);
  });

  test(`routePairsBf16 routes each value to its conv row's low or high half by its code, or nowhere (${impl})`, () => {
    const n = 53; // three vector blocks and a tail
    const d = values(n, 5);
    const code = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 5); // every code, 4 (no gradient) included
    const [top, bottom] = [new Uint32Array(n).fill(0xdeadbeef), new Uint32Array(n).fill(0xdeadbeef)];
    k.routePairsBf16(top, bottom, d, code, impl);
    const want = (first) => Array.from(d, (v, i) => (code[i] === first ? bf16Bits(v) : code[i] === first + 1 ? (bf16Bits(v) << 16) >>> 0 : 0));
    assert.deepEqual(Array.from(top), want(0));
    assert.deepEqual(Array.from(bottom), want(2));
    assert.throws(() => k.routePairsBf16(new Uint32Array(4), new Uint32Array(4), new Float32Array(3), new Uint8Array(4), impl), /d/);
  });

  // [pixels, C, dstStride]: a conv2 input row of the seed (74 pixels, 32 channels, padded to 98); a flat 17x17
  // image; exactly one block of 16 pixels; fewer pixels than a block with 64 channels; channels past the last
  // 32 (gathered); the seed's 3-channel image rows (the first block's weight gradient: permuted, 16 pixels at a
  // time, then a tail of 5); no pixels at all
  for (const [pixels, C, stride] of [[74, 32, 98], [289, 32, 325], [16, 32, 16], [5, 64, 9], [37, 40, 41], [261, 3, 300], [0, 32, 4]])
    test(`transposeToBf16 ${pixels} pixels x ${C} channels into rows of ${stride}, zero past the pixels (${impl})`, () => {
      const src = values(pixels * C, pixels + C);
      const dst = new Uint16Array(C * stride).fill(0xffff);
      k.transposeToBf16(dst, src, { pixels, C, dstStride: stride }, impl);
      for (let c = 0; c < C; c++)
        for (let p = 0; p < stride; p++)
          assert.equal(dst[c * stride + p], p < pixels ? bf16Bits(src[p * C + c]) : 0, `channel ${c} column ${p}`);
    });

  // the same shapes from bf16: plain transposes of the bit patterns (channels past the last 32 one by one)
  for (const [pixels, C, stride] of [[74, 32, 98], [289, 32, 325], [5, 64, 9], [37, 40, 41], [0, 32, 4]])
    test(`transposeBf16 ${pixels} pixels x ${C} channels into rows of ${stride}, zero past the pixels (${impl})`, () => {
      const src = Uint16Array.from({ length: pixels * C }, (_, i) => (i * 7919 + 13) & 0xffff);
      const dst = new Uint16Array(C * stride).fill(0xffff);
      k.transposeBf16(dst, src, { pixels, C, dstStride: stride }, impl);
      for (let c = 0; c < C; c++)
        for (let p = 0; p < stride; p++)
          assert.equal(dst[c * stride + p], p < pixels ? src[p * C + c] : 0, `channel ${c} column ${p}`);
    });
}

test('the conversions refuse an unknown impl, a short output and a row shorter than the pixels', () => {
  assert.throws(() => k.toBf16(new Uint16Array(4), new Float32Array(4), 'fast'), (e) => e instanceof RangeError && /'avx512-bf16' or 'portable', got 'fast'/.test(e.message));
  assert.throws(() => k.toBf16(new Uint16Array(3), new Float32Array(4), 'portable'), (e) => e instanceof RangeError && /dst must have 4 elements, got 3/.test(e.message));
  assert.throws(() => k.pairPixelsBf16(new Float32Array(4), new Float32Array(8), { pairs: 1, C: 4 }, 'portable'), (e) => e instanceof TypeError && /dst must be a Uint32Array/.test(e.message));
  assert.throws(() => k.transposeToBf16(new Uint16Array(32 * 8), new Float32Array(10 * 32), { pixels: 10, C: 32, dstStride: 8 }, 'portable'), (e) => e instanceof RangeError && /^shape\.dstStride must be an integer in \[10,/.test(e.message));
  if (!hasBf16) assert.throws(() => k.toBf16(new Uint16Array(4), new Float32Array(4), 'avx512-bf16'), (e) => e instanceof RangeError && /AVX512-BF16/.test(e.message));
});
