// N classes from folders: a 3-class dataset of small PNGs (coloured shapes, 12x12, drawn here) trains from the
// command line with a spec file (softmax head of 3 units), in colour and in grey, exports to ONNX (whose
// probabilities are the trainer's), and nothing of this machine's paths goes into the checkpoint, model or card.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import * as ort from '../dist/src/eval/runtime.js'; // onnxruntime-node, telemetry off
import { readDataSplit } from '../dist/src/data/dataset.js';
import { RECIPE_KEYS } from '../dist/src/model/spec.js';
import { preprocessOf } from '../dist/src/data/preprocess.js';
import { readModelMetadata } from '../dist/src/onnx/model-info.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { parseHistoryCsv } from '../dist/src/store/history.js';
import { native, trainerConfig } from '../dist/src/native.js';
import { rng, runCli, tempDir } from './helpers.mjs';

const COLOURS = { blue: [40, 60, 220], green: [40, 200, 60], red: [220, 40, 40] };

/** DIR/<split>/<colour>/*.png: 12x12 grey-noise images with a square of the class's colour at a random place. */
async function shapesDataset(t, counts = { train: 10, val: 4 }, classes = Object.keys(COLOURS)) {
  const dir = await tempDir(t, 'engine-shapes-');
  const r = rng(11);
  for (const [split, n] of Object.entries(counts))
    for (const cls of classes) {
      await fs.mkdir(path.join(dir, split, cls), { recursive: true });
      for (let k = 0; k < n; k++) {
        const px = Buffer.alloc(12 * 12 * 3);
        for (let i = 0; i < px.length; i++) px[i] = 90 + Math.floor(r() * 60);
        const [x0, y0, s] = [Math.floor(r() * 6), Math.floor(r() * 6), 4 + Math.floor(r() * 3)];
        for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) px.set(COLOURS[cls], (y * 12 + x) * 3);
        await sharp(px, { raw: { width: 12, height: 12, channels: 3 } }).png().toFile(path.join(dir, split, cls, `${k}.png`));
      }
    }
  return dir;
}

/** A spec file: a small CNN for 12x12 images (its last layer gets one unit per class) and a recipe of 6 epochs. */
const specFile = async (dir, channels, resize = 'none') => {
  const file = path.join(dir, `tiny-${channels}-${resize}.json`);
  const spec = {
    name: `tiny${channels}`,
    input: [12, 12, channels],
    resize,
    layers: [{ type: 'conv3x3', filters: 8 }, { type: 'relu' }, { type: 'maxpool2x2' }, { type: 'flatten' }, { type: 'dense', units: 1 }],
  };
  await fs.writeFile(file, JSON.stringify({ spec, recipe: { epochs: 6, batchSize: 6, lr: 0.003, augment: false } }));
  return file;
};

test('3 classes of PNGs train with a softmax head from a spec file, export to ONNX, evaluate; no machine paths', async (t) => {
  const data = await shapesDataset(t);
  const work = await tempDir(t);
  const arch = await specFile(work, 3, 'pil-nearest');
  const out = path.join(work, 'runs', 'rgb');
  const r = await runCli(['train', '--data', data, '--arch', arch, '--seed', '1', '--threads', '1', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(summary.classes, ['blue', 'green', 'red']);
  assert.deepEqual([summary.spec.head, summary.spec.layers.at(-1).units, summary.spec.resize], ['softmax', 3, undefined]);
  assert.equal(summary.history, undefined);
  assert.equal(summary.final.epoch, 6, "the spec file's recipe: 6 epochs");
  assert.deepEqual(summary.config.recipe, { preset: 'tiny3', fromPreset: [...RECIPE_KEYS], given: [] });
  // colours are easy: the run learns them (chance is 1/3)
  assert.ok(summary.best.valAcc >= 0.75, `best val accuracy ${summary.best.valAcc}`);

  const weights = path.join(out, 'best.safetensors');
  const ckpt = await loadCheckpoint(weights);
  assert.equal(ckpt.meta.config.data, path.relative(out, data));
  const exported = await runCli(['export', 'onnx', '--weights', weights, '--json']);
  assert.equal(exported.code, 0, exported.stderr);
  const modelFile = path.join(out, 'model.onnx');
  const bytes = await fs.readFile(modelFile);
  const info = readModelMetadata(bytes, modelFile);
  assert.deepEqual([info.head, info.classes, info.resize, info.channels, info.outputName], ['softmax', ['blue', 'green', 'red'], 'pil-nearest', 3, 'probabilities']);
  // engine eval measures the exported model on val: the trainer's accuracy of that epoch (the card's figure too)
  const ev = await runCli(['eval', 'val', '--data', data, '--model', modelFile, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  assert.deepEqual([JSON.parse(ev.stdout).images, JSON.parse(ev.stdout).accuracy], [12, summary.best.valAcc]);
  assert.equal(JSON.parse(exported.stdout).modelCard.accuracy, summary.best.valAcc);
  const card = await fs.readFile(path.join(out, 'MODEL_CARD.md'), 'utf8');

  // nothing of this machine's paths in the checkpoint's config, the model or the card
  for (const [what, text] of [['checkpoint config', JSON.stringify(ckpt.meta.config)], ['model', bytes.toString('latin1')], ['card', card]])
    for (const p of [work, data]) assert.ok(!text.includes(p), `${what} holds ${p}`);

  // the exported graph's probabilities are the trainer's, on the val images read as the model's input
  const val = await readDataSplit(data, 'val', preprocessOf(ckpt.meta.spec));
  const trainer = new native.Trainer(trainerConfig({ spec: ckpt.meta.spec }));
  t.after(() => trainer.dispose());
  trainer.setParams(ckpt.params);
  const expected = await trainer.predict(val.images);
  const session = await ort.InferenceSession.create(bytes);
  const x = new Float32Array(val.size * 3 * 144);
  for (let n = 0; n < val.size; n++)
    for (let p = 0; p < 144; p++) for (let c = 0; c < 3; c++) x[n * 432 + c * 144 + p] = val.images[n * 432 + p * 3 + c] * Math.fround(1 / 255);
  const got = (await session.run({ image: new ort.Tensor('float32', x, [val.size, 3, 12, 12]) })).probabilities;
  assert.deepEqual(got.dims, [val.size, 3]);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(got.data[i] - expected[i]) < 2e-6, `probability ${i}: onnx ${got.data[i]}, engine ${expected[i]}`);
});

test('grey input, --head softmax for 2 classes, no val folder (10% held out), and rule none naming an odd-sized image', async (t) => {
  const data = await shapesDataset(t, { train: 10 });
  const work = await tempDir(t);
  const out = path.join(work, 'grey');
  const r = await runCli(['train', '--data', data, '--arch', await specFile(work, 1), '--epochs', '1', '--seed', '2', '--threads', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^validation: 3 images held out of train \(seeded\)$/m);
  assert.match(r.stdout, /^data: 27 train and 3 val images, classes 0=blue 1=green 2=red$/m);
  const ckpt = await loadCheckpoint(path.join(out, 'last.safetensors'));
  assert.deepEqual(ckpt.meta.spec.input, [12, 12, 1]);
  assert.deepEqual(ckpt.meta.config.recipe.given, ['epochs']);
  // it exports, and its card is measured on the 3 images the run held out (the checkpoint records which): grey
  // input and the rule none are fed as the trainer fed them, so eval's accuracy is the trainer's last val_acc
  const exported = await runCli(['export', 'onnx', '--weights', path.join(out, 'last.safetensors'), '--json']);
  assert.equal(exported.code, 0, exported.stderr);
  const card = JSON.parse(exported.stdout).modelCard;
  assert.equal(card.note, undefined);
  assert.equal(card.images, 3);
  const valAcc = parseHistoryCsv(await fs.readFile(path.join(out, 'history.csv'), 'utf8')).at(-1).val_acc;
  assert.equal(card.accuracy, valAcc);
  const evaluated = await runCli(['eval', 'val', '--data', data, '--model', path.join(out, 'model.onnx'), '--json']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  assert.deepEqual([JSON.parse(evaluated.stdout).images, JSON.parse(evaluated.stdout).accuracy], [3, valAcc]);

  // two classes keep a sigmoid unless --head softmax
  const two = await shapesDataset(t, { train: 6, val: 2 }, ['blue', 'red']);
  const sig = await runCli(['train', '--data', two, '--arch', await specFile(work, 3), '--epochs', '1', '--seed', '2', '--threads', '1', '--json', '--out', path.join(work, 's')]);
  assert.equal(sig.code, 0, sig.stderr);
  assert.deepEqual([JSON.parse(sig.stdout).spec.head, JSON.parse(sig.stdout).spec.layers.at(-1).units], [undefined, 1]);
  const soft = await runCli(['train', '--data', two, '--arch', await specFile(work, 3), '--head', 'softmax', '--epochs', '1', '--seed', '2', '--threads', '1', '--json', '--out', path.join(work, 'x')]);
  assert.equal(soft.code, 0, soft.stderr);
  assert.deepEqual([JSON.parse(soft.stdout).spec.head, JSON.parse(soft.stdout).spec.layers.at(-1).units], ['softmax', 2]);
  const bad = await runCli(['train', '--data', data, '--arch', await specFile(work, 3), '--head', 'sigmoid', '--out', path.join(work, 'y')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--head sigmoid gives one output, P\(class 1\), for 2 classes; the data has 3: use --head softmax/);

  // an image of another size under rule none: exit 2 naming it and its size, before a run folder exists
  const odd = path.join(two, 'train', 'red', 'odd.png');
  await sharp({ create: { width: 13, height: 12, channels: 3, background: '#808080' } }).png().toFile(odd);
  const refused = await runCli(['train', '--data', two, '--arch', await specFile(work, 3), '--out', path.join(work, 'z')]);
  assert.equal(refused.code, 2);
  assert.equal(refused.stderr, `engine: ${odd}: the image is 13x12, but the model takes 12x12 images as they are (resize rule 'none')\n`);
  await assert.rejects(fs.access(path.join(work, 'z')));
  // --resize bilinear brings it to size instead
  const resized = await runCli(['train', '--data', two, '--arch', await specFile(work, 3), '--resize', 'bilinear', '--epochs', '1', '--seed', '2', '--threads', '1', '--json', '--out', path.join(work, 'b')]);
  assert.equal(resized.code, 0, resized.stderr);
  assert.equal(JSON.parse(resized.stdout).spec.resize, 'bilinear');
});
