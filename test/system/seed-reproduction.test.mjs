// The seed's published table from the seed's own Keras weights: import, export to ONNX, evaluate (SPEC §2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CELEBA, SHARED, runCli, tempDir } from '../helpers.mjs';
import { rankedAveragePrecision, averagePrecision } from '../../dist/src/eval/metrics.js';
import { sigmoidFloat32 } from '../../dist/src/eval/session.js';

test('weights70.h5 reproduces 569/575, 497/500, 72/75 and the reference AP/AUC on val, via --model and --weights', async (t) => {
  const dir = await tempDir(t);
  const ckpt = path.join(dir, 'weights70.safetensors');
  const model = path.join(dir, 'seed70.onnx');
  const imported = await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', ckpt]);
  assert.equal(imported.code, 0, imported.stderr);
  const exported = await runCli(['export', 'onnx', '--weights', ckpt, '-o', model]);
  assert.equal(exported.code, 0, exported.stderr);

  const evalJson = async (split, source) => {
    const r = await runCli(['eval', split, '--data', CELEBA, ...source, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  for (const [split, correct, images] of [['all', 569, 575], ['train', 497, 500], ['val', 72, 75]]) {
    const r = await evalJson(split, ['--model', model]);
    assert.deepEqual([r.correct, r.images], [correct, images], split);
  }
  for (const source of [['--model', model], ['--weights', ckpt]]) {
    const r = await evalJson('val', source);
    const pct = (x) => (x * 100).toFixed(2);
    assert.equal(pct(r.rankedAveragePrecision.woman), '92.72');
    assert.equal(pct(r.rankedAveragePrecision.man), '96.15');
    assert.equal(pct(r.rankedMAP), '94.44');
    assert.equal(r.rocAuc.toFixed(4), '0.9603');
  }
});

test('ranked AP keeps equal scores in input order; tie-grouped AP does not depend on it', () => {
  // three tied at 0.9: negative listed first, then two positives; then a positive at 0.5
  const scores = [0.9, 0.9, 0.9, 0.5];
  const labels = [0, 1, 1, 1];
  // ranks 2, 3, 4 hold the positives: (1/2 + 2/3 + 3/4) / 3
  assert.equal(rankedAveragePrecision(scores, labels), (1 / 2 + 2 / 3 + 3 / 4) / 3);
  // the negative listed last among the ties: ranks 1, 2, 4
  assert.equal(rankedAveragePrecision([0.9, 0.9, 0.9, 0.5], [1, 1, 0, 1]), (1 + 1 + 3 / 4) / 3);
  // grouped: recall 2/3 at precision 2/3, then 1 at 3/4, whichever order
  const grouped = (2 / 3) * (2 / 3) + (1 / 3) * (3 / 4);
  assert.ok(Math.abs(averagePrecision(scores, labels) - grouped) < 1e-15);
  assert.ok(Math.abs(averagePrecision([0.9, 0.9, 0.9, 0.5], [1, 1, 0, 1]) - grouped) < 1e-15);
});

test('sigmoidFloat32 is the float32 evaluation of 1/(1+exp(-z)), saturating at exactly 1', () => {
  assert.equal(sigmoidFloat32(0), 0.5);
  assert.equal(sigmoidFloat32(17), 1);
  assert.ok(sigmoidFloat32(15) < 1);
  assert.equal(sigmoidFloat32(2), Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(-2)))));
  assert.equal(sigmoidFloat32(-200), 0);
});
