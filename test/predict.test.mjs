// `engine predict`: one line (or JSON) per image, EXIF orientation applied, annotated copies, bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { saveCheckpoint } from '../dist/src/store/checkpoint.js';
import { predict } from '../dist/src/predict/predict.js';
import { CELEBA, SHARED, rejectsInput, runCli, tempDir } from './helpers.mjs';

const TEST1 = path.join(SHARED, 'data/test1.jpg');

// Predictions need a model, not a good one: freshly initialised weights, saved as a checkpoint.
const cleanups = [];
after(() => Promise.all(cleanups.map((fn) => fn())));
let dir, weights, face;
before(async () => {
  dir = await tempDir({ after: (fn) => cleanups.push(fn) });
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, seed: 3 }));
  weights = path.join(dir, 'init.safetensors');
  const meta = { spec: SEED7, config: {}, classes: ['man', 'woman'], epoch: 0, step: 0 };
  await saveCheckpoint(weights, { meta, layout: trainer.paramLayout(), params: trainer.getParams() });
  trainer.dispose();
  const women = path.join(CELEBA, 'val/woman');
  face = path.join(women, (await fs.readdir(women)).sort()[0]);
});

const raw = (file) => sharp(file).raw().toBuffer({ resolveWithObject: true });

test('one line per image: <file>: <class> (p = 0.xxxx); --json has every class score', async () => {
  const r = await runCli(['predict', TEST1, face, '--weights', weights]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0], new RegExp(`^${TEST1.replace(/[.]/g, '\\.')}: (man|woman) \\(p = (0\\.[5-9]\\d{3}|1\\.0000)\\)$`));
  assert.ok(lines[1].startsWith(`${face}: `));

  const j = await runCli(['predict', TEST1, '--weights', weights, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const [p] = JSON.parse(j.stdout);
  assert.equal(p.file, TEST1);
  assert.equal(p.probability, p.scores[p.class]);
  assert.ok(Math.abs(p.scores.man + p.scores.woman - 1) < 1e-6);
  assert.equal(p.class, p.scores.woman > 0.5 ? 'woman' : 'man');
  assert.equal(lines[0], `${TEST1}: ${p.class} (p = ${p.probability.toFixed(4)})`);
});

test('EXIF orientation is applied before classifying', async (t) => {
  const tmp = await tempDir(t);
  const upright = await raw(face); // 178 x 218
  const { width, height } = upright.info;
  // `tagged` stores the pixels turned a quarter left, with orientation 6 (turn right to display):
  // shown upright, it is the original face again.
  const tagged = path.join(tmp, 'tagged.jpg');
  await sharp(await sharp(face).rotate(270).jpeg({ quality: 100 }).toBuffer()).withMetadata({ orientation: 6 }).toFile(tagged);
  // the same pixels as the engine sees them: `shown` upright, `stored` as stored (both lossless)
  const shown = path.join(tmp, 'shown.png');
  const stored = path.join(tmp, 'stored.png');
  await sharp(tagged, { autoOrient: true }).png().toFile(shown);
  await sharp(tagged).png().toFile(stored);
  assert.deepEqual([(await sharp(shown).metadata()).width, (await sharp(shown).metadata()).height], [width, height]);

  const [a, b, c] = await predict({ images: [tagged, shown, stored], weights });
  assert.equal(a.scores.woman, b.scores.woman, 'the tagged file must be classified upright');
  assert.notEqual(a.scores.woman, c.scores.woman);

  // the annotated copy is upright too: the displayed size, not the stored one
  const out = path.join(tmp, 'tagged-annotated.jpg');
  const [annotated] = await predict({ images: [tagged], weights, annotate: out });
  assert.equal(annotated.annotated, out);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height, meta.format], [width, height, 'jpeg']);
});

test('--annotate writes a decodable copy of the same size with the label drawn on it', async (t) => {
  const tmp = await tempDir(t);
  const out = path.join(tmp, 'test1.annotated.jpg');
  const r = await runCli(['predict', TEST1, '--weights', weights, '--annotate', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /annotated: .*test1\.annotated\.jpg/);
  const [before, drawn] = [await raw(TEST1), await raw(out)];
  assert.deepEqual([drawn.info.width, drawn.info.height, drawn.info.channels], [before.info.width, before.info.height, 3]);
  // the label box (top left) changed a lot; the far corner only by JPEG re-encoding
  const diff = (x0, y0, w, h) => {
    let sum = 0;
    for (let y = y0; y < y0 + h; y++)
      for (let x = x0; x < x0 + w; x++) for (let c = 0; c < 3; c++) {
        const i = (y * before.info.width + x) * 3 + c;
        sum += Math.abs(before.data[i] - drawn.data[i]);
      }
    return sum / (w * h * 3);
  };
  assert.ok(diff(0, 0, 200, 30) > 30, `label box barely changed: ${diff(0, 0, 200, 30)}`);
  assert.ok(diff(400, 500, 200, 100) < 5, `the rest of the image changed: ${diff(400, 500, 200, 100)}`);

  // several images: a folder of <base>.annotated.<ext>, PNG for formats that are not kept
  const tiff = path.join(tmp, 'face.tiff');
  await sharp(face).tiff().toFile(tiff);
  const folder = path.join(tmp, 'out', 'nested');
  const preds = await predict({ images: [TEST1, tiff], weights, annotate: folder });
  assert.deepEqual(
    preds.map((p) => path.relative(folder, p.annotated)),
    ['test1.annotated.jpg', 'face.annotated.png'],
  );
  assert.equal((await sharp(path.join(folder, 'face.annotated.png')).metadata()).format, 'png');
});

test('a missing or undecodable image: exit 2 naming it; nothing annotated', async (t) => {
  const tmp = await tempDir(t);
  const missing = path.join(tmp, 'nope.jpg');
  const r = await runCli(['predict', missing, '--weights', weights, '--annotate', path.join(tmp, 'out')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /nope\.jpg/);
  assert.match(r.stderr, /does not exist/);
  await assert.rejects(fs.access(path.join(tmp, 'out')));

  const junk = path.join(tmp, 'junk.png');
  await fs.writeFile(junk, 'not a png');
  await rejectsInput(predict({ images: [TEST1, junk], weights }), 'cannot decode image', junk);
  await rejectsInput(predict({ images: [TEST1], model: path.join(tmp, 'none.onnx') }), 'model not found');
  const gpu = await runCli(['predict', TEST1, '--weights', weights, '--gpu']);
  assert.equal(gpu.code, 2);
  assert.match(gpu.stderr, /CUDA/);
});
