// The library as a user imports it: `from 'engine'` (the package's own exports), the README's example
// (examples/library.mjs) run end to end, and the progress callbacks of evaluate and predict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ROOT, runCli, runNode, smallDataset, tempDir } from './helpers.mjs';

test("`import ... from 'engine'` gives the typed library: train, exportOnnx, evaluate, predict, fetchDataset", async () => {
  const lib = await import('engine');
  for (const name of ['train', 'exportOnnx', 'evaluate', 'predict', 'formatReport', 'fetchDataset', 'writeModelCard', 'wilsonInterval', 'listSplit'])
    assert.equal(typeof lib[name], 'function', name);
  const dts = await fs.readFile(path.join(ROOT, 'dist/src/index.d.ts'), 'utf8');
  for (const type of ['TrainEvents', 'EvalOptions', 'PredictOptions', 'ExportOptions', 'FetchOptions']) assert.ok(dts.includes(type), type);
});

test('examples/library.mjs trains, exports with a model card, evaluates with progress and predicts like the CLI', async (t) => {
  const data = await smallDataset(t);
  const out = path.join(await tempDir(t), 'run');
  const r = await runNode(['examples/library.mjs', data, '2', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^epoch 1: val_acc \d\.\d{4}\nepoch 2: val_acc \d\.\d{4}\n/);
  assert.ok(r.stdout.includes(`exported ${out}/model.onnx; model card ${out}/MODEL_CARD.md`), r.stdout);
  assert.match(r.stdout, /Evaluation dataset: val\n\d+ images correctly predicted among 8 evaluation images/);
  assert.match(r.stderr, /classified 8\/8/);
  const predicted = r.stdout.trim().split('\n').at(-1);
  const first = path.join(data, 'val', 'man', (await fs.readdir(path.join(data, 'val', 'man'))).sort()[0]);
  const cli = await runCli(['predict', first, '--model', path.join(out, 'model.onnx')]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(predicted, cli.stdout.trim());
});

test('evaluate and predict report progress after each batch', async (t) => {
  const { evaluate, predict, train } = await import('engine');
  const data = await smallDataset(t, { train: { man: 4, woman: 4 }, val: { man: 6, woman: 5 } });
  const run = await train({ data, epochs: 1, seed: 2, out: path.join(await tempDir(t), 'run'), saveEvery: 0 });
  const weights = path.join(run.runDir, 'best.safetensors');
  const seen = [];
  const report = await evaluate({ target: 'val', data, weights, batchSize: 4, onProgress: (d, n) => seen.push([d, n]) });
  assert.equal(report.images, 11);
  assert.deepEqual(seen, [[4, 11], [8, 11], [11, 11]]);
  const heard = [];
  const files = (await fs.readdir(path.join(data, 'val', 'woman'))).map((f) => path.join(data, 'val', 'woman', f));
  await predict({ images: files, weights, onProgress: (d, n) => heard.push([d, n]) });
  assert.deepEqual(heard, [[5, 5]]);
});
