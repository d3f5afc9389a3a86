// MNIST-family datasets: the four IDX files (gzipped or not) as splits train and test, their class names
// (Fashion-MNIST and MNIST recognised by SHA-256, else classes.txt, else 0..N-1), one-line errors naming the file
// for every malformed file, and training on them. The files here are tiny ones written by the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { datasetKind, listDataSplit, readDataSplit } from '../dist/src/data/dataset.js';
import { FASHION_MNIST_CLASSES, openIdxDataset } from '../dist/src/data/idx.js';
import { train } from '../dist/src/workflows/train.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { rejectsInput, runCli, tempDir } from './helpers.mjs';

/** An IDX file: magic 0x0000TTDD, big-endian sizes, then the bytes. */
function idx(dims, data, type = 0x08) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

const NAMES = { train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'], test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] };

/**
 * A dataset folder of IDX files: per split `n` images of h x w whose pixels are (row * 7 + i) % 256 and labels
 * row % classes; `gz` lists the files written gzipped. Returns { dir, images: { train, test } }.
 */
async function idxFolder(t, { train = 12, test = 6, h = 4, w = 4, classes = 3, gz = ['train-images-idx3-ubyte'], labels } = {}) {
  const dir = await tempDir(t, 'engine-idx-');
  const images = {};
  for (const [split, n] of [['train', train], ['test', test]]) {
    const pixels = Uint8Array.from({ length: n * h * w }, (_, i) => (Math.floor(i / (h * w)) * 7 + i) % 256);
    images[split] = pixels;
    const [imgName, lblName] = NAMES[split];
    const files = [
      [imgName, idx([n, h, w], pixels)],
      [lblName, idx([n], labels?.[split] ?? Uint8Array.from({ length: n }, (_, i) => i % classes))],
    ];
    for (const [name, bytes] of files)
      await fs.writeFile(path.join(dir, gz.includes(name) ? `${name}.gz` : name), gz.includes(name) ? zlib.gzipSync(bytes) : bytes);
  }
  return { dir, images };
}

test('IDX files are a dataset: splits train and test, images [N, 28, 28, 1] as stored, gz or not', async (t) => {
  const { dir, images } = await idxFolder(t, { gz: ['train-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] });
  assert.equal(await datasetKind(dir), 'idx');
  const pre = { height: 4, width: 4, channels: 1, resize: 'none' };
  const tr = await readDataSplit(dir, 'train', pre);
  assert.equal(tr.kind, 'idx');
  assert.deepEqual([tr.size, tr.shape, tr.classes], [12, [4, 4, 1], ['0', '1', '2']]);
  assert.deepEqual([...tr.labels], Array.from({ length: 12 }, (_, i) => i % 3));
  assert.deepEqual(tr.images, images.train);
  assert.equal(tr.files, undefined);
  assert.equal(tr.ids[5], `${path.join(dir, 'train-images-idx3-ubyte.gz')}#5`);
  const te = await readDataSplit(dir, 'test', pre);
  assert.deepEqual(te.images, images.test);
  // as an RGB input twice the size: each grey pixel repeated to RGB and to a 2x2 block (PIL's nearest)
  const big = await readDataSplit(dir, 'test', { height: 8, width: 8, channels: 3, resize: 'pil-nearest' });
  assert.equal(big.images.length, 6 * 8 * 8 * 3);
  const px = (img, y, x, c) => big.images[((img * 8 + y) * 8 + x) * 3 + c];
  for (const [y, x] of [[0, 0], [3, 5], [7, 7]]) for (const c of [0, 1, 2]) assert.equal(px(2, y, x, c), images.test[2 * 16 + (y >> 1) * 4 + (x >> 1)]);
  // no val split: one is only the run's (held out of train, or test)
  await rejectsInput(listDataSplit(dir, 'val'), `${dir} has no val split`, "recorded validation");
  await rejectsInput(listDataSplit(dir, 'all'), "no split 'all'", 'train or test');
  // rule 'none' and another size: the file and both sizes
  await rejectsInput(readDataSplit(dir, 'train', { ...pre, width: 5 }), path.join(dir, 'train-images-idx3-ubyte.gz'), 'are 4x4', '5x4', "'none'");
});

test('class names: classes.txt beside the files, else 0..N-1; labels beyond classes.txt are refused', async (t) => {
  const { dir } = await idxFolder(t, { classes: 4 });
  assert.deepEqual((await openIdxDataset(dir)).classes, ['0', '1', '2', '3']);
  await fs.writeFile(path.join(dir, 'classes.txt'), 'cat\ndog\nbird\nfish\n');
  const ds = await openIdxDataset(dir);
  assert.deepEqual(ds.classes, ['cat', 'dog', 'bird', 'fish']);
  assert.equal(ds.classSource, 'classes.txt');
  await fs.writeFile(path.join(dir, 'classes.txt'), 'cat\ndog\nbird\n');
  await rejectsInput(openIdxDataset(dir), path.join(dir, 'train-labels-idx1-ubyte'), 'label 3 of item 3 is out of range', 'classes.txt has 3 classes');
  await fs.writeFile(path.join(dir, 'classes.txt'), 'cat\n\nbird\nfish\n');
  await rejectsInput(openIdxDataset(dir), 'classes.txt line 2: an empty class name');
  await fs.writeFile(path.join(dir, 'classes.txt'), 'cat\ndog\ncat\nfish\n');
  await rejectsInput(openIdxDataset(dir), "classes.txt line 3: 'cat' repeats line 1");
});

test("Fashion-MNIST's label files are recognised by SHA-256, gzipped or not: its ten class names", async (t) => {
  const src = '/usr/share/datasets/fashion-mnist';
  if (!(await fs.stat(src).catch(() => null))) return t.skip(`${src} is not installed (Debian's dataset-fashion-mnist)`);
  const dir = await tempDir(t);
  // the real label files, the test one gunzipped; images files that only need to exist to list labels
  await fs.copyFile(path.join(src, 'train-labels-idx1-ubyte.gz'), path.join(dir, 'train-labels-idx1-ubyte.gz'));
  await fs.writeFile(path.join(dir, 't10k-labels-idx1-ubyte'), zlib.gunzipSync(await fs.readFile(path.join(src, 't10k-labels-idx1-ubyte.gz'))));
  for (const f of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte']) await fs.writeFile(path.join(dir, f), '');
  const ds = await openIdxDataset(dir);
  assert.equal(ds.known, 'Fashion-MNIST');
  assert.deepEqual(ds.classes, FASHION_MNIST_CLASSES);
  assert.deepEqual(ds.classes, ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
  assert.deepEqual([ds.labels.train.length, ds.labels.test.length], [60000, 10000]);
  // a label file changed by one byte is not Fashion-MNIST: names from the labels
  const changed = Buffer.from(await fs.readFile(path.join(dir, 't10k-labels-idx1-ubyte')));
  changed[8] = (changed[8] + 1) % 10;
  await fs.writeFile(path.join(dir, 't10k-labels-idx1-ubyte'), changed);
  const other = await openIdxDataset(dir);
  assert.equal(other.known, undefined);
  assert.deepEqual(other.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
});

test('malformed IDX files: one InputError naming the file and what is wrong', async (t) => {
  const pre = { height: 4, width: 4, channels: 1, resize: 'none' };
  const broken = async (name, bytes, ...parts) => {
    const { dir } = await idxFolder(t, { gz: [] });
    await fs.writeFile(path.join(dir, name), bytes);
    await rejectsInput(readDataSplit(dir, name.startsWith('t10k') ? 'test' : 'train', pre), path.join(dir, name), ...parts);
  };
  await broken('train-images-idx3-ubyte', Buffer.from('not an idx file'), 'not an IDX file (magic 0x6e6f7420');
  await broken('train-labels-idx1-ubyte', idx([2, 2, 3], new Uint8Array(12)), '3 dimensions, expected 1');
  await broken('train-images-idx3-ubyte', idx([12, 4, 4], new Uint8Array(12 * 16), 0x0b), 'element type 0x0b, expected 0x08');
  await broken('train-images-idx3-ubyte', idx([12, 4, 4], new Uint8Array(100)), 'truncated: 100 bytes of data', '12 x 4 x 4 = 192');
  await broken('train-images-idx3-ubyte', idx([12, 4, 4], new Uint8Array(200)), '8 bytes after the 12 x 4 x 4 = 192');
  await broken('t10k-images-idx3-ubyte', idx([5, 4, 4], new Uint8Array(80)), '5 images, but t10k-labels-idx1-ubyte has 6 labels');
  await broken('t10k-labels-idx1-ubyte', Buffer.from([0, 0, 8, 1, 0, 0]), 'truncated in its header');
  // gz files: not gzip at all, and a gzip stream cut short
  const { dir } = await idxFolder(t, { gz: [] });
  await fs.rm(path.join(dir, 'train-labels-idx1-ubyte'));
  await fs.writeFile(path.join(dir, 'train-labels-idx1-ubyte.gz'), idx([12], new Uint8Array(12)));
  await rejectsInput(readDataSplit(dir, 'train', pre), 'train-labels-idx1-ubyte.gz: not a gzip file');
  const gz = zlib.gzipSync(idx([12], new Uint8Array(12)));
  await fs.writeFile(path.join(dir, 'train-labels-idx1-ubyte.gz'), gz.subarray(0, gz.length - 10));
  await rejectsInput(readDataSplit(dir, 'train', pre), 'train-labels-idx1-ubyte.gz: the gzip data is corrupt or truncated');
  // three of the four files
  await fs.rm(path.join(dir, 't10k-images-idx3-ubyte'));
  await rejectsInput(datasetKind(dir), dir, 'not t10k-images-idx3-ubyte[.gz]');
  // the command line: exit 2, one line naming the file
  const { dir: bad } = await idxFolder(t, { gz: [] });
  await fs.writeFile(path.join(bad, 'train-labels-idx1-ubyte'), idx([11], new Uint8Array(11)));
  const r = await runCli(['train', '--data', bad, '--arch', 'fmnist-cnn', '--epochs', '1']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, `engine: ${path.join(bad, 'train-images-idx3-ubyte')}: 12 images, but train-labels-idx1-ubyte has 11 labels: the two files must describe the same items\n`);
});

test('training on IDX files: 10% of train held out (seeded, per class), logged and recorded; eval-side readers get the same images', async (t) => {
  const n = 40;
  const labels = { train: Uint8Array.from({ length: n }, (_, i) => (i < 20 ? 0 : i < 30 ? 1 : 2)), test: Uint8Array.from({ length: 9 }, (_, i) => i % 3) };
  const { dir } = await idxFolder(t, { train: n, test: 9, h: 6, w: 6, labels });
  await fs.writeFile(path.join(dir, 'classes.txt'), 'circle\nsquare\ntriangle\n');
  const spec = { name: 'tiny', input: [6, 6, 1], resize: 'none', layers: [{ type: 'flatten' }, { type: 'dense', units: 8 }, { type: 'relu' }, { type: 'dense', units: 1 }] };
  const logs = [];
  const out = path.join(await tempDir(t), 'run');
  const run = await train({ data: dir, arch: spec, epochs: 2, batchSize: 8, seed: 3, threads: 1, saveEvery: 0, out }, { onLog: (l) => logs.push(l) });
  assert.deepEqual([run.trainImages, run.valImages], [36, 4]);
  assert.deepEqual(run.validation, { source: 'holdout', heldOut: 4, seed: 3 });
  assert.ok(logs.includes('validation: 4 images held out of train (seeded)'), logs.join('\n'));
  assert.ok(logs.includes('data: 36 train and 4 val images, classes 0=circle 1=square 2=triangle'), logs.join('\n'));
  // 3 classes: a softmax head of 3 units on the given spec
  assert.deepEqual([run.spec.head, run.spec.layers.at(-1).units], ['softmax', 3]);
  const record = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.deepEqual(record.validation, run.validation);
  const ckpt = await loadCheckpoint(path.join(out, 'best.safetensors'));
  assert.deepEqual(ckpt.meta.config.validation, run.validation);
  assert.equal(ckpt.meta.config.data, path.relative(out, dir), 'the data folder relative to the run folder');
  // the held-out images, as an eval would read them from the recorded validation: 2 of class 0, 1 each of 1 and 2
  const pre = { height: 6, width: 6, channels: 1, resize: 'none' };
  const val = await readDataSplit(dir, 'val', pre, { validation: ckpt.meta.config.validation });
  assert.equal(val.size, 4);
  assert.deepEqual([...val.labels].sort(), [0, 0, 1, 2]);
  const rest = await readDataSplit(dir, 'train', pre, { validation: ckpt.meta.config.validation });
  assert.equal(rest.size, 36);
  assert.equal(new Set([...val.ids, ...rest.ids]).size, 40, 'held out and trained on are apart');

  // --val test: the test split validates, and the log says so
  const logs2 = [];
  const run2 = await train(
    { data: dir, arch: spec, epochs: 1, batchSize: 8, seed: 3, threads: 1, saveEvery: 0, val: 'test', out: path.join(await tempDir(t), 'run') },
    { onLog: (l) => logs2.push(l) },
  );
  assert.deepEqual([run2.trainImages, run2.valImages, run2.validation], [40, 9, { source: 'test' }]);
  assert.ok(logs2.some((l) => l.startsWith('validation: the test split')), logs2.join('\n'));
});
