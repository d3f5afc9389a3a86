// `engine cv`: stratified, seeded folds (data/folds.ts); K runs of one recipe scored on the fold each left out;
// mean and standard deviation of accuracy, macro AP and ROC AUC, per seed with --seeds; cv.json and --json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { stratifiedFolds } from '../dist/src/data/folds.js';
import { crossValidate, meanStd } from '../dist/src/workflows/cv.js';
import { UsageError } from '../dist/src/errors.js';
import { fashionSlice } from './fmnist.mjs';
import { rng, runCli, tempDir } from './helpers.mjs';

test('stratifiedFolds: every class dealt evenly to the folds, seeded, refused below one image per fold', () => {
  const r = rng(7);
  const labels = Uint8Array.from({ length: 103 }, () => Math.floor(r() * 3));
  const folds = stratifiedFolds(labels, 5, 1);
  const sizes = [0, 1, 2, 3, 4].map((k) => folds.filter((f) => f === k).length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes}`);
  for (let c = 0; c < 3; c++) {
    const perFold = [0, 1, 2, 3, 4].map((k) => labels.filter((l, i) => l === c && folds[i] === k).length);
    assert.ok(Math.max(...perFold) - Math.min(...perFold) <= 1, `class ${c}: ${perFold}`);
  }
  assert.deepEqual(stratifiedFolds(labels, 5, 1), folds, 'the same seed deals the same folds');
  assert.notDeepEqual(stratifiedFolds(labels, 5, 2), folds);
  assert.throws(() => stratifiedFolds(Uint8Array.of(0, 0, 0, 1, 1), 3, 1, ['a', 'b']), (e) => e instanceof UsageError && e.message === "--folds 3: class 'b' has 2 images; every class needs at least one in each fold");
});

test('meanStd: the mean and the sample standard deviation', () => {
  assert.deepEqual(meanStd([0.5]), { mean: 0.5, std: 0 });
  const { mean, std } = meanStd([1, 2, 3, 4]);
  assert.equal(mean, 2.5);
  assert.ok(Math.abs(std - Math.sqrt(5 / 3)) < 1e-15);
});

test('crossValidate: 2 folds of fmnist-res on 300 images, each scored on the images it left out', async (t) => {
  const data = await fashionSlice(t, { train: 300, test: 10 });
  const out = path.join(await tempDir(t), 'cv');
  const s = await crossValidate({ data, arch: 'fmnist-res', epochs: 1, folds: 2, seed: 4, out, threads: 2, cache: false });
  assert.equal(s.images, 300);
  assert.equal(s.results.length, 2);
  assert.deepEqual(s.results.map((r) => r.images + r.trainImages), [300, 300]);
  assert.equal(s.results[0].images + s.results[1].images, 300);
  for (const r of s.results) {
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1 && r.macroAP > 0 && r.rocAuc > 0.5, JSON.stringify(r));
    assert.ok(Math.abs(r.accuracy * r.images - Math.round(r.accuracy * r.images)) < 1e-9, 'a share of the left-out images');
    const run = JSON.parse(await fs.readFile(path.join(r.runDir, 'run.json'), 'utf8'));
    assert.deepEqual(run.validation, { source: 'fold', fold: r.fold, folds: 2, seed: 4 });
  }
  assert.deepEqual(s.accuracy, meanStd(s.results.map((r) => r.accuracy)));
  const record = JSON.parse(await fs.readFile(path.join(out, 'cv.json'), 'utf8'));
  assert.deepEqual(record.accuracy, s.accuracy);
  assert.equal(record.results.length, 2);
});

test('engine cv --seeds 1,2 --json: a cross-validation per seed, the summary on stdout; bad flags exit 2', async (t) => {
  const data = await fashionSlice(t, { train: 120, test: 10 });
  const out = path.join(await tempDir(t), 'cv');
  const r = await runCli(['cv', '--data', data, '--arch', 'fmnist-res', '--epochs', '1', '--folds', '2', '--seeds', '1,2', '--out', out, '--json', '--no-cache']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(s.results.map((x) => [x.seed, x.fold]), [[1, 1], [1, 2], [2, 1], [2, 2]]);
  assert.deepEqual(s.perSeed.map((p) => p.seed), [1, 2]);
  assert.ok(Math.abs(s.perSeed[0].accuracy - (s.results[0].accuracy + s.results[1].accuracy) / 2) < 1e-12);
  const bad = await runCli(['cv', '--data', data, '--folds', '1', '--no-fetch']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--folds must be an integer in \[2, 100\], got 1/);
  const both = await runCli(['cv', '--data', data, '--seed', '1', '--seeds', '1,2', '--no-fetch']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--seed and --seeds both given/);
});
