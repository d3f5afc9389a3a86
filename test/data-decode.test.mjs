import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { IMAGE_SIZE, decodeRGB, loadImage150, loadSplit, resizeNearestPIL } from '../dist/src/data/decode.js';
import { listSplit } from '../dist/src/data/discover.js';
import { rejectsInput, tempDir } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARED_DATA = path.resolve(here, '../../shared/data');
const CELEBA = path.join(SHARED_DATA, 'celeba-575');
const FIXTURE = JSON.parse(await fs.readFile(path.join(here, 'fixtures/pil-nearest.json'), 'utf8'));
const A_JPEG = path.join(CELEBA, 'train/man/121211.jpg');

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** Resizes a 1-row, 1-channel image whose pixel values are their own indices: returns the picked indices. */
function picked(src, dst) {
  const out = new Uint8Array(dst);
  resizeNearestPIL(out, Uint8Array.from({ length: src }, (_, i) => i), src, 1, dst, 1, 1);
  return [...out];
}

test('resizeNearestPIL picks the source indices PIL NEAREST picks', () => {
  assert.deepEqual(picked(5, 3), [0, 2, 4]); // centres 0.83, 2.5, 4.17
  assert.deepEqual(picked(3, 5), [0, 0, 1, 2, 2]); // centres 0.3, 0.9, 1.5, 2.1, 2.7
  assert.deepEqual(picked(4, 4), [0, 1, 2, 3]);
  // Centre 3 lands on exactly 1.0; PIL's running sum gives 0.99999..., so index 0 (checked against Pillow 9.4).
  assert.deepEqual(picked(2, 7), [0, 0, 0, 0, 1, 1, 1]);
});

test('resizeNearestPIL maps rows and columns independently and copies whole pixels (HWC)', () => {
  // 5 wide x 3 high, 3 channels; pixel (y, x) = [y, x, 10 * y + x].
  const src = new Uint8Array(5 * 3 * 3);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) src.set([y, x, 10 * y + x], (y * 5 + x) * 3);
  const dst = new Uint8Array(3 * 5 * 3);
  resizeNearestPIL(dst, src, 5, 3, 3, 5);
  const rows = [0, 0, 1, 2, 2];
  const cols = [0, 2, 4];
  const expected = rows.flatMap((y) => cols.flatMap((x) => [y, x, 10 * y + x]));
  assert.deepEqual([...dst], expected);
});

for (const ref of FIXTURE.images) {
  test(`decode + resize is bit-exact with PIL: ${ref.file}`, async () => {
    const img = await loadImage150(path.join(SHARED_DATA, ref.file));
    assert.equal(img.length, FIXTURE.size * FIXTURE.size * 3);
    for (const { y, x, rgb } of ref.pixels) {
      const o = (y * IMAGE_SIZE + x) * 3;
      assert.deepEqual([...img.subarray(o, o + 3)], rgb, `pixel (${y}, ${x})`);
    }
    assert.equal(sha256(img), ref.sha256);
  });
}

test('decodeRGB returns 3 channels: grey replicated, alpha dropped without compositing', async (t) => {
  const dir = await tempDir(t);
  const grey = path.join(dir, 'grey.png');
  await sharp(Buffer.from([0, 100, 200, 255]), { raw: { width: 2, height: 2, channels: 1 } }).png().toFile(grey);
  const g = await decodeRGB(grey);
  assert.deepEqual([g.width, g.height], [2, 2]);
  assert.deepEqual([...g.data], [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);

  const rgba = path.join(dir, 'rgba.png');
  await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 128]), { raw: { width: 2, height: 1, channels: 4 } }).png().toFile(rgba);
  const c = await decodeRGB(rgba);
  assert.deepEqual([...c.data], [10, 20, 30, 40, 50, 60]); // as PIL's convert('RGB'): transparent pixels keep their colour
});

test('decodeRGB ignores EXIF orientation unless autoOrient is set', async (t) => {
  const file = path.join(await tempDir(t), 'rotated.jpg');
  await sharp({ create: { width: 8, height: 4, channels: 3, background: '#808080' } }).jpeg().withMetadata({ orientation: 6 }).toFile(file);
  const plain = await decodeRGB(file);
  assert.deepEqual([plain.width, plain.height], [8, 4]);
  const oriented = await decodeRGB(file, { autoOrient: true });
  assert.deepEqual([oriented.width, oriented.height], [4, 8]);
});

test('decodeRGB reads uncompressed BMP (24-bit bottom-up and 8-bit palette)', async (t) => {
  const dir = await tempDir(t);
  const bmp = (bpp, palette, rows) => {
    const stride = Math.ceil((bpp * 2) / 32) * 4;
    const offset = 54 + palette.length;
    const buf = Buffer.alloc(offset + stride * rows.length);
    buf.write('BM', 0, 'latin1');
    buf.writeUInt32LE(buf.length, 2);
    buf.writeUInt32LE(offset, 10);
    buf.writeUInt32LE(40, 14);
    buf.writeInt32LE(2, 18); // width
    buf.writeInt32LE(rows.length, 22); // positive height: bottom row first
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(bpp, 28);
    buf.set(palette, 54);
    rows.forEach((row, i) => buf.set(row, offset + (rows.length - 1 - i) * stride));
    return buf;
  };
  const f24 = path.join(dir, 'a.bmp');
  // BGR order on disk; top row red, blue; bottom row green, white.
  await fs.writeFile(f24, bmp(24, [], [[0, 0, 255, 255, 0, 0], [0, 255, 0, 255, 255, 255]]));
  const a = await decodeRGB(f24);
  assert.deepEqual([a.width, a.height], [2, 2]);
  assert.deepEqual([...a.data], [255, 0, 0, 0, 0, 255, 0, 255, 0, 255, 255, 255]);

  const f8 = path.join(dir, 'p.bmp');
  const palette = new Uint8Array(256 * 4);
  palette.set([30, 20, 10, 0], 1 * 4); // entry 1 = rgb(10, 20, 30)
  palette.set([3, 2, 1, 0], 7 * 4); // entry 7 = rgb(1, 2, 3)
  await fs.writeFile(f8, bmp(8, palette, [[7, 1]]));
  const p = await decodeRGB(f8);
  assert.deepEqual([...p.data], [1, 2, 3, 10, 20, 30]);

  const cut = path.join(dir, 'cut.bmp');
  await fs.writeFile(cut, (await fs.readFile(f24)).subarray(0, 60));
  await rejectsInput(decodeRGB(cut), cut, 'truncated BMP');
});

test('broken files are input errors naming the file and the reason', async (t) => {
  const dir = await tempDir(t);
  const truncated = path.join(dir, 'truncated.jpg');
  await fs.writeFile(truncated, (await fs.readFile(A_JPEG)).subarray(0, 3000));
  await rejectsInput(decodeRGB(truncated), truncated, 'premature end');

  const empty = path.join(dir, 'empty.jpg');
  await fs.writeFile(empty, '');
  await rejectsInput(decodeRGB(empty), empty, 'empty');

  const text = path.join(dir, 'x.jpg');
  await fs.writeFile(text, 'this is not a picture\n');
  await rejectsInput(loadImage150(text), text, 'unsupported image format');

  const missing = path.join(dir, 'missing.jpg');
  await rejectsInput(decodeRGB(missing), missing, 'does not exist');
});

test('loadSplit decodes a split into one contiguous buffer in listing order', async () => {
  const listing = await listSplit(path.join(CELEBA, 'val'));
  const calls = [];
  const set = await loadSplit(listing, { concurrency: 4, onProgress: (done, total) => calls.push([done, total]) });
  assert.equal(set.size, 75);
  assert.deepEqual(set.files, listing.files);
  assert.deepEqual([...set.labels], [...listing.labels]);
  assert.deepEqual(set.classes, ['man', 'woman']);
  assert.deepEqual(set.skipped, []);
  assert.equal(set.images.length, 75 * IMAGE_SIZE * IMAGE_SIZE * 3);
  assert.equal(calls.length, 75);
  assert.deepEqual(calls.at(-1), [75, 75]);
  const bytes = IMAGE_SIZE * IMAGE_SIZE * 3;
  for (const k of [0, 22, 23, 74]) {
    assert.deepEqual(set.images.subarray(k * bytes, (k + 1) * bytes), await loadImage150(listing.files[k]), `image ${k}`);
  }
});

test('loadSplit fails on a bad image, or skips it with skipBadImages', async (t) => {
  const dir = await tempDir(t);
  await fs.mkdir(path.join(dir, 'a'));
  await fs.mkdir(path.join(dir, 'b'));
  const good1 = path.join(dir, 'a/1.jpg');
  const bad = path.join(dir, 'a/2.jpg');
  const good2 = path.join(dir, 'b/1.jpg');
  await fs.copyFile(A_JPEG, good1);
  await fs.writeFile(bad, 'not a jpeg');
  await fs.copyFile(path.join(CELEBA, 'train/woman/121194.jpg'), good2);
  const listing = await listSplit(dir);

  await rejectsInput(loadSplit(listing), bad);

  const set = await loadSplit(listing, { skipBadImages: true, concurrency: 2 });
  assert.deepEqual(set.skipped, [bad]);
  assert.equal(set.size, 2);
  assert.deepEqual(set.files, [good1, good2]);
  assert.deepEqual([...set.labels], [0, 1]);
  assert.equal(set.images.length, 2 * IMAGE_SIZE * IMAGE_SIZE * 3);
  assert.deepEqual(set.images.subarray(IMAGE_SIZE * IMAGE_SIZE * 3), await loadImage150(good2));
});

test('only the README formats are decoded, whatever the name: an SVG or AVIF named .jpg is refused naming the file', async (t) => {
  const dir = await tempDir(t);
  const svg = path.join(dir, 'face.jpg');
  await fs.writeFile(svg, '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><filter id="b"><feGaussianBlur stdDeviation="500"/></filter><rect width="64" height="64" filter="url(#b)"/></svg>');
  await rejectsInput(decodeRGB(svg), 'face.jpg', 'SVG', 'JPEG, PNG, BMP, TIFF or WebP');
  const avif = path.join(dir, 'photo.png');
  await fs.writeFile(avif, await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).avif().toBuffer());
  await rejectsInput(decodeRGB(avif), 'photo.png', 'HEIF');
  const gif = path.join(dir, 'anim.jpg');
  await fs.writeFile(gif, await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).gif().toBuffer());
  await rejectsInput(decodeRGB(gif), 'anim.jpg', 'GIF');
  // the listed ones still decode
  const webp = path.join(dir, 'ok.webp');
  await fs.writeFile(webp, await sharp({ create: { width: 8, height: 8, channels: 3, background: '#102030' } }).webp({ lossless: true }).toBuffer());
  assert.deepEqual([...(await decodeRGB(webp)).data.subarray(0, 3)], [0x10, 0x20, 0x30]);
});
