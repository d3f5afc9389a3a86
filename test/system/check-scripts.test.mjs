// scripts/check/opencv.py and scripts/check/onnxruntime-web.mjs: another runtime (OpenCV's DNN module, the
// WebAssembly onnxruntime) fed as the model's metadata says gives `engine eval`'s accuracy and the same class for
// every image, on a small 3-class model exported from a PNG folder dataset (NCHW float32, and with the
// preprocessing in the graph: NHWC uint8). The OpenCV part runs where /usr/bin/python3 imports cv2 (.ci/run
// installs Debian's python3-opencv when it can) and is skipped, saying why, elsewhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { buildOnnxModel } from '../../dist/src/onnx/graph.js';
import { loadCheckpoint } from '../../dist/src/store/checkpoint.js';
import { ROOT, runCli, runNode, tempDir } from '../helpers.mjs';
import { classDataset, trainClassModel } from '../nclass.mjs';
import { fashionSlice } from '../fmnist.mjs';

const PYTHON = process.env.ENGINE_OPENCV_PYTHON ?? '/usr/bin/python3';
const OPENCV = path.join(ROOT, 'scripts/check/opencv.py');
const WEB = path.join(ROOT, 'scripts/check/onnxruntime-web.mjs');

/** Why the OpenCV check cannot run here, or null. */
function opencvSkipReason() {
  const probe = spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} is missing (${probe.error.code})`;
  if (probe.status !== 0) return `${PYTHON} cannot import cv2 and numpy (apt-get install python3-opencv): ${probe.stderr.trim().split('\n').at(-1)}`;
  return null;
}

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));
let data, models, engine;
before(async () => {
  data = await classDataset(suite, { classes: ['cat', 'dog', 'fox'], counts: { train: 12, test: 10 }, seed: 1 });
  const fit = await trainClassModel(data, path.join(await tempDir(suite), 'model'), { seed: 3, steps: 40 });
  fit.trainer.dispose();
  const embedded = path.join(path.dirname(fit.model), 'embedded.onnx');
  await fs.writeFile(embedded, buildOnnxModel(await loadCheckpoint(fit.weights), { embedPreprocessing: true }));
  models = { float: fit.model, embedded };
  const r = await runCli(['eval', 'test', '--data', data, '--model', fit.model, '--json']);
  assert.equal(r.code, 0, r.stderr);
  engine = JSON.parse(r.stdout);
  assert.ok(engine.correct > 10 && engine.correct < 30, `a model with some mistakes: ${engine.correct}/30`);
});

/** The class engine eval predicted for each file (relative to the folder). */
function enginePredictions(files) {
  const missed = new Map(engine.misclassified.map((m) => [m.file, m.predicted]));
  return files.map((f) => missed.get(f) ?? path.dirname(f));
}

function sameAsEngine(result, what) {
  assert.equal(result.images, 30, what);
  assert.equal(result.correct, engine.correct, `${what}: ${result.correct}/30, engine eval ${engine.correct}/30`);
  assert.equal(result.accuracy, engine.accuracy, what);
  assert.deepEqual(result.predicted, enginePredictions(result.files), `${what}: the class of every image`);
}

test("OpenCV's DNN module (cv2.dnn.readNetFromONNX) gives engine eval's accuracy and predictions", async (t) => {
  const reason = opencvSkipReason();
  if (reason) return t.skip(reason);
  const folder = path.join(data, 'test');
  // one image a pass, and batches of 32 (a symbolic batch dimension in OpenCV)
  for (const [name, model, batch] of [['float', models.float, '1'], ['embedded', models.embedded, '32']]) {
    const r = spawnSync(PYTHON, [OPENCV, model, folder, '--json', '--batch', batch], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    sameAsEngine(JSON.parse(r.stdout), `${name} model, batch ${batch}`);
  }
  const line = spawnSync(PYTHON, [OPENCV, models.float, folder], { encoding: 'utf8' });
  assert.equal(line.status, 0, line.stderr);
  assert.match(line.stdout, new RegExp(`^OpenCV \\d+\\.\\d+\\.\\d+ DNN: accuracy ${(engine.accuracy * 100).toFixed(2)}% \\(${engine.correct}/30\\) of `));
  // the wrong folder: exit 2, one line naming both sets of classes
  const two = await tempDir(t);
  await fs.cp(path.join(folder, 'cat'), path.join(two, 'cat'), { recursive: true });
  await fs.cp(path.join(folder, 'dog'), path.join(two, 'dog'), { recursive: true });
  const bad = spawnSync(PYTHON, [OPENCV, models.float, two], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^opencv\.py: class folders of .* \(cat, dog\) do not match the model's classes \(cat, dog, fox\)$/);
});

test('onnxruntime-web (WebAssembly) gives engine eval\'s accuracy and predictions', async () => {
  const folder = path.join(data, 'test');
  for (const [name, model] of Object.entries(models)) {
    const r = await runNode([WEB, model, folder, '--json', '--batch', '7']);
    assert.equal(r.code, 0, r.stderr);
    sameAsEngine(JSON.parse(r.stdout), `${name} model`);
  }
  const line = await runNode([WEB, models.float, folder]);
  assert.equal(line.code, 0, line.stderr);
  assert.match(line.stdout, new RegExp(`^onnxruntime-web \\S+ \\(wasm\\): accuracy ${(engine.accuracy * 100).toFixed(2)}% \\(${engine.correct}/30\\)`));
  const missing = await runNode([WEB, path.join(folder, 'none.onnx'), folder]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /none\.onnx/);
});

test('on IDX files (--split test), a batch-norm residual net (fmnist-res, grey, no resize) gives engine eval\'s accuracy in both runtimes', async (t) => {
  const idx = await fashionSlice(t, { train: 300, test: 120 });
  const out = path.join(await tempDir(t), 'run');
  const trained = await runCli(['train', '--data', idx, '--arch', 'fmnist-res', '--epochs', '1', '--seed', '2', '--threads', '2', '--val', 'test', '--out', out]);
  assert.equal(trained.code, 0, trained.stderr);
  const model = path.join(out, 'model.onnx');
  const exported = await runCli(['export', 'onnx', '--weights', path.join(out, 'best.safetensors'), '-o', model, '--no-card']);
  assert.equal(exported.code, 0, exported.stderr);
  const r = await runCli(['eval', 'test', '--data', idx, '--model', model, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const ev = JSON.parse(r.stdout);
  const runs = [await runNode([WEB, model, idx, '--split', 'test', '--json'])];
  const reason = opencvSkipReason();
  if (reason) t.diagnostic(`OpenCV part skipped: ${reason}`);
  else {
    const cv = spawnSync(PYTHON, [OPENCV, model, idx, '--split', 'test', '--json'], { encoding: 'utf8' });
    runs.push({ code: cv.status, stdout: cv.stdout, stderr: cv.stderr });
  }
  for (const run of runs) {
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.images, 120);
    assert.equal(result.correct, ev.correct, `${run.stdout.slice(0, 40)}: ${result.correct}/120, engine eval ${ev.correct}/120`);
  }
});
