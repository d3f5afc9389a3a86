// Presets carry their recipe: --arch (or its old name --model) picks a preset, a spec file or a spec object;
// flags override the recipe and the config records which values came from where. The trained spec is the
// preset's shaped for the data's classes, in one place (trainingSpec).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { resolveArch, resolveTrainOptions } from '../dist/src/options/train.js';
import { FMNIST_CNN, PRESETS, RECIPE_KEYS, SEED5, SEED7, SEED_RECIPE, trainingSpec } from '../dist/src/model/spec.js';
import { native } from '../dist/src/native.js';
import { train } from '../dist/src/workflows/train.js';
import { InputError, UsageError } from '../dist/src/errors.js';
import { smallDataset, tempDir } from './helpers.mjs';

const ALL = [...RECIPE_KEYS];

test("each preset's recipe is the default; flags override it, and the config says which came from where", () => {
  // the seed's recipe: RMSprop, constant lr, its warp, best by val_loss, nothing the seed did not have
  const seedPart = (r) => [r.epochs, r.batchSize, r.optimizer, r.lr, r.rho, r.epsilon, r.augment, r.schedule, r.weightDecay, r.clipNorm, r.labelSmoothing, r.ema, r.normalize, r.monitor, r.patience];
  assert.deepEqual(seedPart(SEED_RECIPE), [70, 32, 'rmsprop', 0.001, 0.9, 1e-7, 'keras', 'constant', 0, 0, 0, 0, 'none', 'val_loss', 0]);
  assert.deepEqual(PRESETS.seed5.recipe, SEED_RECIPE);
  assert.deepEqual(PRESETS['fmnist-cnn'].recipe, { ...SEED_RECIPE, epochs: 15, batchSize: 64, augment: 'none', schedule: 'cosine' });
  const pick = (c) => [c.arch, c.epochs, c.batchSize, c.lr, c.augment];
  assert.deepEqual(pick(resolveTrainOptions({})), ['seed7', 70, 32, 0.001, 'keras']);
  assert.deepEqual(pick(resolveTrainOptions({ arch: 'fmnist-cnn' })), ['fmnist-cnn', 15, 64, 0.001, 'none']);
  // --augment as a boolean keeps its former sense: on is the seed's warp
  const c = resolveTrainOptions({ arch: 'fmnist-cnn', epochs: 1, augment: true });
  assert.deepEqual(pick(c), ['fmnist-cnn', 1, 64, 0.001, 'keras']);
  assert.deepEqual(c.recipe, { preset: 'fmnist-cnn', fromPreset: ALL.filter((k) => k !== 'epochs' && k !== 'augment'), given: ['epochs', 'augment'] });
  assert.deepEqual(resolveTrainOptions({}).recipe, { preset: 'seed7', fromPreset: ALL, given: [] });
  // --model is --arch's old name; both given must agree
  assert.equal(resolveTrainOptions({ model: 'seed5' }).arch, 'seed5');
  assert.equal(resolveTrainOptions({ model: 'seed5', arch: 'seed5' }).arch, 'seed5');
  assert.throws(() => resolveTrainOptions({ model: 'seed5', arch: 'seed7' }), (e) => e instanceof UsageError && /disagree: give one/.test(e.message));
});

test('fmnist-cnn: 28x28 grey, conv 32 and conv 64 blocks, dense 128, dropout 0.4, 10-way softmax, rule none', () => {
  assert.deepEqual([FMNIST_CNN.input, FMNIST_CNN.head, FMNIST_CNN.resize], [[28, 28, 1], 'softmax', 'none']);
  const layout = native.layout(FMNIST_CNN);
  assert.equal(layout.classes, 10);
  assert.equal(layout.paramCount, 320 + 18496 + 1600 * 128 + 128 + 1290);
  assert.deepEqual(layout.ops.map((o) => o.shape), [
    [26, 26, 32], [26, 26, 32], [13, 13, 32], [11, 11, 64], [11, 11, 64], [5, 5, 64], [1, 1, 1600], [1, 1, 128], [1, 1, 128], [1, 1, 128], [1, 1, 10],
  ]);
});

test('--arch takes a .json spec (or {spec, recipe}) and the library a spec object; bad ones are one-line usage errors', async (t) => {
  const dir = await tempDir(t);
  const spec = { name: 'mini', input: [16, 16, 3], layers: [{ type: 'flatten' }, { type: 'dense', units: 1 }] };
  const file = path.join(dir, 'mini.json');
  await fs.writeFile(file, JSON.stringify(spec));
  const fromFile = resolveTrainOptions({ arch: file, batchSize: 4 });
  assert.deepEqual(fromFile.arch, spec, 'the spec itself is recorded (a resumed run needs no file)');
  assert.deepEqual([fromFile.epochs, fromFile.batchSize, fromFile.recipe.preset], [70, 4, 'mini']);
  const presetFile = path.join(dir, 'preset.json');
  await fs.writeFile(presetFile, JSON.stringify({ spec, recipe: { epochs: 3, augment: false } }));
  assert.deepEqual([resolveTrainOptions({ arch: presetFile }).epochs, resolveTrainOptions({ arch: presetFile }).augment], [3, 'none']);
  assert.deepEqual(resolveTrainOptions({ arch: spec }).arch, spec);
  assert.equal(resolveTrainOptions({ arch: { spec, recipe: { lr: 0.01 } } }).lr, 0.01);
  assert.equal(resolveArch('seed5').spec, SEED5);

  const usage = (arch, message) => assert.throws(() => resolveTrainOptions({ arch }), (e) => e instanceof UsageError && e.message.includes(message), JSON.stringify(arch));
  usage('resnet', '--arch (--model) must be one of seed7, seed5, fmnist-cnn, fmnist-res, face-res or a .json file of a model spec, got "resnet"');
  usage({ ...spec, input: [16, 16, 4] }, 'input channels must be 1 (grey) or 3 (RGB), got 4');
  usage({ ...spec, input: [16, 16] }, 'input must be [height, width, channels]');
  usage({ ...spec, head: 'tanh' }, 'head must be sigmoid or softmax');
  usage({ ...spec, resize: 'lanczos' }, 'resize must be pil-nearest, bilinear, none');
  usage({ ...spec, layers: [{ type: 'conv3x3', filters: 4 }, { type: 'warp' }] }, '--arch: ');
  usage({ spec, recipe: { epochz: 3 } }, 'unknown recipe key epochz');
  await fs.writeFile(path.join(dir, 'broken.json'), '{ name: ');
  assert.throws(() => resolveTrainOptions({ arch: path.join(dir, 'broken.json') }), (e) => e instanceof InputError && e.message.startsWith(`--arch ${path.join(dir, 'broken.json')}: not JSON`));
  assert.throws(() => resolveTrainOptions({ arch: path.join(dir, 'none.json') }), (e) => e instanceof InputError && e.message.endsWith('no such file'));
});

test("trainingSpec: the seed's presets stay as they are for 2 classes; more classes get a softmax of N units", () => {
  assert.equal(trainingSpec(SEED7, { classes: 2 }), SEED7, 'the same object: the seed path is untouched');
  assert.equal(trainingSpec(FMNIST_CNN, { classes: 10 }), FMNIST_CNN);
  const five = trainingSpec(SEED7, { classes: 5 });
  assert.deepEqual([five.name, five.head, five.layers.at(-1), five.resize], ['seed7', 'softmax', { type: 'dense', units: 5 }, undefined]);
  assert.deepEqual(five.layers.slice(0, -1), SEED7.layers.slice(0, -1));
  assert.deepEqual(trainingSpec(SEED7, { classes: 2, head: 'softmax' }).layers.at(-1).units, 2);
  // fmnist-cnn on 2 classes keeps its softmax (its own head); --head sigmoid makes it one logit
  assert.deepEqual(trainingSpec(FMNIST_CNN, { classes: 2 }).layers.at(-1).units, 2);
  const sig = trainingSpec(FMNIST_CNN, { classes: 2, head: 'sigmoid' });
  assert.deepEqual([sig.head, sig.layers.at(-1).units], [undefined, 1]);
  assert.equal(trainingSpec(SEED7, { classes: 2, resize: 'bilinear' }).resize, 'bilinear');
  assert.throws(() => trainingSpec(SEED7, { classes: 3, head: 'sigmoid' }), /--head sigmoid gives one output/);
  const noDense = { name: 'gap', input: [8, 8, 3], layers: [{ type: 'conv3x3', filters: 2 }, { type: 'globalavgpool' }] };
  assert.throws(() => trainingSpec(noDense, { classes: 3 }), /model 'gap': its last layer is a globalavgpool layer; it must be a dense layer/);
});

test('a run recorded before --arch (config.model, no recipe or validation) resumes as it was', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = path.join(await tempDir(t), 'run');
  const opts = { data, arch: 'seed5', epochs: 2, batchSize: 2, seed: 6, threads: 1, saveEvery: 1, out };
  const whole = await train(opts);
  // the run as an older engine left it after epoch 1: run.json in its former shape, weights of epoch 1 the newest
  const record = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  const { arch, recipe: _r, ...config } = record.config;
  const { validation: _v, spec: _s, results: _x, ...rest } = record;
  await fs.writeFile(path.join(out, 'run.json'), JSON.stringify({ ...rest, status: 'running', config: { ...config, model: arch } }));
  for (const f of ['weights2.safetensors', 'last.safetensors', 'best.safetensors']) await fs.rm(path.join(out, f), { force: true });
  await fs.writeFile(path.join(out, 'history.csv'), (await fs.readFile(path.join(out, 'history.csv'), 'utf8')).split('\n').slice(0, 2).join('\n') + '\n');
  const resumed = await train({ resume: out });
  assert.equal(resumed.config.arch, 'seed5');
  assert.deepEqual(resumed.history.map(({ seconds, ...h }) => h), whole.history.map(({ seconds, ...h }) => h));
});
