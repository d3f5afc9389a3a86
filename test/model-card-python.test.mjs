// The model card's Python snippet feeds the exported model as its metadata says (grey or RGB, its resize rule,
// scale, layout) and prints engine predict's class and probability. It runs where a Python with onnxruntime,
// Pillow and numpy is found ($ENGINE_TEST_PYTHON, else python3) and is skipped, saying why, elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { CELEBA, FASHION_MNIST as FMNIST, SHARED, runCli, runProgram, sliceFashionIdx, tempDir } from './helpers.mjs';
import { FASHION_CLASSES } from './nclass.mjs';

const PYTHON = process.env.ENGINE_TEST_PYTHON || 'python3';

const runPython = (args, cwd) => runProgram(PYTHON, args, cwd);

/** The card's ```python block beside `model`. */
async function cardSnippet(model) {
  const card = await fs.readFile(path.join(path.dirname(model), 'MODEL_CARD.md'), 'utf8');
  const m = /\n## Using the model elsewhere\n[\s\S]*?\n```python\n([\s\S]*?)\n```\n/.exec(card);
  assert.ok(m, 'a Python block under "Using the model elsewhere"');
  return m[1];
}

/** Runs the snippet on `image` (in the model's folder) and checks it against engine predict --json. */
async function matchesPredict(t, snippet, model, image) {
  const probe = await runPython(['-c', 'import onnxruntime, PIL, numpy'], path.dirname(model));
  if (probe.code !== 0) return t.skip(`${PYTHON} lacks onnxruntime, Pillow or numpy (set ENGINE_TEST_PYTHON to one that has them)`);
  await fs.writeFile(path.join(path.dirname(model), 'snippet.py'), snippet.replace('"image.png"', JSON.stringify(image)));
  const r = await runPython(['snippet.py'], path.dirname(model));
  assert.equal(r.code, 0, r.stderr);
  const [cls, p] = [r.stdout.trim().slice(0, r.stdout.trim().lastIndexOf(' ')), Number(r.stdout.trim().split(' ').at(-1))];
  const cli = await runCli(['predict', image, '--model', model, '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const [predicted] = JSON.parse(cli.stdout);
  assert.equal(cls, predicted.class);
  assert.ok(Math.abs(p - predicted.probability) < 1e-5, `${p} vs ${predicted.probability}`);
}

test("the seed's card: RGB, PIL's NEAREST to 150x150, NCHW, P(woman) > 0.5; as engine predict", async (t) => {
  const dir = await tempDir(t);
  const weights = path.join(dir, 'w.safetensors');
  for (const args of [['import', 'keras', path.join(SHARED, 'seed/keras/weights70.h5'), '-o', weights], ['export', 'onnx', '--weights', weights, '--data', CELEBA]]) {
    const r = await runCli(args, { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
  }
  const model = path.join(dir, 'model.onnx');
  const snippet = await cardSnippet(model);
  for (const part of ['.convert("RGB").resize((150, 150), Image.NEAREST)', 'reshape(150, 150, 3) * np.float32(0.00392156862745098)', '{"image": x.transpose(2, 0, 1)[np.newaxis]}', 'classes = ["man", "woman"]', 'p > 0.5'])
    assert.ok(snippet.includes(part), `${part} in\n${snippet}`);
  await matchesPredict(t, snippet, model, path.join(CELEBA, 'val', 'woman', '121883.jpg'));
});

test('a Fashion-MNIST card: grey, not resized, [N,1,28,28], the most probable of 10 classes; as engine predict', async (t) => {
  if (!(await fs.stat(FMNIST).catch(() => null))) return t.skip(`${FMNIST} is not installed (Debian's dataset-fashion-mnist)`);
  const data = await tempDir(t, 'engine-fmnist-');
  await sliceFashionIdx(data, 'train-images-idx3-ubyte', 300);
  await sliceFashionIdx(data, 'train-labels-idx1-ubyte', 300);
  const test = await sliceFashionIdx(data, 't10k-images-idx3-ubyte', 20);
  await sliceFashionIdx(data, 't10k-labels-idx1-ubyte', 20);
  await fs.writeFile(path.join(data, 'classes.txt'), FASHION_CLASSES.join('\n') + '\n');
  const out = path.join(await tempDir(t), 'run');
  for (const args of [['train', '--data', data, '--arch', 'fmnist-cnn', '--epochs', '1', '--seed', '2', '--out', out, '--quiet'], ['export', 'onnx', '--weights', path.join(out, 'last.safetensors')]]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
  }
  const model = path.join(out, 'model.onnx');
  const snippet = await cardSnippet(model);
  for (const part of ['.convert("L")   # must be 28x28 already', 'reshape(28, 28, 1)', 'x.transpose(2, 0, 1)[np.newaxis]', 'int(out[0].argmax())', '"T-shirt/top", "Trouser"'])
    assert.ok(snippet.includes(part), `${part} in\n${snippet}`);
  assert.doesNotMatch(snippet, /resize/);
  // the third test image as a PNG file
  const image = path.join(out, 'item2.png');
  await sharp(Buffer.from(test.subarray(2 * 784, 3 * 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(image);
  await matchesPredict(t, snippet, model, image);
});
