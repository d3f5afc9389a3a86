// `engine import keras`: the seed's Keras HDF5 weights become an engine checkpoint that predicts as the seed did.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import h5wasm from 'h5wasm/node';
import { importKeras } from '../dist/src/keras/import.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { listSplit } from '../dist/src/data/discover.js';
import { loadSplit } from '../dist/src/data/decode.js';
import { CELEBA, SHARED, rejectsInput, runCli, tempDir } from './helpers.mjs';

const WEIGHTS70 = path.join(SHARED, 'seed/keras/weights70.h5');
const MODEL = path.join(SHARED, 'seed/keras/model.h5');
const KERAS_LAYERS = ['conv2d_1', 'conv2d_2', 'conv2d_3', 'conv2d_4', 'conv2d_5', 'dense_1', 'dense_2'];

/** Every weight tensor of a Keras file, read with h5wasm directly: [[`conv2d_1/kernel:0`, Float32Array], ...]. */
async function kerasTensors(file, group = '') {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'r');
  try {
    return KERAS_LAYERS.flatMap((l) => ['kernel', 'bias'].map((w) => [`${l}/${w}:0`, f.get(`${group}${l}/${l}/${w}:0`).value]));
  } finally {
    f.close();
  }
}

/**
 * A Keras-style weights file (layer_names, weight_names, <layer>/<layer>/kernel:0) with the given layers and
 * shapes, as h5wasm writes it (variable-length strings, where Keras writes fixed-length ones).
 */
async function writeKerasFile(file, layers, attrs = {}) {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  f.create_attribute('layer_names', layers.map((l) => l.name));
  for (const [k, v] of Object.entries(attrs)) f.create_attribute(k, v);
  for (const { name, shapes } of layers) {
    const g = f.create_group(name);
    const weights = shapes.map((_, i) => `${name}/${i ? 'bias' : 'kernel'}:0`);
    g.create_attribute('weight_names', weights);
    if (shapes.length) f.create_group(`${name}/${name}`);
    shapes.forEach((shape, i) =>
      g.create_dataset({ name: weights[i], data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape }),
    );
  }
  f.close();
}

const seed7Layers = (override = {}) =>
  [
    ['conv2d_1', [3, 3, 3, 32]],
    ['conv2d_2', [3, 3, 32, 32]],
    ['conv2d_3', [3, 3, 32, 32]],
    ['conv2d_4', [3, 3, 32, 64]],
    ['conv2d_5', [3, 3, 64, 64]],
    ['dense_1', [256, 64]],
    ['dense_2', [64, 1]],
  ].map(([name, kernel]) => {
    const k = override[name] ?? kernel;
    return { name, shapes: [k, [k.at(-1)]] };
  });

test('weights70.h5 imports into the 14 seed7 tensors, copied unchanged, and reloads', async (t) => {
  const dir = await tempDir(t);
  const { file, checkpoint } = await importKeras({ weights: WEIGHTS70, out: path.join(dir, 'w.safetensors') });
  assert.equal(file, path.join(dir, 'w.safetensors'));
  const { layout, params, meta } = checkpoint;
  assert.equal(layout.length, 14);
  assert.equal(params.length, 91329);
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, threads: 1 }));
  assert.deepEqual(layout, trainer.paramLayout());
  trainer.dispose();
  assert.deepEqual(meta.spec, SEED7);
  assert.deepEqual(meta.classes, ['man', 'woman']);
  assert.equal(meta.epoch, 70);
  assert.equal(meta.step, 0);
  assert.deepEqual(meta.config, { source: 'keras', file: path.basename(WEIGHTS70), keras_version: '2.1.5', backend: 'tensorflow' });
  assert.equal(checkpoint.accumulators, undefined);

  // Each engine tensor is the Keras tensor of the same rank in the same order, element for element.
  const tensors = await kerasTensors(WEIGHTS70);
  tensors.forEach(([name, data], i) => {
    assert.deepEqual(params.subarray(layout[i].offset, layout[i].offset + layout[i].size), data, `${layout[i].name} <- ${name}`);
  });

  const loaded = await loadCheckpoint(file, layout);
  assert.deepEqual(loaded.params, params);
  assert.deepEqual(JSON.parse(JSON.stringify(loaded.meta)), meta);
});

test("the imported weights70 get the seed's 72/75 on val", async (t) => {
  const dir = await tempDir(t);
  const { checkpoint } = await importKeras({ weights: WEIGHTS70, out: path.join(dir, 'w.safetensors') });
  const val = await loadSplit(await listSplit(path.join(CELEBA, 'val')));
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, threads: 2 }));
  t.after(() => trainer.dispose());
  trainer.setParams(checkpoint.params);
  const p = await trainer.predict(val.images);
  let correct = 0;
  for (let i = 0; i < val.size; i++) correct += Number((p[i] > 0.5 ? 1 : 0) === val.labels[i]);
  assert.equal(val.size, 75);
  assert.equal(correct, 72);
});

test('--model-h5: the architecture is checked and its (epoch 100) weights are taken unless weights are named', async (t) => {
  const dir = await tempDir(t);
  const fromModel = await importKeras({ modelH5: MODEL, out: path.join(dir, 'm.safetensors') });
  const tensors = await kerasTensors(MODEL, 'model_weights/');
  const { layout, params, meta } = fromModel.checkpoint;
  tensors.forEach(([name, data], i) => assert.deepEqual(params.subarray(layout[i].offset, layout[i].offset + layout[i].size), data, name));
  const w70 = await importKeras({ weights: WEIGHTS70, out: path.join(dir, 'w.safetensors') });
  assert.notDeepEqual(params, w70.checkpoint.params);
  assert.equal(meta.epoch, undefined); // "model.h5" names no epoch: unknown
  assert.equal(meta.config.file, path.basename(MODEL)); // a file name: no path of this machine

  const both = await importKeras({ weights: WEIGHTS70, modelH5: MODEL, out: path.join(dir, 'b.safetensors') });
  assert.deepEqual(both.checkpoint.params, w70.checkpoint.params);
  assert.equal(both.checkpoint.meta.config.model_file, path.basename(MODEL));
  assert.equal(both.checkpoint.meta.epoch, 70);
});

test('--model-h5 refuses another architecture and a weights-only file', async (t) => {
  const dir = await tempDir(t);
  await h5wasm.ready;
  const config = JSON.parse(new h5wasm.File(MODEL, 'r').attrs.model_config.value);
  const variant = async (name, edit) => {
    const c = structuredClone(config);
    edit(c.config);
    const file = path.join(dir, name);
    const f = new h5wasm.File(file, 'w');
    f.create_attribute('model_config', JSON.stringify(c));
    f.close();
    return file;
  };
  const wider = await variant('wider.h5', (layers) => (layers[0].config.filters = 16));
  await rejectsInput(importKeras({ weights: WEIGHTS70, modelH5: wider, out: dir }), wider, 'not seed7', 'conv3x3(16)');
  const same = await variant('same.h5', (layers) => (layers[3].config.padding = 'same'));
  await rejectsInput(importKeras({ weights: WEIGHTS70, modelH5: same, out: dir }), same, 'conv2d_2', 'padding same');
  const tanh = await variant('tanh.h5', (layers) => (layers[1].config.activation = 'tanh'));
  await rejectsInput(importKeras({ weights: WEIGHTS70, modelH5: tanh, out: dir }), tanh, "activation 'tanh'");
  await rejectsInput(importKeras({ modelH5: WEIGHTS70, out: dir }), WEIGHTS70, 'no model_config');
});

test('bad weight files are InputErrors naming the file and what was expected', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'out.safetensors');
  const missing = path.join(dir, 'missing.h5');
  await rejectsInput(importKeras({ weights: missing, out }), missing, 'file not found', 'Keras weights file');

  const text = path.join(dir, 'text.h5');
  await fs.writeFile(text, 'not hdf5 at all\n');
  await rejectsInput(importKeras({ weights: text, out }), text, 'not an HDF5 file');

  const truncated = path.join(dir, 'truncated.h5');
  await fs.writeFile(truncated, (await fs.readFile(WEIGHTS70)).subarray(0, 5000));
  await rejectsInput(importKeras({ weights: truncated, out }), truncated, 'truncated');

  const notKeras = path.join(dir, 'plain.h5');
  await h5wasm.ready;
  const f = new h5wasm.File(notKeras, 'w');
  f.create_dataset({ name: 'x', data: new Float32Array(4) });
  f.close();
  await rejectsInput(importKeras({ weights: notKeras, out }), notKeras, 'not a Keras weights file', 'layer_names');

  const other = path.join(dir, 'other.h5');
  await writeKerasFile(other, [
    { name: 'conv2d_1', shapes: [[3, 3, 3, 16], [16]] },
    { name: 'activation_1', shapes: [] },
    { name: 'dense_1', shapes: [[16, 1], [1]] },
  ]);
  await rejectsInput(importKeras({ weights: other, out }), other, 'expected 7 layers with weights', 'found 2: conv2d_1, dense_1');

  const wrongShape = path.join(dir, 'shape.h5');
  await writeKerasFile(wrongShape, seed7Layers({ conv2d_4: [3, 3, 32, 48] }));
  await rejectsInput(importKeras({ weights: wrongShape, out }), wrongShape, 'conv2d_4/kernel:0', '[3,3,32,48]', 'conv4.kernel expects [3,3,32,64]');
  await assert.rejects(fs.access(out), 'nothing is written on error');

  // The same layout written by h5wasm (variable-length strings) imports: the reader does not depend on the string kind.
  const synthetic = path.join(dir, 'synthetic7.h5');
  await writeKerasFile(synthetic, seed7Layers(), { keras_version: '2.2.4' });
  const { checkpoint } = await importKeras({ weights: synthetic, out });
  assert.ok(checkpoint.params.every((x) => x === 0.5));
  assert.equal(checkpoint.meta.epoch, undefined); // "synthetic7.h5" is not the seed's weights<N>.h5
  assert.equal(checkpoint.meta.config.keras_version, '2.2.4');
});

test('CLI: import keras writes <name>.safetensors here by default; errors exit 2 with one line', async (t) => {
  const dir = await tempDir(t);
  const ok = await runCli(['import', 'keras', WEIGHTS70], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /epoch 70, 91,329 parameters\) -> .*weights70\.safetensors/);
  assert.equal((await loadCheckpoint(path.join(dir, 'weights70.safetensors'))).meta.epoch, 70);

  const json = await runCli(['import', 'keras', '--model-h5', MODEL, '-o', path.join(dir, 'm.safetensors'), '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), {
    checkpoint: path.join(dir, 'm.safetensors'),
    epoch: null,
    params: 91329,
    config: { source: 'keras', file: path.basename(MODEL), keras_version: '2.1.5', backend: 'tensorflow' },
  });

  // -o into folders that do not exist yet: they are created
  const nested = await runCli(['import', 'keras', WEIGHTS70, '-o', path.join(dir, 'a', 'b', 'w.safetensors')]);
  assert.equal(nested.code, 0, nested.stderr);
  assert.equal((await loadCheckpoint(path.join(dir, 'a', 'b', 'w.safetensors'))).meta.epoch, 70);

  const text = path.join(dir, 'text.h5');
  await fs.writeFile(text, 'hello');
  for (const [args, part] of [
    [['import', 'keras', path.join(dir, 'nope.h5')], 'file not found'],
    [['import', 'keras', text], 'not an HDF5 file'],
    [['import', 'keras'], 'name a weights file'],
    [['import', 'keras', WEIGHTS70, '-o', path.join(text, 'x.safetensors')], '--out'],
  ]) {
    const r = await runCli(args, { cwd: dir });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(part), r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test("the epoch comes from the seed's weights<N>.h5 name or --epoch; any other name records it as unknown", async (t) => {
  const dir = await tempDir(t);
  const renamed = path.join(dir, 'myweights_v2.h5');
  await fs.symlink(WEIGHTS70, renamed);
  const r = await runCli(['import', 'keras', renamed], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\(Keras 2\.1\.5, epoch unknown, 91,329 parameters\)/);
  const ckpt = path.join(dir, 'myweights_v2.safetensors');
  const { meta } = await loadCheckpoint(ckpt);
  assert.equal(meta.epoch, undefined, 'not epoch 2');

  // the consumers: the ONNX metadata has no epoch, the model card says "epoch unknown"
  const model = path.join(dir, 'out', 'model.onnx');
  const exported = await runCli(['export', 'onnx', '--weights', ckpt, '-o', model, '--data', path.join(dir, 'none')]);
  assert.equal(exported.code, 0, exported.stderr);
  const { loadModelInfo } = await import('../dist/src/eval/model-source.js');
  assert.ok(!('epoch' in (await loadModelInfo(model)).metadata));
  assert.match(await fs.readFile(path.join(dir, 'out', 'MODEL_CARD.md'), 'utf8'), /\(epoch unknown, 0 optimizer steps\)/);
  // resume: a run folder holding an epoch-less checkpoint is refused with a message, not resumed from epoch "undefined"
  const { openResume } = await import('../dist/src/train/resume.js');
  const run = path.join(dir, 'run');
  await fs.mkdir(run);
  await fs.copyFile(ckpt, path.join(run, 'last.safetensors'));
  await fs.writeFile(path.join(run, 'run.json'), JSON.stringify({ status: 'failed', config: { data: CELEBA, epochs: 3, seed: 1 }, dataset: { train: 500, val: 75 }, classes: ['man', 'woman'] }));
  await rejectsInput(openResume(run, {}), 'last.safetensors', 'records no epoch');

  // given explicitly; the seed's own name
  const given = await runCli(['import', 'keras', renamed, '-o', path.join(dir, 'e12.safetensors'), '--epoch', '12', '--json']);
  assert.equal(given.code, 0, given.stderr);
  assert.equal(JSON.parse(given.stdout).epoch, 12);
  assert.equal((await loadCheckpoint(path.join(dir, 'e12.safetensors'))).meta.epoch, 12);
  const { epochFromName } = await import('../dist/src/keras/import.js');
  assert.deepEqual(
    ['weights70.h5', '/x/weights5.h5', 'weights70_v2.h5', 'myweights2.h5', 'weights.h5', 'run3.h5', 'weights70.keras'].map(epochFromName),
    [70, 5, undefined, undefined, undefined, undefined, undefined],
  );
  for (const bad of ['-1', 'two', '1.5']) {
    const e = await runCli(['import', 'keras', renamed, '-o', path.join(dir, 'bad.safetensors'), '--epoch', bad]);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /--epoch/);
  }
  await assert.rejects(fs.access(path.join(dir, 'bad.safetensors')));
});
