// MODEL_CARD.md of a model of more than two classes (a small softmax CNN on a 3-class folder dataset, exported
// by `engine export onnx`): its figures are `engine eval val`'s (top-2, mean AP, macro AUC, a row per class, the
// 3 x 3 confusion matrix), it names the classes, says nothing of faces, and holds no absolute path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCli, tempDir } from './helpers.mjs';
import { classDataset, trainClassModel } from './nclass.mjs';

const pct = (x, d = 2) => (x === null ? 'n/a' : `${(x * 100).toFixed(d)}%`); // NaN is null in JSON

test('a 3-class card: per-class table, top-2, macro AUC, 3 x 3 confusion matrix, class shares; relative paths only', async (t) => {
  const data = await classDataset(t, { classes: ['cat', 'dog', 'fox'], counts: { train: 12, val: 10 }, seed: 1 });
  const fit = await trainClassModel(data, path.join(await tempDir(t), 'run'), { seed: 3, steps: 40 });
  fit.trainer.dispose();
  const out = path.join(path.dirname(fit.weights), 'export', 'model.onnx');
  const exported = await runCli(['export', 'onnx', '--weights', fit.weights, '-o', out, '--data', data]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(exported.stdout, /output probabilities float32 \[N,3\] = the probability of each class, classes 0=cat 1=dog 2=fox/);
  const ev = await runCli(['eval', 'val', '--data', data, '--model', out, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const r = JSON.parse(ev.stdout);
  const card = await fs.readFile(path.join(path.dirname(out), 'MODEL_CARD.md'), 'utf8');
  const [lo, hi] = r.accuracyInterval;
  const rel = path.relative(path.dirname(out), data);
  for (const line of [
    '# Model card: tiny3 classifier of 3 classes',
    'input: an RGB image resized to 20x20',
    'output: the probability of each class (softmax), classes cat, dog, fox.',
    'It guesses one of 3 classes (cat, dog, fox) from an image',
    `- Trained on \`${rel}\`: 36 training images (12 cat, 12 dog, 12 fox) and 30 validation images (10 cat, 10 dog, 10 fox).`,
    'class shares: in training 33% cat, 33% dog, 33% fox; in validation 33% cat, 33% dog, 33% fox',
    'Predicted: the most probable class.',
    `| accuracy | ${pct(r.accuracy)} (${r.correct}/30) |`,
    `| accuracy, 95% confidence interval (Wilson) | ${pct(lo, 1)} to ${pct(hi, 1)} |`,
    `| top-2 accuracy | ${pct(r.topK[0].accuracy)} (${r.topK[0].correct}/30) |`,
    `| mean average precision | ${pct(r.rankedMAP)} (ties grouped: ${pct(r.mAP)}) |`,
    `| ROC AUC, macro mean of one class against the rest | ${r.rocAuc.toFixed(4)} |`,
    ...r.classes.map((c) => {
      const f = r.perClass[c];
      return `| ${c} | ${pct(r.rankedAveragePrecision[c])} (ties grouped: ${pct(r.averagePrecision[c])}) | ${pct(f.precision)} | ${pct(f.recall)} | ${pct(f.f1)} | 10 |`;
    }),
    '| | cat | dog | fox |',
    '| --- | ---: | ---: | ---: |',
    ...r.confusion.matrix.map((row, i) => `| ${r.classes[i]} | ${row.join(' | ')} |`),
    `exported by engine 0.1.0 from \`../tiny.safetensors\``,
    `| data | ${rel} | dataset folder with train/ (and val/), one subfolder per class, or the four MNIST-style IDX files |`,
    '| architecture | tiny3, 7 layers, softmax head | the model spec |',
  ])
    assert.ok(card.includes(line), `card lacks ${JSON.stringify(line)}:\n${card}`);
  if (r.confusedPairs.length) assert.ok(card.includes(`Most confused: ${r.confusedPairs[0].label} as ${r.confusedPairs[0].predicted} (${r.confusedPairs[0].count}, `), card);
  for (const word of ['CelebA', 'face', 'gender', 'binary', 'P\\(dog\\)'])
    assert.ok(!new RegExp(word).test(card), `card says ${word}:\n${card}`);
  assert.doesNotMatch(card, /`\/|\| \/|\/tmp\//, 'no absolute path');
});
