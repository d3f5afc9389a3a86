// Output paths the user names (--annotate, -o/--out, --html): an output that is one of the command's inputs is
// refused before any work and the input stays as it was; an output whose folder cannot be made is refused
// before the work with a one-line message (exit 2), not a stack trace after it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeOutputFile } from '../dist/src/io/output.js';
import { CELEBA, SHARED, rejectsInput, runCli, smallDataset, tempDir } from './helpers.mjs';

const TEST1 = path.join(SHARED, 'data/test1.jpg');
const WEIGHTS70 = path.join(SHARED, 'seed/keras/weights70.h5');

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));

// The seed's weights as a checkpoint and as an exported model: no training needed.
let fixtures, weights, model;
before(async () => {
  fixtures = await tempDir(suite);
  weights = path.join(fixtures, 'w70.safetensors');
  assert.equal((await runCli(['import', 'keras', WEIGHTS70, '-o', weights])).code, 0);
  model = path.join(fixtures, 'model.onnx');
  assert.equal((await runCli(['export', 'onnx', '--weights', weights, '-o', model, '--no-card'])).code, 0);
});

/** Runs the CLI in `cwd`; expects exit 2 with one line (no stack trace) matching every pattern. */
async function refused(cwd, args, ...patterns) {
  const r = await runCli(args, { cwd });
  assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  for (const p of patterns) assert.match(r.stderr, p);
  return r.stderr;
}

const bytesOf = (file) => fs.readFile(file);

test('an output that is one of the inputs is refused before any work, naming both; the input is untouched', async (t) => {
  const dir = await tempDir(t);
  // predict: the photo itself, the photo through another spelling and through a symbolic link, the model
  const victim = path.join(dir, 'victim.jpg');
  await fs.copyFile(TEST1, victim);
  const original = await bytesOf(victim);
  await refused(dir, ['predict', 'victim.jpg', '--model', model, '--annotate', 'victim.jpg'], /--annotate victim\.jpg is the input image victim\.jpg/);
  await refused(dir, ['predict', victim, '--model', model, '--annotate', './sub/../victim.jpg'], /--annotate .* is the input image/);
  await fs.symlink(victim, path.join(dir, 'link.jpg'));
  await refused(dir, ['predict', 'victim.jpg', '--model', model, '--annotate', 'link.jpg'], /is the input image victim\.jpg/);
  await refused(dir, ['predict', 'victim.jpg', '--model', model, '--annotate', model], /--annotate .*model\.onnx is the model/);
  assert.deepEqual(await bytesOf(victim), original, 'the photo is unchanged');
  await assert.rejects(fs.access(path.join(dir, 'sub')), 'nothing was created');

  // several images into a folder: <base>.annotated.<ext> must not be one of them either
  const already = path.join(dir, 'victim.annotated.jpg');
  await fs.copyFile(TEST1, already);
  await refused(dir, ['predict', 'victim.jpg', 'victim.annotated.jpg', '--model', model, '--annotate', '.'], /is the input image victim\.annotated\.jpg/);

  // import keras: -o the HDF5 file itself
  const h5 = path.join(dir, 'w.h5');
  await fs.copyFile(WEIGHTS70, h5);
  await refused(dir, ['import', 'keras', 'w.h5', '-o', 'w.h5'], /--out .*w\.h5 is the weights file .*w\.h5/);
  assert.deepEqual(await bytesOf(h5), await bytesOf(WEIGHTS70), 'the HDF5 file is unchanged');

  // export onnx: -o the checkpoint it reads
  const ckpt = path.join(dir, 'best.safetensors');
  await fs.copyFile(weights, ckpt);
  await refused(dir, ['export', 'onnx', '--weights', ckpt, '-o', ckpt], /--out .*best\.safetensors is the checkpoint .*best\.safetensors/);
  assert.deepEqual(await bytesOf(ckpt), await bytesOf(weights), 'the checkpoint is unchanged');

  // eval --html: the model, or one of the images it evaluates
  const data = await smallDataset(t, { val: { man: 1, woman: 1 } });
  const image = path.join(data, 'val', 'man', (await fs.readdir(path.join(data, 'val', 'man')))[0]);
  const imageBytes = await bytesOf(image);
  await refused(dir, ['eval', 'val', '--data', data, '--model', model, '--html', model], /--html .*model\.onnx is the model/);
  await refused(dir, ['eval', 'val', '--data', data, '--model', model, '--html', image], /--html .* is an evaluated image/);
  assert.deepEqual(await bytesOf(image), imageBytes);
  assert.equal((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp')).length, 0);
});

test('an output whose folder cannot be made is refused before the work, exit 2, one line naming the file in the way', async (t) => {
  const dir = await tempDir(t);
  await fs.copyFile(TEST1, path.join(dir, 'img.jpg'));
  const inTheWay = /img\.jpg is a file, not a folder/;
  await refused(dir, ['eval', 'val', '--data', CELEBA, '--model', model, '--html', 'img.jpg/x.html'], /^engine: --html img\.jpg\/x\.html: /, inTheWay);
  await refused(dir, ['export', 'onnx', '--weights', weights, '-o', 'img.jpg/m.onnx'], /--out img\.jpg\/m\.onnx/, inTheWay);
  await refused(dir, ['predict', TEST1, '--model', model, '--annotate', 'img.jpg/a.jpg'], /--annotate img\.jpg\/a\.jpg/, inTheWay);
  await refused(dir, ['import', 'keras', WEIGHTS70, '-o', 'img.jpg/w.safetensors'], /--out/, inTheWay);

  // train: refused before any data is read, so no run directory appears
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = path.join(dir, 'run');
  await refused(dir, ['train', '--data', data, '--epochs', '1', '--out', out, '--html', 'img.jpg/r.html'], /--html img\.jpg\/r\.html/, inTheWay);
  await assert.rejects(fs.access(out), 'training never started');
  // --out under a file names the file, not --out itself
  await refused(dir, ['train', '--data', data, '--epochs', '1', '--out', 'img.jpg/run'], /--out img\.jpg\/run: cannot create it: .*img\.jpg is a file, not a folder/);
  await refused(dir, ['train', '--data', data, '--epochs', '1', '--out', 'img.jpg'], /--out img\.jpg is a file, expected a folder/);
  // ... and before any image is read: a broken image is not what stops it
  await fs.writeFile(path.join(data, 'train', 'man', 'broken.jpg'), 'not a jpeg');
  await refused(dir, ['train', '--data', data, '--epochs', '1', '--out', 'img.jpg/run'], /--out img\.jpg\/run: cannot create it/);

  // several images need a folder for their copies: an existing file is refused before inference
  await refused(dir, ['predict', TEST1, path.join(dir, 'img.jpg'), '--model', model, '--annotate', 'img.jpg'], /--annotate img\.jpg is a file, expected a folder/);
  assert.deepEqual((await fs.readdir(dir)).sort(), ['img.jpg'], 'nothing written');
});

test('writing an output: a folder that cannot be made is an InputError naming the flag and the reason', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'file');
  await fs.writeFile(file, 'x');
  await rejectsInput(writeOutputFile('--html', path.join(file, 'sub', 'page.html'), '<p>'), '--html', 'cannot create the folder', 'not a folder');
  assert.equal(await fs.readFile(file, 'utf8'), 'x');
});
