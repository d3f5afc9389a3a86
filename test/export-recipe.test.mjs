// The export of a run trained with the modern recipe: fmnist-res's batch norms folded into the convolutions (no
// BatchNormalization node), the training split's normalisation in the graph (the input stays pixels / 255), the
// moving average of the weights exported where the run kept one; onnxruntime-node agrees with the trainer's own
// evaluation of the same checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as ort from '../dist/src/eval/runtime.js'; // onnxruntime-node, telemetry off
import onnxProto from 'onnx-proto';
import { train } from '../dist/src/workflows/train.js';
import { exportOnnx } from '../dist/src/workflows/export.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { readDataSplit } from '../dist/src/data/dataset.js';
import { preprocessOf } from '../dist/src/data/preprocess.js';
import { native, trainerConfig } from '../dist/src/native.js';
import { fashionSlice } from './fmnist.mjs';
import { tempDir } from './helpers.mjs';

const { onnx } = onnxProto;

/** [n, 28, 28, 1] pixels as the float input: [n, 1, 28, 28] of pixels / 255. */
const floatInput = (images, n) => new ort.Tensor('float32', Float32Array.from(images.subarray(0, n * 784), (v) => v / 255), [n, 1, 28, 28]);

for (const ema of [0, 0.9]) {
  test(`fmnist-res${ema ? ' with --ema 0.9' : ''}: exported with BN folded and normalisation in the graph, it agrees with the trainer in onnxruntime`, async (t) => {
    const data = await fashionSlice(t, { train: 400, test: 100 });
    const dir = await tempDir(t);
    const out = path.join(dir, 'run');
    // three steps of the preset's recipe, without its label smoothing: enough to learn more than chance (below)
    await train({ data, arch: 'fmnist-res', epochs: 1, val: 0.2, seed: 3, out, threads: 2, saveEvery: 0, ema, labelSmoothing: 0, cache: false });
    const weights = path.join(out, 'best.safetensors');
    const ckpt = await loadCheckpoint(weights);
    assert.equal(ckpt.ema !== undefined, ema > 0);
    const file = path.join(dir, 'model.onnx');
    await exportOnnx({ weights, out: file, modelCard: false });
    const model = onnx.ModelProto.decode(await fs.readFile(file));
    const ops = model.graph.node.map((n) => n.opType);
    assert.ok(!ops.includes('BatchNormalization'), ops.join(' '));
    assert.deepEqual(ops.slice(0, 3), ['Sub', 'Div', 'Conv']);
    assert.equal(ops.filter((o) => o === 'Add').length, 4, 'the four residual adds');

    const test = await readDataSplit(data, 'test', preprocessOf(ckpt.meta.spec));
    const n = test.size;
    const session = await ort.InferenceSession.create(file);
    const outputs = await session.run({ image: floatInput(test.images, n) });
    const exported = outputs[session.outputNames[0]].data;

    const trainer = new native.Trainer(
      trainerConfig({ spec: ckpt.meta.spec, optimizer: 'sgd', normalize: ckpt.meta.config.normalization, ...(ema ? { ema } : {}) }),
    );
    trainer.setParams(ckpt.params);
    trainer.setState({ step: ckpt.meta.step, accumulators: ckpt.accumulators, state: ckpt.state, ...(ema ? { ema: ckpt.ema } : {}) });
    const expected = await trainer.predict(test.images, ema ? { ema: true } : undefined);
    const raw = await trainer.predict(test.images);
    trainer.dispose();
    assert.equal(exported.length, expected.length);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(exported[i] - expected[i]));
    assert.ok(worst < 1e-4, `largest probability difference ${worst}`);
    if (ema) {
      // the export is the moving average's, not the last weights'
      let apart = 0;
      for (let i = 0; i < raw.length; i++) apart = Math.max(apart, Math.abs(exported[i] - raw[i]));
      assert.ok(apart > 1e-3, `the averaged and the last weights give the same scores (${apart})`);
      return;
    }
    // and they are a trained model's: its argmaxes agree with the labels better than chance
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const row = Array.from(expected.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
    }
    assert.ok(correct > n * 0.15, `${correct}/${n} (chance: a tenth)`);
  });
}

test('export --tta flip: one graph that averages each image with its mirror, as eval --tta flip does on the plain model', async (t) => {
  const data = await fashionSlice(t, { train: 300, test: 40 });
  const dir = await tempDir(t);
  const out = path.join(dir, 'run');
  await train({ data, arch: 'fmnist-res', epochs: 1, val: 0.2, seed: 5, out, threads: 2, saveEvery: 0, cache: false });
  const weights = path.join(out, 'best.safetensors');
  const plainFile = path.join(dir, 'plain.onnx');
  const ttaFile = path.join(dir, 'tta.onnx');
  await exportOnnx({ weights, out: plainFile, modelCard: false });
  const { info } = await exportOnnx({ weights, out: ttaFile, modelCard: false, tta: 'flip' });
  assert.equal(info.logitName, undefined, 'no logit output');
  const proto = onnx.ModelProto.decode(await fs.readFile(ttaFile));
  assert.equal(proto.metadataProps.find((p) => p.key === 'tta')?.value, 'flip');
  assert.deepEqual(proto.graph.output.map((o) => o.name), ['probabilities']);
  assert.deepEqual(proto.graph.node.slice(2, 4).map((x) => x.opType), ['Slice', 'Concat']);
  const ckpt = await loadCheckpoint(weights);
  const test = await readDataSplit(data, 'test', preprocessOf(ckpt.meta.spec));
  const n = test.size;
  const mirrored = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) mirrored[i * 784 + y * 28 + x] = test.images[i * 784 + y * 28 + 27 - x];
  const plain = await ort.InferenceSession.create(plainFile);
  const run = async (images) => (await plain.run({ image: floatInput(images, n) }))['probabilities'].data;
  const [a, b] = [await run(test.images), await run(mirrored)];
  const tta = await ort.InferenceSession.create(ttaFile);
  const got = (await tta.run({ image: floatInput(test.images, n) }))['probabilities'].data;
  assert.equal(got.length, n * 10);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - Math.fround(Math.fround(a[i] + b[i]) * 0.5)));
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
});
