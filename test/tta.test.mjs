// Test-time flip averaging (--tta flip): mirrorImages / averageScores (data/tta.ts), and eval/predict averaging
// each image's scores with its mirror image's, as scoring mirrored copies of the files by hand does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { averageScores, mirrorImages } from '../dist/src/data/tta.js';
import { predict } from '../dist/src/predict/predict.js';
import { classDataset, trainClassModel } from './nclass.mjs';
import { runCli, tempDir } from './helpers.mjs';

test('mirrorImages flips each row of each image left-right, channels kept together; averageScores in float32', () => {
  // 2 images of 2x3 pixels, 2 channels
  const src = Uint8Array.from({ length: 2 * 2 * 3 * 2 }, (_, i) => i);
  const dst = mirrorImages(new Uint8Array(src.length), src, 2, 2, 3, 2);
  assert.deepEqual(Array.from(dst.subarray(0, 6)), [4, 5, 2, 3, 0, 1]);
  assert.deepEqual(Array.from(dst.subarray(18, 24)), [22, 23, 20, 21, 18, 19]);
  assert.deepEqual(mirrorImages(new Uint8Array(src.length), dst, 2, 2, 3, 2), src, 'twice is the identity');
  const avg = averageScores(Float32Array.of(0.1, 0.7), Float32Array.of(0.2, 0.3));
  assert.deepEqual(Array.from(avg), [Math.fround(Math.fround(0.1 + 0.2) * 0.5), Math.fround(Math.fround(Math.fround(0.7) + Math.fround(0.3)) * 0.5)].map(Math.fround));
});

test('predict and eval --tta flip: the mean of the scores of each image and of its mirror image', async (t) => {
  const classes = ['a', 'b', 'c'];
  const data = await classDataset(t, { classes, counts: { train: 6, val: 4 }, size: 20, seed: 4 });
  const dir = await tempDir(t);
  const { model, trainer } = await trainClassModel(data, path.join(dir, 'm'), { steps: 20 });
  trainer.dispose();
  const files = (await fs.readdir(path.join(data, 'val', 'a'))).map((f) => path.join(data, 'val', 'a', f));
  const mirrored = [];
  for (const f of files) {
    const m = path.join(dir, `flop-${path.basename(f)}`);
    await sharp(f).flop().toFile(m);
    mirrored.push(m);
  }
  const probs = (ps) => ps.map((p) => classes.map((c) => p.probabilities?.[c] ?? p.ranked.find((r) => r.class === c).probability));
  const plain = await predict({ images: files, model });
  const ofMirrors = await predict({ images: mirrored, model });
  const flipped = await predict({ images: files, model, tta: 'flip' });
  const [a, b, f] = [probs(plain), probs(ofMirrors), probs(flipped)];
  let moved = 0;
  for (let i = 0; i < files.length; i++)
    for (let k = 0; k < 3; k++) {
      assert.ok(Math.abs(f[i][k] - (a[i][k] + b[i][k]) / 2) < 1e-6, `${i},${k}: ${f[i][k]} vs ${a[i][k]} and ${b[i][k]}`);
      moved = Math.max(moved, Math.abs(f[i][k] - a[i][k]));
    }
  assert.ok(moved > 0, 'the mirror images score differently');
  const r = await runCli(['eval', 'val', '--data', data, '--model', model, '--tta', 'flip', '--json']);
  assert.equal(r.code, 0, r.stderr);
  // its accuracy is that of predict --tta flip over the 12 val images
  let correct = 0;
  for (const c of classes) {
    const all = (await fs.readdir(path.join(data, 'val', c))).map((f) => path.join(data, 'val', c, f));
    correct += (await predict({ images: all, model, tta: 'flip' })).filter((p) => p.ranked[0].class === c).length;
  }
  assert.equal(JSON.parse(r.stdout).accuracy, correct / 12);
  const bad = await runCli(['eval', 'val', '--data', data, '--model', model, '--tta', 'rotate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--tta/);
});
