// The evaluation figures against hand-computed cases and against scikit-learn (test/fixtures/metrics-sklearn.json,
// written by scripts/fixtures/metrics_sklearn.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { binaryMetrics, classificationMetrics } from '../dist/src/eval/class-metrics.js';
import {
  accuracy,
  averagePrecision,
  classFigures,
  confusionMatrix,
  prCurve,
  rocAuc,
  rankedAveragePrecision,
  rocCurve,
  wilsonInterval,
} from '../dist/src/eval/metrics.js';
import { ROOT, rng } from './helpers.mjs';

const close = (a, b, tol = 1e-12, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} != ${b}`);

test('the classic 4-point case: AP 5/6 per class, AUC 0.75, the ROC and PR points', () => {
  const s = [0.1, 0.4, 0.35, 0.8];
  const y = [0, 0, 1, 1];
  close(averagePrecision(s, y), 5 / 6);
  // negative class from 1 - s: 0.9(+) 0.65(-) 0.6(+) 0.2(-) -> 1/2 * 1 + 1/2 * 2/3
  close(averagePrecision(s.map((v) => 1 - v), y.map((v) => 1 - v)), 5 / 6);
  close(rocAuc(s, y), 0.75);
  assert.deepEqual(
    rocCurve(s, y).map((p) => [p.fpr, p.tpr, p.threshold]),
    [
      [0, 0, null],
      [0, 0.5, 0.8],
      [0.5, 0.5, 0.4],
      [0.5, 1, 0.35],
      [1, 1, 0.1],
    ],
  );
  assert.deepEqual(
    prCurve(s, y).map((p) => [p.recall, p.precision]),
    [
      [0, 1],
      [0.5, 1],
      [0.5, 0.5],
      [1, 2 / 3],
      [1, 0.5],
    ],
  );
});

test('tied scores form one operating point, whatever their order', () => {
  // groups 0.9 {+}, 0.6 {-, +}, 0.2 {-}: AP = 1/2 * 1 + 1/2 * 2/3; AUC = (2 + 1.5) / 4
  for (const [s, y] of [
    [[0.9, 0.6, 0.6, 0.2], [1, 0, 1, 0]],
    [[0.9, 0.6, 0.6, 0.2], [1, 1, 0, 0]],
    [[0.2, 0.6, 0.9, 0.6], [0, 1, 1, 0]],
  ]) {
    close(averagePrecision(s, y), 5 / 6, 1e-12, `AP of ${y}`);
    close(rocAuc(s, y), 0.875, 1e-12, `AUC of ${y}`);
  }
  // all tied: a single point at precision 1/2, recall 1; AUC 1/2
  close(averagePrecision([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]), 0.5);
  close(rocAuc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]), 0.5);
});

test('accuracy and the confusion matrix follow Keras round(): 0.5 is negative', () => {
  const s = [0.5, 0.51, 0.49, 0.9, 0.1, 0.7];
  const y = [0, 1, 0, 0, 1, 1];
  const c = confusionMatrix(s, y, ['man', 'woman']);
  assert.deepEqual(c, { classes: ['man', 'woman'], matrix: [[2, 1], [1, 2]] });
  close(accuracy(s, y), 4 / 6);
  close(accuracy(s, y, 0.8), 2 / 6); // only 0.9 (a man) stays positive: the two men under 0.8 are right
  const f = classFigures(c);
  assert.deepEqual(f.man, { precision: 2 / 3, recall: 2 / 3, support: 3 });
  assert.deepEqual(f.woman, { precision: 2 / 3, recall: 2 / 3, support: 3 });
  // a class never predicted has no precision (NaN), not a made-up 0
  assert.ok(Number.isNaN(classFigures(confusionMatrix([0.9, 0.8], [0, 1], ['a', 'b'])).a.precision));
});

test('binaryMetrics: per-class AP from s and 1 - s, their mean, and the AUC, as in SPEC §2', () => {
  const s = [0.1, 0.4, 0.35, 0.8, 0.65];
  const y = [0, 0, 1, 1, 0];
  const m = binaryMetrics(s, y, ['man', 'woman']);
  close(m.averagePrecision.woman, averagePrecision(s, y));
  close(m.averagePrecision.man, averagePrecision(s.map((v) => 1 - v), y.map((v) => 1 - v)));
  close(m.mAP, (m.averagePrecision.man + m.averagePrecision.woman) / 2);
  assert.equal(m.correct, 3);
  assert.equal(m.images, 5);
  close(m.rocAuc, rocAuc(s, y));
  assert.notEqual(m.averagePrecision.man, m.averagePrecision.woman);
});

test('the ROC AUC is the trapezoidal area under the ROC curve (random scores with ties)', () => {
  const r = rng(11);
  const y = Array.from({ length: 300 }, () => (r() < 0.4 ? 1 : 0));
  const s = y.map((v) => Math.round((r() + v * 0.3) * 20) / 20);
  const roc = rocCurve(s, y);
  let area = 0;
  for (let i = 1; i < roc.length; i++) area += ((roc[i].fpr - roc[i - 1].fpr) * (roc[i].tpr + roc[i - 1].tpr)) / 2;
  close(rocAuc(s, y), area, 1e-12);
});

test('undefined figures are NaN, malformed input throws', () => {
  assert.ok(Number.isNaN(averagePrecision([0.1, 0.2], [0, 0])));
  assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [1, 1])));
  assert.throws(() => rocAuc([0.1, 0.2], [1]), RangeError);
  assert.throws(() => averagePrecision([0.1, 0.2], [1, 2]), RangeError);
  assert.throws(() => accuracy([NaN], [1]), RangeError);
});

test('AP and AUC equal scikit-learn on random scores with many ties', async () => {
  const fixture = JSON.parse(await fs.readFile(path.join(ROOT, 'test/fixtures/metrics-sklearn.json'), 'utf8'));
  assert.ok(fixture.cases.length >= 5);
  for (const [i, c] of fixture.cases.entries()) {
    const m = binaryMetrics(c.scores, c.labels, ['neg', 'pos']);
    close(m.averagePrecision.pos, c.apPositive, 1e-12, `case ${i} AP(pos)`);
    close(m.averagePrecision.neg, c.apNegative, 1e-12, `case ${i} AP(neg)`);
    close(m.rocAuc, c.rocAuc, 1e-12, `case ${i} AUC`);
    close(m.accuracy, c.accuracy, 1e-12, `case ${i} accuracy`);
  }
});

const Z = 1.959963984540054;
const pct = (x, d = 2) => `${(x * 100).toFixed(d)}%`;

test('wilsonInterval: both ends solve (p^ - p)^2 = z^2 p (1 - p) / n; 0/n and n/n end at 0 and 1', () => {
  for (const [k, n] of [[72, 75], [1, 10], [37, 40], [5, 5], [0, 8]]) {
    const [lo, hi] = wilsonInterval(k, n);
    assert.ok(lo <= k / n && k / n <= hi, `${k}/${n}: [${lo}, ${hi}]`);
    for (const p of [lo, hi]) {
      if ((p === 0 && k === 0) || (p === 1 && k === n)) continue;
      assert.ok(Math.abs((k / n - p) ** 2 - (Z * Z * p * (1 - p)) / n) < 1e-12, `${k}/${n} end ${p}`);
    }
  }
  assert.deepEqual(wilsonInterval(0, 8).map((x) => +x.toFixed(12)), [0, +((Z * Z) / (8 + Z * Z)).toFixed(12)]);
  assert.equal(wilsonInterval(5, 5)[1], 1);
  const [lo, hi] = wilsonInterval(72, 75);
  assert.equal(pct(lo, 1), '88.9%');
  assert.equal(pct(hi, 1), '98.6%');
  assert.ok(wilsonInterval(0, 0).every(Number.isNaN));
});

test('the ranking is a stable sort by descending score: ties in input order, -0 one score with 0, infinities at the ends', () => {
  // rankedAveragePrecision charges a tie to the images listed first, so it sees the exact order
  const reference = (s, y) => {
    const order = s.map((_, i) => i).sort((a, b) => s[b] - s[a] || a - b);
    let tp = 0;
    let sum = 0;
    order.forEach((i, k) => {
      if (y[i] === 1) sum += ++tp / (k + 1);
    });
    return tp ? sum / tp : NaN;
  };
  const next = rng(21);
  const values = [0, -0, 0.25, 0.5, 1, Infinity, -Infinity, 1e-300, -2];
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(next() * 40);
    const s = Array.from({ length: n }, () => values[Math.floor(next() * values.length)]);
    const y = Array.from({ length: n }, () => (next() < 0.4 ? 1 : 0));
    const want = reference(s, y);
    const got = rankedAveragePrecision(s, y);
    assert.ok(Object.is(got, want), `trial ${trial}: ${got} != ${want} for ${JSON.stringify(s)}`);
  }
});

test('classificationMetrics without curves: the same figures, no curves', () => {
  const next = rng(5);
  const n = 300;
  const labels = Uint8Array.from({ length: n }, () => Math.floor(next() * 3));
  const data = Float32Array.from({ length: n * 3 }, () => Math.round(next() * 20) / 20); // many ties
  const classes = ['a', 'b', 'c'];
  const { curves, ...figures } = classificationMetrics({ data, columns: 3 }, labels, classes);
  assert.deepEqual(Object.keys(curves), classes);
  assert.deepEqual(classificationMetrics({ data, columns: 3 }, labels, classes, { curves: false }), figures);
});
