// The addon's JPEG decoder (native/image/jpeg.h) against sharp's decode, which it replaces for plain JPEGs: the
// same bytes, or the image left to sharp with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { native } from '../dist/src/native.js';
import { decodeRGB } from '../dist/src/data/decode.js';
import { listDataSplit } from '../dist/src/data/dataset.js';
import { CELEBA } from './helpers.mjs';
import { Rng } from '../dist/src/data/random.js';

/** sharp's decode as data/decode.ts asks for it (decodeWithSharp): RGB, ICC ignored, truncation an error. */
async function sharpRGB(bytes) {
  const { data, info } = await sharp(bytes, { failOn: 'truncated', ignoreIcc: true }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

function assertSame(got, want, what) {
  assert.ok('data' in got, `${what}: left to sharp (${got.why})`);
  assert.equal(got.width, want.width, what);
  assert.equal(got.height, want.height, what);
  const first = got.data.findIndex((v, i) => v !== want.data[i]);
  assert.equal(first, -1, `${what}: byte ${first} differs (${got.data[first]} vs sharp's ${want.data[first]})`);
}

test('this build decodes JPEGs natively (jpeglib.h at build time, libjpeg.so.62 at run time)', () => {
  const d = native.jpegDecoder();
  assert.deepEqual(d, { available: true }, `the JPEG decoder is unavailable: ${d.reason}`);
});

test("the seed's 575 faces decode to sharp's bytes", async () => {
  const { files } = await listDataSplit(CELEBA, 'all');
  assert.equal(files.length, 575);
  for (const file of files) {
    const bytes = await fs.readFile(file);
    assertSame(await native.decodeJpeg(bytes, 1e8), await sharpRGB(bytes), path.basename(file));
  }
});

test("JPEGs of odd sizes, every chroma subsampling, progressive and grey decode to sharp's bytes", async () => {
  const rng = new Rng(7);
  const sizes = [
    [1, 1],
    [2, 3],
    [17, 33],
    [151, 97],
    [64, 64],
  ];
  for (const [width, height] of sizes) {
    // smooth gradients plus seeded noise: the chroma upsampling and the IDCT both matter
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = (((i / 3) % width) * 5 + Math.floor(i / 3 / width) * 3 + (i % 3) * 60 + (rng.nextUint32() % 40)) & 255;
    const raw = { raw: { width, height, channels: 3 } };
    const variants = {
      '4:2:0 q75': { quality: 75, chromaSubsampling: '4:2:0' },
      '4:4:4 q95': { quality: 95, chromaSubsampling: '4:4:4' },
      'progressive q50': { quality: 50, progressive: true },
      'optimised coding q90': { quality: 90, optimiseCoding: true },
    };
    for (const [name, options] of Object.entries(variants)) {
      const bytes = await sharp(Buffer.from(rgb), raw).jpeg(options).toBuffer();
      assertSame(await native.decodeJpeg(bytes, 1e8), await sharpRGB(bytes), `${width}x${height} ${name}`);
    }
    const grey = await sharp(Buffer.from(rgb), raw).toColourspace('b-w').jpeg({ quality: 80 }).toBuffer();
    assert.equal((await sharp(grey).metadata()).channels, 1);
    assertSame(await native.decodeJpeg(grey, 1e8), await sharpRGB(grey), `${width}x${height} grey`);
  }
});

test('CMYK, truncated, non-JPEG and over-limit images are left to sharp with the reason; decodeRGB still decodes or refuses them as before', async () => {
  const bytes = await fs.readFile(path.join(CELEBA, 'all', 'man', (await fs.readdir(path.join(CELEBA, 'all', 'man')))[0]));
  const cmyk = await sharp(bytes).toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer();
  assert.deepEqual(await native.decodeJpeg(cmyk, 1e8), { why: 'not a YCbCr or grey JPEG' });
  assert.equal((await decodeRGB(cmyk)).data.length, 178 * 218 * 3); // sharp's path, by Pillow's formula

  const cut = bytes.subarray(0, bytes.length >> 1);
  assert.match((await native.decodeJpeg(cut, 1e8)).why, /^libjpeg warned: Premature end of JPEG file/);
  await assert.rejects(decodeRGB(cut, { name: 'cut.jpg' }), /cannot decode image cut.jpg: .*(truncated|Premature end)/i);

  assert.match((await native.decodeJpeg(Buffer.from('not a jpeg'), 1e8)).why, /^libjpeg: Not a JPEG file/);
  assert.deepEqual(await native.decodeJpeg(bytes, 178 * 218 - 1), { why: 'above the pixel limit' });
  assert.deepEqual(Object.keys(await native.decodeJpeg(bytes, 178 * 218)), ['data', 'width', 'height']);
});

test('decodeJpeg checks its arguments', () => {
  assert.throws(() => native.decodeJpeg('x.jpg', 1e8), /^TypeError: bytes must be a Uint8Array/);
  assert.throws(() => native.decodeJpeg(new Float32Array(4), 1e8), /^TypeError: bytes must be a Uint8Array/);
  assert.throws(() => native.decodeJpeg(new Uint8Array(4), 0), /^RangeError: maxPixels must be at least 1/);
});
