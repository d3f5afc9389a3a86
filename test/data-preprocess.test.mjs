// A model's input from an image: grey (PIL's convert('L')) or RGB, resized by the model's rule (pil-nearest,
// bilinear, none), byte for byte as PIL does it (test/fixtures/pil-resize.json, from scripts/fixtures/pil_resize.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import {
  bytesPerImage,
  describePreprocess,
  fitToInput,
  preprocessOf,
  resizeBilinearPIL,
  rgbToGreyPIL,
  SEED_PREPROCESS,
} from '../dist/src/data/preprocess.js';
import { loadImage150, loadImageFor } from '../dist/src/data/decode.js';
import { loadSplit } from '../dist/src/data/decode.js';
import { listSplit } from '../dist/src/data/discover.js';
import { FMNIST_CNN, SEED7 } from '../dist/src/model/spec.js';
import { ROOT, SHARED, rejectsInput, tempDir } from './helpers.mjs';

const fixture = JSON.parse(await fs.readFile(path.join(ROOT, 'test/fixtures/pil-resize.json'), 'utf8'));
const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));
const sha = (a) => createHash('sha256').update(a).digest('hex');

test("rgbToGreyPIL is PIL's convert('L'): (19595 R + 38470 G + 7471 B + 0x8000) >> 16; grey stays grey", () => {
  for (const img of fixture.synthetic.filter((s) => s.channels === 3)) {
    const n = img.width * img.height;
    const grey = new Uint8Array(n);
    rgbToGreyPIL(grey, bytes(img.pixels), n);
    assert.deepEqual(grey, bytes(img.grey), `${img.width}x${img.height}`);
  }
  // every grey value replicated to RGB comes back unchanged
  const rgb = new Uint8Array(256 * 3).map((_, i) => Math.floor(i / 3));
  const back = new Uint8Array(256);
  rgbToGreyPIL(back, rgb, 256);
  assert.deepEqual(back, Uint8Array.from({ length: 256 }, (_, i) => i));
});

test("resizeBilinearPIL is PIL's Image.BILINEAR, byte for byte, up and down, grey and RGB", () => {
  let checked = 0;
  for (const img of fixture.synthetic) {
    for (const out of img.bilinear) {
      const dst = new Uint8Array(out.width * out.height * img.channels);
      resizeBilinearPIL(dst, bytes(img.pixels), img.width, img.height, out.width, out.height, img.channels);
      assert.deepEqual(dst, bytes(out.pixels), `${img.width}x${img.height}x${img.channels} -> ${out.width}x${out.height}`);
      checked++;
    }
  }
  assert.ok(checked >= 20);
});

test("a file as a grey or RGB input, resized bilinear or nearest, equals PIL's convert then resize", async () => {
  const { file, outputs } = fixture.real;
  for (const o of outputs) {
    const pre = { height: o.height, width: o.width, channels: o.mode === 'L' ? 1 : 3, resize: o.rule === 'nearest' ? 'pil-nearest' : 'bilinear' };
    const dst = await loadImageFor(path.join(SHARED, 'data', file), pre, new Uint8Array(bytesPerImage(pre)));
    assert.equal(sha(dst), o.sha256, `${o.mode} ${o.rule ?? 'bilinear'} ${o.width}x${o.height}`);
  }
  // the seed's preprocessing is loadImage150's, and its description (the image cache's key) is unchanged
  const f = path.join(SHARED, 'data', file);
  assert.deepEqual(await loadImageFor(f, SEED_PREPROCESS, new Uint8Array(67500)), await loadImage150(f));
  assert.equal(describePreprocess(SEED_PREPROCESS), 'rgb8 pil-nearest 150x150 hwc');
  assert.deepEqual(preprocessOf(SEED7), SEED_PREPROCESS);
  assert.deepEqual(preprocessOf(FMNIST_CNN), { height: 28, width: 28, channels: 1, resize: 'none' });
});

test("rule 'none': an image of the model's size passes as it is; another size names the image and both sizes", async (t) => {
  const img = { data: Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => i), width: 4, height: 3, channels: 3 };
  const pre = { height: 3, width: 4, channels: 3, resize: 'none' };
  assert.deepEqual(fitToInput(img, pre, new Uint8Array(36), 'x.png'), img.data);
  // grey to RGB repeats the value; RGB to grey is the luma
  const grey = fitToInput({ data: Uint8Array.of(7, 9), width: 2, height: 1, channels: 1 }, { height: 1, width: 2, channels: 3, resize: 'none' }, new Uint8Array(6), 'g');
  assert.deepEqual(grey, Uint8Array.of(7, 7, 7, 9, 9, 9));
  assert.throws(
    () => fitToInput(img, { ...pre, width: 5 }, new Uint8Array(45), 'dir/x.png'),
    (e) => e.exitCode === 2 && e.message === "dir/x.png: the image is 4x3, but the model takes 5x3 images as they are (resize rule 'none')",
  );
  // through a split: a file of another size stops the load, named
  const dir = await tempDir(t);
  const face = path.join(SHARED, 'data', fixture.real.file);
  for (const cls of ['a', 'b']) await fs.mkdir(path.join(dir, cls));
  await fs.copyFile(face, path.join(dir, 'a', 'face.jpg'));
  await sharp({ create: { width: 28, height: 28, channels: 3, background: '#408020' } }).png().toFile(path.join(dir, 'b', 'square.png'));
  const listing = await listSplit(dir);
  await rejectsInput(loadSplit(listing, { preprocess: { height: 28, width: 28, channels: 1, resize: 'none' } }), path.join(dir, 'a', 'face.jpg'), 'is 178x218', "resize rule 'none'");
  const set = await loadSplit(listing, { preprocess: { height: 28, width: 28, channels: 1, resize: 'bilinear' } });
  assert.deepEqual(set.shape, [28, 28, 1]);
  assert.equal(set.images.length, 2 * 784);
  assert.equal(sha(set.images.subarray(0, 784)), fixture.real.outputs[0].sha256);
  // the 28x28 square as it is, its colour as PIL's luma: (19595 * 64 + 38470 * 128 + 7471 * 32 + 32768) >> 16 = 98
  assert.ok(set.images.subarray(784).every((v) => v === 98));
});
