// The addon's batch loader (native/image: read, decode, fit in one pool job) against the reference path it
// speeds up, loadImageFor (decodeRGB + preprocess.ts' fitToInput): the same bytes, and every file it does not
// handle left to that path, which words the errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { native } from '../dist/src/native.js';
import { fitJpegFiles, loadImageFor, loadImagesInto } from '../dist/src/data/decode.js';
import { bytesPerImage } from '../dist/src/data/preprocess.js';
import { listDataSplit } from '../dist/src/data/dataset.js';
import { CELEBA, tempDir } from './helpers.mjs';

const LIMITS = { maxPixels: 16e6, maxBytes: 2 ** 30 };

/** Every 7th of the seed's faces (82 JPEGs of 178x218). */
async function someFaces() {
  const { files } = await listDataSplit(CELEBA, 'all');
  return files.filter((_, i) => i % 7 === 0);
}

async function reference(files, pre) {
  const bytes = bytesPerImage(pre);
  const out = new Uint8Array(files.length * bytes);
  for (let i = 0; i < files.length; i++) await loadImageFor(files[i], pre, out.subarray(i * bytes, (i + 1) * bytes));
  return out;
}

function assertSameImages(got, want, bytes, what) {
  const first = got.findIndex((v, i) => v !== want[i]);
  assert.equal(first, -1, `${what}: image ${Math.floor(first / bytes)}, byte ${first % bytes} differs (${got[first]} vs ${want[first]})`);
}

test("loadJpegFiles fits faces to the bytes of the JS reference: PIL's NEAREST down and up, grey, and none at the image's size", async () => {
  const files = await someFaces();
  const shapes = [
    { height: 150, width: 150, channels: 3, resize: 'pil-nearest' },
    { height: 48, width: 64, channels: 1, resize: 'pil-nearest' },
    { height: 301, width: 250, channels: 3, resize: 'pil-nearest' },
    { height: 7, width: 3, channels: 3, resize: 'pil-nearest' },
    { height: 218, width: 178, channels: 3, resize: 'none' },
    { height: 218, width: 178, channels: 1, resize: 'none' },
  ];
  for (const pre of shapes) {
    const what = `${pre.width}x${pre.height}x${pre.channels} ${pre.resize}`;
    const dst = new Uint8Array(files.length * bytesPerImage(pre));
    const done = await native.loadJpegFiles(files, dst, { ...pre, ...LIMITS });
    assert.deepEqual([...done], files.map(() => 1), what);
    assertSameImages(dst, await reference(files, pre), bytesPerImage(pre), what);
  }
});

test('loadJpegFiles leaves to the caller, untouched, every file it does not fit', async (t) => {
  const dir = await tempDir(t);
  const [face] = await someFaces();
  const bytes = await fs.readFile(face);
  const write = async (name, data) => {
    await fs.writeFile(path.join(dir, name), data);
    return path.join(dir, name);
  };
  const fifo = path.join(dir, 'pipe.jpg');
  execFileSync('mkfifo', [fifo]);
  const cases = {
    png: await write('a.png', await sharp(bytes).png().toBuffer()),
    'png named .jpg': await write('b.jpg', await sharp(bytes).png().toBuffer()),
    cmyk: await write('c.jpg', await sharp(bytes).toColourspace('cmyk').jpeg().toBuffer()),
    truncated: await write('d.jpg', bytes.subarray(0, bytes.length >> 1)),
    empty: await write('e.jpg', Buffer.alloc(0)),
    missing: path.join(dir, 'missing.jpg'),
    folder: dir,
    fifo,
  };
  const paths = [face, ...Object.values(cases)];
  const pre = { height: 20, width: 10, channels: 3, resize: 'pil-nearest' };
  const size = bytesPerImage(pre);
  const dst = new Uint8Array(paths.length * size).fill(77);
  const done = await native.loadJpegFiles(paths, dst, { ...pre, ...LIMITS });
  assert.deepEqual([...done], [1, ...Object.keys(cases).map(() => 0)], Object.keys(cases).join(', '));
  assert.ok(dst.subarray(size).every((v) => v === 77), 'a file left to the caller has its slot untouched');

  const over = async (shape) => [...(await native.loadJpegFiles([face], new Uint8Array(size), { ...pre, ...LIMITS, ...shape }))];
  assert.deepEqual(await over({ maxBytes: bytes.length }), [1]);
  assert.deepEqual(await over({ maxBytes: bytes.length - 1 }), [0], 'a file over maxBytes');
  assert.deepEqual(await over({ maxPixels: 178 * 218 - 1 }), [0], 'an image over maxPixels');
  assert.deepEqual(await over({ resize: 'none' }), [0], "another size under resize 'none'");
});

test('loadImagesInto: the loader where it can, the reference path for the rest (buffers, PNG), errors named by file or nameOf', async (t) => {
  const dir = await tempDir(t);
  const faces = (await someFaces()).slice(0, 12);
  const png = path.join(dir, 'face.png');
  await fs.writeFile(png, await sharp(await fs.readFile(faces[1])).png().toBuffer());
  const buffer = await fs.readFile(faces[2]);
  const inputs = [faces[0], png, buffer, ...faces.slice(3)];
  const pre = { height: 150, width: 150, channels: 3, resize: 'pil-nearest' };
  const size = bytesPerImage(pre);
  const dst = new Uint8Array(inputs.length * size);
  const loaded = [];
  await loadImagesInto(inputs, pre, dst, { onLoaded: (i) => loaded.push(i) });
  assert.deepEqual(loaded.sort((a, b) => a - b), inputs.map((_, i) => i));
  assertSameImages(dst, await reference(faces, pre), size, 'mixed inputs');

  const cut = path.join(dir, 'cut.jpg');
  await fs.writeFile(cut, buffer.subarray(0, 500));
  const one = [faces[0], cut, faces[3]];
  await assert.rejects(loadImagesInto(one, pre, new Uint8Array(one.length * size)), (err) => err.message.startsWith(`cannot decode image ${cut}:`));
  const bad = [faces[0], cut, Buffer.from('not an image'), faces[3]];
  const errors = new Map();
  await loadImagesInto(bad, pre, new Uint8Array(bad.length * size), { nameOf: (i) => `upload #${i}`, onError: (i, err) => errors.set(i, err.message) });
  assert.deepEqual([...errors.keys()].sort(), [1, 2]);
  assert.match(errors.get(1), new RegExp(`^cannot decode image ${cut}:`));
  assert.match(errors.get(2), /^cannot decode image upload #2: /);
});

test('fitJpegFiles steps aside where the loader does not apply: EXIF orientation, bilinear resize', async () => {
  const faces = (await someFaces()).slice(0, 2);
  const pre = { height: 8, width: 8, channels: 3, resize: 'pil-nearest' };
  const dst = new Uint8Array(2 * bytesPerImage(pre));
  assert.deepEqual([...(await fitJpegFiles(faces, pre, dst))], [1, 1]);
  assert.equal(await fitJpegFiles(faces, pre, dst, { autoOrient: true }), undefined);
  assert.equal(await fitJpegFiles(faces, { ...pre, resize: 'bilinear' }, dst), undefined);
});

test('loadJpegFiles checks its arguments', () => {
  const shape = { height: 2, width: 2, channels: 3, resize: 'pil-nearest', ...LIMITS };
  const dst = new Uint8Array(12);
  assert.throws(() => native.loadJpegFiles('a.jpg', dst, shape), /^TypeError: paths must be an array/);
  assert.throws(() => native.loadJpegFiles([1], dst, shape), /^TypeError: paths\[0\] must be a string/);
  assert.throws(() => native.loadJpegFiles(['a\0b'], dst, shape), /^RangeError: paths\[0\] holds a NUL/);
  assert.throws(() => native.loadJpegFiles(['a', 'b'], dst, shape), /^RangeError: dst must hold 24 bytes/);
  assert.throws(() => native.loadJpegFiles(['a'], new Float32Array(12), shape), /^TypeError: dst must be a Uint8Array/);
  assert.throws(() => native.loadJpegFiles(['a'], dst, { ...shape, channels: 2 }), /^RangeError: shape.channels must be 1 or 3/);
  assert.throws(() => native.loadJpegFiles(['a'], dst, { ...shape, resize: 'bilinear' }), /^RangeError: shape.resize must be 'pil-nearest' or 'none'/);
  assert.throws(() => native.loadJpegFiles(['a'], dst, { ...shape, maxPixels: 0 }), /^RangeError: shape.maxPixels must be at least 1/);
  assert.throws(() => native.loadJpegFiles(['a'], dst, { ...shape, maxBytes: -1 }), /^RangeError: shape.maxBytes must be a byte count/);
  assert.throws(() => native.loadJpegFiles(['a'], dst, null), /^TypeError: shape must be an object/);
});
