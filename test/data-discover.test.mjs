import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_EXTENSIONS, listSplit, resolveSplitDir } from '../dist/src/data/discover.js';
import { rejectsInput } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.resolve(here, '../../shared/data/celeba-575');

async function tempTree(t, layout) {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'engine-discover-'));
  t.after(() => fs.rm(root, { recursive: true, force: true }));
  for (const [rel, content] of Object.entries(layout)) {
    const p = path.join(root, rel);
    if (rel.endsWith('/')) {
      await fs.mkdir(p, { recursive: true });
    } else {
      await fs.mkdir(path.dirname(p), { recursive: true });
      await fs.writeFile(p, content);
    }
  }
  return root;
}

test('lists the CelebA training split class by class, sorted, like flow_from_directory', async () => {
  const split = await listSplit(path.join(DATA, 'train'));
  assert.deepEqual(split.classes, ['man', 'woman']);
  assert.equal(split.files.length, 500);
  assert.equal(split.labels.length, 500);
  assert.ok(split.labels instanceof Uint8Array);
  assert.equal(split.labels.filter((l) => l === 0).length, 198);
  assert.equal(split.labels.filter((l) => l === 1).length, 302);
  assert.ok(split.files.every((f) => path.isAbsolute(f)));
  // All men first, then all women, each sorted by name.
  assert.ok(split.files.slice(0, 198).every((f) => path.basename(path.dirname(f)) === 'man'));
  assert.ok(split.files.slice(198).every((f) => path.basename(path.dirname(f)) === 'woman'));
  for (const [lo, hi] of [[0, 198], [198, 500]]) {
    const names = split.files.slice(lo, hi).map((f) => path.basename(f));
    assert.deepEqual(names, [...names].sort());
  }
  assert.equal(path.basename(split.files[0]), '121211.jpg');
});

test('accepts the training classes for the validation split', async () => {
  const split = await listSplit(path.join(DATA, 'val'), { classes: ['man', 'woman'] });
  assert.deepEqual(split.classes, ['man', 'woman']);
  assert.equal(split.files.length, 75);
});

test('ignores hidden entries and non-image files, matches extensions case-insensitively, sorts by code unit', async (t) => {
  assert.deepEqual([...IMAGE_EXTENSIONS], ['jpg', 'jpeg', 'png', 'bmp', 'tif', 'tiff', 'webp']);
  const root = await tempTree(t, {
    'b/Z.PNG': 'x',
    'b/a.jpg': 'x',
    'b/B.Jpeg': 'x',
    'b/c.webp': 'x',
    'b/d.TIF': 'x',
    'b/e.tiff': 'x',
    'b/f.bmp': 'x',
    'b/.hidden.jpg': 'x',
    'b/notes.txt': 'x',
    'b/jpg': 'x',
    'b/nested/': null,
    'B/only.jpg': 'x',
    '.cache/x.jpg': 'x',
    'readme.md': 'x',
  });
  const split = await listSplit(root);
  assert.deepEqual(split.classes, ['B', 'b']);
  assert.deepEqual(split.files.map((f) => path.relative(root, f)), [
    'B/only.jpg',
    'b/B.Jpeg', 'b/Z.PNG', 'b/a.jpg', 'b/c.webp', 'b/d.TIF', 'b/e.tiff', 'b/f.bmp',
  ].map((p) => path.join(...p.split('/'))));
  assert.deepEqual([...split.labels], [0, 1, 1, 1, 1, 1, 1, 1]);
  assert.equal(split.dir, root);
});

test('missing, non-directory and class-less data folders are input errors naming the path', async (t) => {
  const root = await tempTree(t, { 'file.jpg': 'x', 'flat/a.jpg': 'x', 'flat/.hidden/': null });
  const missing = path.join(root, 'nope');
  await rejectsInput(listSplit(missing), missing, 'does not exist');
  await rejectsInput(listSplit(path.join(root, 'file.jpg')), path.join(root, 'file.jpg'), 'not a directory');
  await rejectsInput(listSplit(path.join(root, 'flat')), path.join(root, 'flat'), 'at least 2 class', 'found 0');
});

test('one class only is an input error: a classifier needs two', async (t) => {
  const root = await tempTree(t, { 'man/a.jpg': 'x' });
  await rejectsInput(listSplit(root), root, 'at least 2 class', "'man'");
});

test('an empty class folder is an input error naming the folder and the extensions', async (t) => {
  const root = await tempTree(t, { 'man/a.jpg': 'x', 'woman/a.txt': 'x', 'woman/.b.jpg': 'x' });
  await rejectsInput(listSplit(root), "empty class folder 'woman'", path.join(root, 'woman'), '.jpg/.jpeg/.png/.bmp/.tif/.tiff/.webp');
});

test('class folders that differ from the expected ones are an input error listing both', async (t) => {
  const root = await tempTree(t, { 'man/a.jpg': 'x', 'women/a.jpg': 'x' });
  await rejectsInput(listSplit(root, { classes: ['man', 'woman'] }), root, "expected 'man', 'woman'", "found 'man', 'women'");
  const one = await tempTree(t, { 'man/a.jpg': 'x' });
  await rejectsInput(listSplit(one, { classes: ['man', 'woman'] }), one, "expected 'man', 'woman'", "found 'man'");
});

test('resolveSplitDir joins the split name and reports a missing split', async (t) => {
  assert.equal(await resolveSplitDir(DATA, 'train'), path.join(DATA, 'train'));
  const root = await tempTree(t, { 'train/': null, 'val': 'not a folder' });
  await rejectsInput(resolveSplitDir(root, 'test'), "missing split 'test'", path.join(root, 'test'), 'does not exist');
  await rejectsInput(resolveSplitDir(root, 'val'), "split 'val'", path.join(root, 'val'), 'not a directory');
});
