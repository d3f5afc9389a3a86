// `engine predict` with a model of more than two classes: the three most probable classes on each line, every
// probability in --json, the top class drawn by --annotate, --threshold refused; without --model, the line that
// says which model was used (for 2-class models too).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { annotateImage } from '../dist/src/predict/annotate.js';
import { runCli, tempDir } from './helpers.mjs';
import { classDataset, trainClassModel } from './nclass.mjs';

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));
let data, fit, images;
before(async () => {
  data = await classDataset(suite, { classes: ['ant', 'bee', 'cow', 'dog'], counts: { train: 6, test: 2 }, seed: 7 });
  fit = await trainClassModel(data, path.join(await tempDir(suite), 'model'), { seed: 2, steps: 30 });
  fit.trainer.dispose();
  images = ['ant', 'cow', 'dog'].map((c) => path.join(data, 'test', c, '000.png'));
});

test('each line holds the three most probable classes, most probable first; --json every probability', async () => {
  const r = await runCli(['predict', ...images, '--model', fit.model]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'with --model, nothing on stderr');
  const j = await runCli(['predict', ...images, '--model', fit.model, '--json']);
  assert.equal(j.code, 0, j.stderr);
  const predictions = JSON.parse(j.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  predictions.forEach((p, i) => {
    assert.equal(p.file, images[i]);
    assert.deepEqual(Object.keys(p.scores), ['ant', 'bee', 'cow', 'dog']);
    const probs = Object.values(p.scores);
    assert.ok(Math.abs(probs.reduce((a, b) => a + b) - 1) < 1e-6);
    assert.deepEqual(p.ranked.map((x) => x.probability), [...probs].sort((a, b) => b - a));
    assert.equal(p.ranked.length, 4);
    assert.equal(p.class, p.ranked[0].class);
    assert.equal(p.probability, p.scores[p.class]);
    assert.equal(p.probability, Math.max(...probs));
    assert.equal(lines[i], `${images[i]}: ${p.ranked.slice(0, 3).map((x) => `${x.class} ${x.probability.toFixed(4)}`).join(', ')}`);
  });
  assert.match(lines[0], /^\S+000\.png: (ant|bee|cow|dog) [01]\.\d{4}, (ant|bee|cow|dog) [01]\.\d{4}, (ant|bee|cow|dog) [01]\.\d{4}$/);
});

test('--annotate draws the most probable class and its probability', async (t) => {
  const out = await tempDir(t);
  const drawn = path.join(out, 'drawn.png');
  const r = await runCli(['predict', images[1], '--model', fit.model, '--annotate', drawn, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const [p] = JSON.parse(r.stdout);
  assert.equal(p.annotated, drawn);
  // the same picture as the label "<top class> (p = 0.xxxx)" drawn by the annotator itself
  const expected = path.join(out, 'expected.png');
  await annotateImage(images[1], expected, `${p.class} (p = ${p.probability.toFixed(4)})`, 'png');
  const [a, b] = await Promise.all([drawn, expected].map((f) => sharp(f).raw().toBuffer()));
  assert.ok(a.equals(b), 'the annotated copy carries the top class and its probability');
  const original = await sharp(images[1]).raw().toBuffer();
  assert.ok(!a.equals(original), 'something was drawn');
});

test('--threshold is refused for a 4-class model', async () => {
  const r = await runCli(['predict', images[0], '--model', fit.model, '--threshold', '0.6']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /--threshold applies to 2-class models; .*has 4 classes/);
});

test('without --model or --weights, predict says which model it used (the newest run under ./runs)', async (t) => {
  const cwd = await tempDir(t);
  const run = path.join(cwd, 'runs', 'run-1');
  await fs.mkdir(run, { recursive: true });
  await fs.writeFile(path.join(run, 'run.json'), JSON.stringify({ started: '2030-01-01T00:00:00Z' }));
  await fs.copyFile(fit.model, path.join(run, 'model.onnx'));
  const r = await runCli(['predict', images[0]], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `model: ${path.join(run, 'model.onnx')} (the newest run under ./runs)\n`);
  assert.ok(r.stdout.startsWith(`${images[0]}: `));
  // --json keeps stdout for the predictions
  const j = await runCli(['predict', images[0], '--json'], { cwd });
  assert.equal(JSON.parse(j.stdout).length, 1);
  assert.match(j.stderr, /^model: .*model\.onnx \(the newest run under \.\/runs\)$/m);
});
