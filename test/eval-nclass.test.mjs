// Evaluation of models of more than two classes: the figures against scikit-learn and hand-made cases, a 2-class
// model's figures unchanged, the softmax in float32, the metadata of N-class models, and `engine eval` end to end
// on a 3-class folder dataset of PNG files with a small softmax CNN trained here (its 3 x 3 confusion matrix,
// the native engine's own accuracy, the text report's lead lines, --threshold refused).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { binaryMetrics, classificationMetrics, predictClasses, topKCorrect } from '../dist/src/eval/class-metrics.js';
import { accuracy, averagePrecision, classFigures, confusionMatrix, prCurve, rankedAveragePrecision, rocAuc, rocCurve } from '../dist/src/eval/metrics.js';
import { softmaxFloat32 } from '../dist/src/eval/session.js';
import { evaluate, formatReport } from '../dist/src/eval/evaluate.js';
import { buildOnnxModel } from '../dist/src/onnx/graph.js';
import { readModelMetadata } from '../dist/src/onnx/model-info.js';
import { listSplit } from '../dist/src/data/discover.js';
import { loadImageResized } from '../dist/src/data/decode.js';
import { ROOT, rejectsInput, rng, runCli, tempDir } from './helpers.mjs';
import { FASHION_CLASSES, classDataset, syntheticReport, trainClassModel } from './nclass.mjs';

const { onnx } = onnxProto;
const close = (a, b, tol, what) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} != ${b}`);

test('K-class figures equal scikit-learn: confusion, precision/recall/F1, AP and ROC AUC per class, macro AUC, top-k', async () => {
  const fixture = JSON.parse(await fs.readFile(path.join(ROOT, 'test/fixtures/metrics-sklearn-multiclass.json'), 'utf8'));
  assert.ok(fixture.cases.length >= 5);
  for (const [i, c] of fixture.cases.entries()) {
    const k = c.scores[0].length;
    const classes = Array.from({ length: k }, (_, j) => `c${j}`);
    const m = classificationMetrics({ data: c.scores.flat(), columns: k }, c.labels, classes);
    assert.deepEqual(m.confusion.matrix, c.confusion, `case ${i}`);
    assert.equal(m.decision, 'argmax');
    assert.equal(m.threshold, null);
    classes.forEach((name, j) => {
      const f = m.perClass[name];
      // sklearn says 0 where the engine says NaN: a class never predicted has no precision
      if (Number.isNaN(f.precision)) assert.equal(c.precision[j], 0, `case ${i} ${name}`);
      else close(f.precision, c.precision[j], 1e-12, `case ${i} precision ${name}`);
      close(f.recall, c.recall[j], 1e-12, `case ${i} recall ${name}`);
      close(f.f1, c.f1[j], 1e-12, `case ${i} F1 ${name}`);
      assert.equal(f.support, c.support[j]);
      close(m.averagePrecision[name], c.averagePrecision[j], 1e-12, `case ${i} AP ${name}`);
      close(m.rocAucPerClass[name], c.rocAuc[j], 1e-12, `case ${i} AUC ${name}`);
    });
    close(m.mAP, c.averagePrecision.reduce((a, b) => a + b) / k, 1e-12, `case ${i} mAP`);
    const untied = classificationMetrics({ data: c.untiedScores.flat(), columns: k }, c.labels, classes);
    close(untied.rocAuc, c.macroRocAuc, 1e-12, `case ${i} macro AUC`);
    assert.deepEqual(untied.topK.map((t) => t.k), Object.keys(c.topK).map(Number), `case ${i} top-k`);
    for (const t of untied.topK) close(t.accuracy, c.topK[t.k], 1e-12, `case ${i} top-${t.k}`);
  }
});

test('hand-made cases: the first of equal scores wins, top-k ties rank the lower class first, pairs by count', () => {
  // 3 classes, 5 images; image 1 ties classes 0 and 1 (predicted 0), image 4 ties all three
  const scores = [
    [0.7, 0.2, 0.1], // true 0 -> 0
    [0.4, 0.4, 0.2], // true 1 -> 0 (tie: the first)
    [0.1, 0.3, 0.6], // true 1 -> 2
    [0.2, 0.2, 0.6], // true 2 -> 2
    [0.3, 0.3, 0.3], // true 2 -> 0
  ];
  const labels = [0, 1, 1, 2, 2];
  const data = scores.flat();
  assert.deepEqual([...predictClasses({ data, columns: 3 }, 3)], [0, 0, 2, 2, 0]);
  // top-2: image 1's true class is second (0 ranks above it), image 2's second, image 4's third (0 and 1 above)
  assert.equal(topKCorrect({ data, columns: 3 }, labels, 2), 4);
  const m = classificationMetrics({ data, columns: 3 }, labels, ['a', 'b', 'c']);
  assert.deepEqual(m.confusion.matrix, [[1, 0, 0], [1, 0, 1], [1, 0, 1]]);
  assert.deepEqual(m.confusion.normalized, [[1, 0, 0], [0.5, 0, 0.5], [0.5, 0, 0.5]]);
  assert.equal(m.correct, 2);
  assert.deepEqual(m.topK, [{ k: 2, correct: 4, accuracy: 0.8 }]);
  assert.ok(Number.isNaN(m.perClass.b.precision), 'b is never predicted');
  assert.equal(m.perClass.b.f1, 0);
  assert.equal(m.perClass.a.f1, 2 / (2 + 2)); // tp 1, fp 2, fn 0
  // equal counts: the larger share first, then class order
  assert.deepEqual(m.confusedPairs, [
    { label: 'b', predicted: 'a', count: 1, share: 0.5 },
    { label: 'b', predicted: 'c', count: 1, share: 0.5 },
    { label: 'c', predicted: 'a', count: 1, share: 0.5 },
  ]);
  // AP of class c over its own column: images 2 and 3 tie at 0.6 (file order: image 2, a b, ranks first)
  assert.equal(m.rankedAveragePrecision.c, rankedAveragePrecision([0.1, 0.2, 0.6, 0.6, 0.3], [0, 0, 0, 1, 1]));
  assert.equal(m.rankedAveragePrecision.c, (1 / 2 + 2 / 3) / 2);
  assert.deepEqual(m.accuracyInterval.map((x) => +x.toFixed(4)), [0.1176, 0.7693]);
  assert.throws(() => classificationMetrics({ data, columns: 3 }, [0, 1, 1, 2, 3], ['a', 'b', 'c']), RangeError);
  assert.throws(() => classificationMetrics({ data: data.slice(1), columns: 3 }, labels, ['a', 'b', 'c']), RangeError);
});

test("a 2-class model keeps its figures: threshold on P(class 1), class 0 scored by 1 - s, the binary functions' numbers", async () => {
  const fixture = JSON.parse(await fs.readFile(path.join(ROOT, 'test/fixtures/metrics-sklearn.json'), 'utf8'));
  for (const threshold of [0.5, 0.3])
    for (const c of fixture.cases) {
      const s = c.scores;
      const y = c.labels;
      const [ns, ny] = [s.map((v) => 1 - v), y.map((v) => 1 - v)];
      const m = classificationMetrics({ data: s, columns: 1 }, y, ['neg', 'pos'], { threshold });
      assert.deepEqual(binaryMetrics(s, y, ['neg', 'pos'], threshold), m);
      assert.equal(m.decision, 'threshold');
      assert.equal(m.threshold, threshold);
      assert.deepEqual(m.topK, []);
      assert.equal(m.accuracy, accuracy(s, y, threshold));
      assert.deepEqual(m.confusion.matrix, confusionMatrix(s, y, ['neg', 'pos'], threshold).matrix);
      assert.deepEqual(m.averagePrecision, { neg: averagePrecision(ns, ny), pos: averagePrecision(s, y) });
      assert.deepEqual(m.rankedAveragePrecision, { neg: rankedAveragePrecision(ns, ny), pos: rankedAveragePrecision(s, y) });
      assert.equal(m.rankedMAP, (m.rankedAveragePrecision.neg + m.rankedAveragePrecision.pos) / 2);
      assert.equal(m.mAP, (m.averagePrecision.neg + m.averagePrecision.pos) / 2);
      assert.equal(m.rocAuc, rocAuc(s, y));
      assert.deepEqual(m.curves.pos, { roc: rocCurve(s, y), pr: prCurve(s, y) });
      const f = classFigures(confusionMatrix(s, y, ['neg', 'pos'], threshold));
      for (const name of ['neg', 'pos']) {
        assert.equal(m.perClass[name].precision, f[name].precision);
        assert.equal(m.perClass[name].recall, f[name].recall);
        assert.equal(m.perClass[name].support, f[name].support);
      }
    }
});

test('softmaxFloat32: rows sum to 1 within float32 rounding, saturate to exactly 0 and 1, follow the float32 steps', () => {
  const r = rng(4);
  const logits = Float32Array.from({ length: 40 }, () => (r() - 0.5) * 20);
  const p = softmaxFloat32(logits, 4);
  for (let row = 0; row < 40; row += 4) {
    close(p[row] + p[row + 1] + p[row + 2] + p[row + 3], 1, 4e-7, `row ${row / 4}`);
    const z = [...logits.subarray(row, row + 4)];
    const exact = z.map((v) => Math.exp(v - Math.max(...z)) / z.reduce((a, b) => a + Math.exp(b - Math.max(...z)), 0));
    for (let j = 0; j < 4; j++) close(p[row + j], exact[j], 2e-7, `row ${row / 4} class ${j}`);
    for (let j = 0; j < 4; j++) assert.equal(p[row + j], Math.fround(p[row + j]));
  }
  // far apart: exactly 1 and 0 in float32 (ties that the ranking figures then see, as with the sigmoid)
  assert.deepEqual([...softmaxFloat32(Float32Array.of(200, 0, 0, 120, 0, 0), 3)], [1, 0, 0, 1, 0, 0]);
  assert.deepEqual([...softmaxFloat32(Float32Array.of(1, 1), 2)], [0.5, 0.5]);
});

test('readModelMetadata: softmax models of 2 to 256 classes; a sigmoid head of other than 2, duplicate names or a mismatched output are refused', () => {
  const model = (classes, head = 'softmax', units = classes.length) => {
    const spec = { name: 'flat', input: [2, 2, 3], head, layers: [{ type: 'flatten' }, { type: 'dense', units }] };
    return { meta: { spec, config: {}, classes, epoch: 1, step: 0 }, layout: [{ name: 'dense1.kernel', shape: [12, units], offset: 0, size: 12 * units }, { name: 'dense1.bias', shape: [units], offset: 12 * units, size: units }], params: new Float32Array(13 * units) };
  };
  const ten = Array.from({ length: 10 }, (_, i) => `class ${i}`);
  const info = readModelMetadata(buildOnnxModel(model(ten)), 'ten.onnx');
  assert.equal(info.head, 'softmax');
  assert.deepEqual(info.classes, ten);
  assert.deepEqual(info.outputShape, ['N', 10]);
  assert.equal(readModelMetadata(buildOnnxModel(model(['a', 'b']))).head, 'softmax');
  assert.equal(readModelMetadata(buildOnnxModel(model(['a', 'b'], 'sigmoid', 1))).head, 'sigmoid');

  const edit = (ckpt, fn) => {
    const m = onnx.ModelProto.decode(buildOnnxModel(ckpt));
    fn(m);
    return onnx.ModelProto.encode(m).finish();
  };
  const setMeta = (key, value) => (m) => {
    m.metadataProps.find((p) => p.key === key).value = value;
  };
  const refused = (bytes, pattern) => assert.throws(() => readModelMetadata(bytes, 'x.onnx'), (e) => e.exitCode === 2 && pattern.test(e.message), String(pattern));
  refused(edit(model(['a', 'b', 'c']), setMeta('head', 'sigmoid')), /x\.onnx: metadata 'classes' is .*expected a JSON array of 2 distinct class names \(sigmoid head\)/);
  refused(edit(model(['a', 'b', 'c']), setMeta('classes', '["a","b","a"]')), /2 to 256 distinct class names/);
  refused(edit(model(['a', 'b', 'c']), setMeta('classes', '["a","b","c","d"]')), /output 'probabilities' has shape \[N,3\], expected \[N,4\]/);
  refused(edit(model(['a', 'b', 'c']), setMeta('head', 'tanh')), /metadata 'head' is 'tanh'/);
  // models written before the head key: sigmoid
  const old = readModelMetadata(edit(model(['a', 'b'], 'sigmoid', 1), (m) => (m.metadataProps = m.metadataProps.filter((p) => p.key !== 'head'))));
  assert.equal(old.head, 'sigmoid');
});

test('10 classes in text: columns by index with the names in the heading, 10 confused pairs, the first 50 mistakes', async (t) => {
  const r = await syntheticReport(await tempDir(t), FASHION_CLASSES, { n: 900, seed: 8 });
  assert.ok(r.misclassified.length > 50 && r.confusedPairs.length > 10);
  const text = formatReport(r);
  assert.ok(text.includes(`confusion matrix (rows: true class, columns: predicted; ${FASHION_CLASSES.map((c, i) => `${i}=${c}`).join(' ')})\n`));
  assert.match(text, /\n {18}0 {3}1 {3}2 {3}3 {3}4 {3}5 {3}6 {3}7 {3}8 {3}9\n  0 T-shirt\/top  /);
  assert.deepEqual(
    r.topK.map((x) => x.k),
    [2, 3, 4, 5],
  );
  for (const x of r.topK) assert.ok(text.includes(`top-${x.k}:       ${(x.accuracy * 100).toFixed(2)}%  (${x.correct}/900)`));
  assert.ok(text.includes(`most confused (true -> predicted: images, share of the true class): 10 of ${r.confusedPairs.length} pairs\n`));
  const listed = text.split('\nmisclassified: ')[1].split('\n\n')[0].split('\n');
  assert.equal(listed[0], `${r.misclassified.length} (in ${r.dir}; the first 50 in file order, --json lists all)`);
  assert.equal(listed.length, 51);
  const first = r.misclassified[0];
  assert.match(listed[1], new RegExp(`^  ${first.file} +${first.label} -> ${first.predicted} +P\\(${first.predicted}\\) = ${first.probability.toFixed(4)}$`));
});

// --- end to end: a 3-class dataset of PNG files, a softmax CNN trained on it ---

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));
let data, fit;
before(async () => {
  data = await classDataset(suite, { classes: ['cat', 'dog', 'fox'], counts: { train: 12, test: 10 }, seed: 1 });
  fit = await trainClassModel(data, path.join(await tempDir(suite), 'model'), { seed: 3, steps: 40 });
  cleanups.push(async () => fit.trainer.dispose());
});

test('engine eval --json of a 3-class model: a 3 x 3 confusion matrix, and the native engine\'s accuracy and probabilities', async () => {
  const r = await runCli(['eval', 'test', '--data', data, '--model', fit.model, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.deepEqual(report.classes, ['cat', 'dog', 'fox']);
  assert.equal(report.model.head, 'softmax');
  assert.equal(report.images, 30);
  assert.equal(report.confusion.matrix.length, 3);
  for (const row of report.confusion.matrix) assert.equal(row.length, 3);
  assert.deepEqual(report.confusion.matrix.map((row) => row.reduce((a, b) => a + b)), [10, 10, 10]);
  assert.equal(report.correct, report.confusion.matrix.reduce((a, row, i) => a + row[i], 0));
  assert.ok(report.correct > 10 && report.correct < 30, `a model neither perfect nor random: ${report.correct}/30`);
  assert.equal(report.decision, 'argmax');
  assert.equal(report.threshold, null);
  assert.deepEqual(report.topK.map((t) => t.k), [2]);
  assert.equal(report.misclassified.length, 30 - report.correct);
  assert.deepEqual(Object.keys(report.perClass), ['cat', 'dog', 'fox']);
  for (const key of ['rankedMAP', 'mAP', 'rocAuc']) assert.ok(report[key] > 0.34 && report[key] <= 1, `${key} ${report[key]}`);
  assert.equal(report.curves, undefined, 'curves only with --curves');
  assert.ok(report.confusedPairs.length > 0);
  for (const p of report.confusedPairs) assert.equal(p.count, report.confusion.matrix[report.classes.indexOf(p.label)][report.classes.indexOf(p.predicted)]);

  // the trainer that made the model classifies the same decoded images
  const listing = await listSplit(path.join(data, 'test'));
  const [h, w, c] = fit.spec.input;
  const images = new Uint8Array(30 * h * w * c);
  for (const [i, f] of listing.files.entries()) await loadImageResized(f, w, h, images.subarray(i * h * w * c, (i + 1) * h * w * c));
  const native = await fit.trainer.evaluate(images, listing.labels);
  assert.equal(report.correct, native.correct, 'argmax of the ONNX model = the engine\'s accuracy');
  const probabilities = await fit.trainer.predict(images);
  for (const m of report.misclassified) {
    const i = listing.files.indexOf(path.join(data, 'test', m.file));
    close(m.probability, probabilities[i * 3 + report.classes.indexOf(m.predicted)], 2e-6, m.file);
  }

  // the checkpoint, exported in memory, gives the same figures
  const viaWeights = await evaluate({ target: 'test', data, weights: fit.weights });
  const { model: _a, seconds: _b, decodeAndInferSeconds: _c, curves: _d, ...figures } = viaWeights;
  const { model: _e, seconds: _f, decodeAndInferSeconds: _g, ...fromCli } = report;
  assert.deepEqual(JSON.parse(JSON.stringify(figures)), fromCli);
});

test('the text report leads with accuracy and its interval, top-2, mean AP, macro AUC; --seed-report adds the seed\'s lines first', async () => {
  const report = await evaluate({ target: 'test', data, model: fit.model, threads: 1 });
  const text = formatReport(report);
  const lines = text.split('\n');
  assert.equal(lines[0], 'evaluation of test: 30 images, 3 classes (cat, dog, fox)');
  assert.match(lines[1], /^accuracy: {4}\d+\.\d\d% {2}\(\d+\/30; 95% interval \d+\.\d% to \d+\.\d%; predicted: the most probable class\)$/);
  assert.match(lines[2], /^top-2: {7}\d+\.\d\d% {2}\(\d+\/30\)$/);
  assert.match(lines[3], /^mean AP: {5}\d+\.\d\d%/);
  assert.match(lines[4], /^ROC AUC: {5}[01]\.\d{4} {2}\(macro mean, one class against the rest\)$/);
  for (const c of ['cat', 'dog', 'fox']) assert.match(text, new RegExp(`\\n  ${c} +\\d+\\.\\d\\d% +`), `per-class row of ${c}`);
  assert.match(text, /confusion matrix \(rows: true class, columns: predicted; 0=cat 1=dog 2=fox\)\n +0 +1 +2\n  0 cat/);
  assert.match(text, /most confused \(true -> predicted/);
  assert.doesNotMatch(text, /mAP/);

  const cli = await runCli(['eval', 'test', '--data', data, '--model', fit.model, '--threads', '1', '--seed-report']);
  assert.equal(cli.code, 0, cli.stderr);
  const seed = cli.stdout.split('\n');
  assert.deepEqual(seed.slice(0, 5), ['mAP report', 'Evaluation dataset: test', `${report.correct} images correctly predicted among 30 evaluation images`, `mAP(%): ${(report.accuracy * 100).toFixed(2)}`, '******************']);
  const untimed = (s) => s.replace(/\ntime: .*\n$/, '');
  assert.equal(untimed(seed.slice(7).join('\n')), untimed(text));
});

test('eval --html of the 3-class model: the page holds its 3 x 3 matrix, a curve per class and a thumbnail per mistake', async (t) => {
  const page = path.join(await tempDir(t), 'report.html');
  const r = await runCli(['eval', 'test', '--data', data, '--model', fit.model, '--html', page]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.endsWith(`wrote ${page}\n`));
  const html = await fs.readFile(page, 'utf8');
  const report = await evaluate({ target: 'test', data, model: fit.model });
  const cells = [...html.matchAll(/class="(?:hit|miss)" title="[^"]*">(\d+)<\/td>/g)].map((m) => Number(m[1]));
  assert.deepEqual(cells, report.confusion.matrix.flat());
  assert.equal(html.match(/<svg id="roc"[\s\S]*?<\/svg>/)[0].match(/data-class=/g).length, 3);
  assert.equal(html.match(/<img src="data:image\/jpeg;base64,/g)?.length ?? 0, report.misclassified.length);
});

test('--threshold is refused for a 3-class model (exit 2, one line); a folder of other classes too', async (t) => {
  const r = await runCli(['eval', 'test', '--data', data, '--model', fit.model, '--threshold', '0.7']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--threshold applies to 2-class models; .*model\.onnx has 3 classes/);
  const two = await tempDir(t);
  await fs.cp(path.join(data, 'test', 'cat'), path.join(two, 'cat'), { recursive: true });
  await fs.cp(path.join(data, 'test', 'dog'), path.join(two, 'dog'), { recursive: true });
  await rejectsInput(evaluate({ target: two, model: fit.model }), '(cat, dog) do not match the classes', '(cat, dog, fox)');
  // the browser demo shows sigmoid models only, and says so
  const { serveDemo } = await import('../dist/src/demo/serve.js');
  await rejectsInput(serveDemo({ model: fit.model, port: 0 }), 'the demo page shows 2-class sigmoid models; this one has a softmax head of 3 classes');
});
