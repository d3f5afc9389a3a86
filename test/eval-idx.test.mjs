// engine eval on IDX data (MNIST-family files) with a grey (1-channel) model, as the lead measures Fashion-MNIST:
// `engine eval test --data <IDX folder> --model model.onnx`. A small slice of the real files keeps it quick; the
// accuracy is checked against onnxruntime run directly on the IDX bytes, and `eval val` against the trainer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { InferenceSession, Tensor } from '../dist/src/eval/runtime.js'; // onnxruntime-node, telemetry off
import { parseHistoryCsv } from '../dist/src/store/history.js';
import { FASHION_MNIST as SRC, runCli, sliceFashionIdx, tempDir } from './helpers.mjs';
import { FASHION_CLASSES } from './nclass.mjs';


test('eval test --data <IDX folder> --model <grey model>: the test split read from the IDX files, as onnxruntime scores it', async (t) => {
  if (!(await fs.stat(SRC).catch(() => null))) return t.skip(`${SRC} is not installed (Debian's dataset-fashion-mnist)`);
  const data = await tempDir(t, 'engine-fmnist-');
  await sliceFashionIdx(data, 'train-images-idx3-ubyte', 600);
  await sliceFashionIdx(data, 'train-labels-idx1-ubyte', 600);
  const pixels = await sliceFashionIdx(data, 't10k-images-idx3-ubyte', 150);
  const labels = await sliceFashionIdx(data, 't10k-labels-idx1-ubyte', 150);
  // a slice is not the known file (recognised by SHA-256): its class names from classes.txt
  await fs.writeFile(path.join(data, 'classes.txt'), FASHION_CLASSES.join('\n') + '\n');
  const out = path.join(await tempDir(t), 'run');
  const trained = await runCli(['train', '--data', data, '--arch', 'fmnist-cnn', '--epochs', '1', '--seed', '1', '--out', out, '--quiet']);
  assert.equal(trained.code, 0, trained.stderr);
  const exported = await runCli(['export', 'onnx', '--weights', path.join(out, 'last.safetensors'), '--json']);
  assert.equal(exported.code, 0, exported.stderr);
  const model = path.join(out, 'model.onnx');

  const r = await runCli(['eval', 'test', '--data', data, '--model', model, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.images, 150);
  assert.deepEqual(report.classes, FASHION_CLASSES);

  // onnxruntime on the same bytes: [N, 1, 28, 28] float32, pixel * float32(1/255), the most probable class
  const session = await InferenceSession.create(model);
  const scale = Math.fround(1 / 255);
  const input = new Tensor('float32', Float32Array.from(pixels, (p) => p * scale), [150, 1, 28, 28]);
  const probs = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]].data;
  await session.release();
  let correct = 0;
  for (let i = 0; i < 150; i++) {
    const row = Array.from(probs.subarray(i * 10, i * 10 + 10));
    if (row.indexOf(Math.max(...row)) === labels[i]) correct++;
  }
  assert.equal(report.correct, correct);
  assert.equal(report.accuracy, correct / 150);

  // the text report: what was evaluated, then the accuracy with its interval
  const text = await runCli(['eval', 'test', '--data', data, '--model', model]);
  assert.equal(text.code, 0, text.stderr);
  const [first, second] = text.stdout.split('\n');
  assert.match(first, /^evaluation of test: 150 images, 10 classes \(T-shirt\/top, Trouser/);
  assert.match(second, new RegExp(`^accuracy: +${((100 * correct) / 150).toFixed(2)}% +\\(${correct}/150; 95% interval `));

  // no val split in IDX data: val is the 60 images the run held out of train, as the trainer scored them
  const val = await runCli(['eval', 'val', '--data', data, '--model', model, '--json']);
  assert.equal(val.code, 0, val.stderr);
  const valAcc = parseHistoryCsv(await fs.readFile(path.join(out, 'history.csv'), 'utf8')).at(-1).val_acc;
  assert.deepEqual([JSON.parse(val.stdout).images, JSON.parse(val.stdout).accuracy], [60, valAcc]);
});
