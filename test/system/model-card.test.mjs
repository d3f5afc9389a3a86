// MODEL_CARD.md beside an exported model: the val figures are those `engine eval` reports for the same file,
// the training config comes from the checkpoint, and without val data the card says why it has no figures.
// (wilsonInterval's own test is in test/eval-metrics.test.mjs, writeFilesAtomic's in test/io-atomic.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { wilsonInterval } from '../../dist/src/eval/metrics.js';
import { train } from '../../dist/src/workflows/train.js';
import { CELEBA, SHARED, runCli, smallDataset, tempDir } from '../helpers.mjs';

const pct = (x, d = 2) => `${(x * 100).toFixed(d)}%`;

test("engine export onnx writes MODEL_CARD.md with the exported model's own val figures (= engine eval val)", async (t) => {
  const dir = await tempDir(t);
  const weights = path.join(dir, 'w70.safetensors');
  const imported = await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights]);
  assert.equal(imported.code, 0, imported.stderr);
  const model = path.join(dir, 'out', 'seed70.onnx');
  const exported = await runCli(['export', 'onnx', '--weights', weights, '-o', model, '--data', CELEBA]);
  assert.equal(exported.code, 0, exported.stderr);
  const cardFile = path.join(dir, 'out', 'MODEL_CARD.md');
  assert.match(exported.stdout, /wrote .*MODEL_CARD\.md \(val accuracy 96\.00% \(72\/75\), ROC AUC 0\.9603\)/);
  assert.deepEqual((await fs.readdir(path.join(dir, 'out'))).sort(), ['MODEL_CARD.md', 'seed70.onnx'], 'no temp files left');

  const ev = await runCli(['eval', 'val', '--data', CELEBA, '--model', model, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const r = JSON.parse(ev.stdout);
  assert.equal(r.correct, 72); // the seed's own figure for its weights70.h5
  const card = await fs.readFile(cardFile, 'utf8');
  const [lo, hi] = wilsonInterval(r.correct, r.images);
  const f = (c) => r.perClass[c];
  const expected = [
    `| accuracy | ${pct(r.accuracy)} (${r.correct}/${r.images}) |`,
    `| accuracy, 95% confidence interval (Wilson) | ${pct(lo, 1)} to ${pct(hi, 1)} |`,
    `| mean average precision | ${pct(r.rankedMAP)} (ties grouped: ${pct(r.mAP)}) |`,
    `| ROC AUC | ${r.rocAuc.toFixed(4)} |`,
    ...['man', 'woman'].map(
      (c) => `| ${c} | ${pct(r.rankedAveragePrecision[c])} (ties grouped: ${pct(r.averagePrecision[c])}) | ${pct(f(c).precision)} | ${pct(f(c).recall)} | ${pct(f(c).f1)} | ${f(c).support} |`,
    ),
    '| | man | woman |',
    `| man | ${r.confusion.matrix[0][0]} | ${r.confusion.matrix[0][1]} |`,
    `| woman | ${r.confusion.matrix[1][0]} | ${r.confusion.matrix[1][1]} |`,
    'Predicted woman iff P(woman) > 0.5.',
    'Not for decisions about people',
    'non-commercial research purposes only',
    '500 training images (198 man, 302 woman) and 75 validation images',
    'every file matches manifests/celeba-575.sha256',
    'the classes are imbalanced (60% woman in training, 69% in validation)',
    '| keras version | 2.1.5 |',
    '| architecture | seed7, ',
    // paths relative to the card's folder: the checkpoint beside it, the data where it is
    "exported by engine 0.1.0 from `../w70.safetensors`",
    `images of \`${path.relative(path.join(dir, 'out'), path.join(CELEBA, 'val'))}\``,
    `- Measured on \`${path.relative(path.join(dir, 'out'), CELEBA)}\`: a 575-image extract of CelebA`,
    // an import records the weights file's name only (no path of this machine in the checkpoint or the model)
    '| imported from | weights70.h5 |',
  ];
  assert.doesNotMatch(card, /`\/|\| \//, 'no absolute path');
  for (const line of expected) assert.ok(card.includes(line), `card lacks ${JSON.stringify(line)}:\n${card}`);
});

test("a trained run's card lists its config; without val data it says why; --no-card writes none", async (t) => {
  const data = await smallDataset(t);
  const dir = await tempDir(t);
  const run = await train({ data, epochs: 1, batchSize: 8, seed: 11, out: path.join(dir, 'run'), saveEvery: 0 });
  const weights = path.join(run.runDir, 'best.safetensors');

  // default data: the checkpoint's own training data
  const ok = await runCli(['export', 'onnx', '--weights', weights, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout);
  assert.equal(summary.modelCard.file, path.join(run.runDir, 'MODEL_CARD.md'));
  assert.equal(summary.modelCard.images, 8);
  const card = await fs.readFile(summary.modelCard.file, 'utf8');
  // readable names, with what each setting means (from the option table)
  for (const line of [
    '| seed | 11 | seed for init, data order, augmentation and dropout |',
    '| epochs | 1 | epochs (full passes over train) |',
    '| batch size | 8 | images per step; the last batch may be smaller |',
    "| learning rate | 0.001 | learning rate (the schedule's peak) |",
    '| optimizer | rmsprop | ',
    '| save every | 0 | ',
    '| skip bad images | false | ',
    'trained on 16 images and validated on 8',
    `val_acc ${run.best.valAcc.toFixed(4)}`,
  ])
    assert.ok(card.includes(line), `card lacks ${line}:\n${card}`);
  for (const key of ['batchSize', 'saveEvery', 'skipBadImages']) assert.ok(!card.includes(`| ${key} |`), key);
  // what an RMSprop run with the seed's warp does not read is not listed
  for (const name of ['momentum', 'nesterov', 'beta1', 'shift', 'erase area', 'step gamma']) assert.ok(!card.includes(`| ${name} |`), name);
  assert.doesNotMatch(card, /`\/|\| \//, 'no absolute path');

  const elsewhere = path.join(dir, 'nodata');
  const none = await runCli(['export', 'onnx', '--weights', weights, '-o', path.join(elsewhere, 'm.onnx'), '--data', path.join(dir, 'missing')]);
  assert.equal(none.code, 0, none.stderr);
  const noFigures = await fs.readFile(path.join(elsewhere, 'MODEL_CARD.md'), 'utf8');
  // paths in a card are relative to its folder: no path of this machine
  assert.ok(noFigures.includes('Not measured: ../missing/val is not a folder'), noFigures);
  assert.ok(!noFigures.includes(dir), noFigures);
  assert.ok(!noFigures.includes('| accuracy |'));

  const bare = path.join(dir, 'bare');
  const noCard = await runCli(['export', 'onnx', '--weights', weights, '-o', path.join(bare, 'm.onnx'), '--no-card']);
  assert.equal(noCard.code, 0, noCard.stderr);
  assert.deepEqual(await fs.readdir(bare), ['m.onnx']);
});

/**
 * A cat/dog dataset (the classes are just folder names; the pictures are CelebA faces): train 3 cat, 5 dog;
 * val 1 cat, 2 dog.
 */
async function petsDataset(t) {
  const dir = await tempDir(t, 'engine-pets-');
  const take = { train: { cat: ['man', 3], dog: ['woman', 5] }, val: { cat: ['man', 1], dog: ['woman', 2] } };
  for (const [split, classes] of Object.entries(take))
    for (const [cls, [from, n]] of Object.entries(classes)) {
      await fs.mkdir(path.join(dir, split, cls), { recursive: true });
      for (const f of (await fs.readdir(path.join(CELEBA, split, from))).sort().slice(0, n))
        await fs.copyFile(path.join(CELEBA, split, from, f), path.join(dir, split, cls, f));
    }
  return dir;
}

test('a card that cannot be made (data of other classes) leaves the previous model and card as they were', async (t) => {
  const dir = await tempDir(t);
  const weights = path.join(dir, 'w70.safetensors');
  assert.equal((await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights])).code, 0);
  const out = path.join(dir, 'rp');
  const model = path.join(out, 'model.onnx');
  const first = await runCli(['export', 'onnx', '--weights', weights, '-o', model, '--data', CELEBA]);
  assert.equal(first.code, 0, first.stderr);
  const before = { model: await fs.readFile(model), card: await fs.readFile(path.join(out, 'MODEL_CARD.md')) };

  // another graph (raw pixels in) measured on data whose classes are not the model's: refused, nothing replaced
  const pets = await petsDataset(t);
  const failed = await runCli(['export', 'onnx', '--weights', weights, '-o', model, '--data', pets, '--embed-preprocessing']);
  assert.equal(failed.code, 2, failed.stderr);
  assert.match(failed.stderr, /class folders of .*pets.*\(cat, dog\) do not match the classes of .*model\.onnx \(man, woman\)/);
  assert.deepEqual(await fs.readFile(model), before.model, 'the previous model is intact');
  assert.deepEqual(await fs.readFile(path.join(out, 'MODEL_CARD.md')), before.card, 'the previous card is intact');
  assert.deepEqual((await fs.readdir(out)).sort(), ['MODEL_CARD.md', 'model.onnx'], 'no temp files left');
});

test("the card's data section is computed from the data; the CelebA prose only for the seed's own files", async (t) => {
  // a model trained on 8 cat/dog images: its counts and shares, no word of CelebA, faces or gender
  const pets = await petsDataset(t);
  const dir = await tempDir(t);
  const run = await train({ data: pets, epochs: 1, batchSize: 4, seed: 2, threads: 1, out: path.join(dir, 'run'), saveEvery: 0 });
  const exported = await runCli(['export', 'onnx', '--weights', path.join(run.runDir, 'best.safetensors'), '--json']);
  assert.equal(exported.code, 0, exported.stderr);
  const card = await fs.readFile(path.join(run.runDir, 'MODEL_CARD.md'), 'utf8');
  for (const line of [
    `Trained on \`${path.relative(run.runDir, pets)}\`: 8 training images (3 cat, 5 dog) and 3 validation images (1 cat, 2 dog)`,
    'class shares: 63% dog in training, 67% in validation',
    'Nothing else about this data is recorded',
    'a binary cat/dog label from an image',
  ])
    assert.ok(card.includes(line), `card lacks ${JSON.stringify(line)}:\n${card}`);
  for (const word of ['CelebA', 'celebrit', 'gender', 'face', '575', 'man'])
    assert.ok(!new RegExp(`\\b${word}`).test(card), `card says ${JSON.stringify(word)}:\n${card}`);

  // the seed's files but one (symbolic links to them, one replaced by another photo): the same counts, computed,
  // but not the seed's dataset, so no CelebA prose
  const copy = await tempDir(t, 'engine-almost-seed-');
  for (const split of ['train', 'val'])
    for (const cls of ['man', 'woman']) {
      await fs.mkdir(path.join(copy, split, cls), { recursive: true });
      for (const f of await fs.readdir(path.join(CELEBA, split, cls))) await fs.symlink(path.join(CELEBA, split, cls, f), path.join(copy, split, cls, f));
    }
  const [first, second] = (await fs.readdir(path.join(copy, 'val', 'man'))).sort();
  await fs.rm(path.join(copy, 'val', 'man', first));
  await fs.copyFile(path.join(CELEBA, 'val', 'man', second), path.join(copy, 'val', 'man', first));
  const weights = path.join(dir, 'w70.safetensors');
  assert.equal((await runCli(['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights])).code, 0);
  const almost = await runCli(['export', 'onnx', '--weights', weights, '-o', path.join(dir, 'almost', 'm.onnx'), '--data', copy]);
  assert.equal(almost.code, 0, almost.stderr);
  const neutral = await fs.readFile(path.join(dir, 'almost', 'MODEL_CARD.md'), 'utf8');
  assert.ok(neutral.includes(`Measured on \`${path.relative(path.join(dir, 'almost'), copy)}\`: 500 training images (198 man, 302 woman) and 75 validation images (23 man, 52 woman)`), neutral);
  assert.ok(neutral.includes('class shares: 60% woman in training, 69% in validation'), neutral);
  assert.ok(neutral.includes('Imported from the Keras file'), neutral);
  assert.ok(!neutral.includes('CelebA'), neutral);
});
