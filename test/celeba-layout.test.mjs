// CelebA's own layout as --data: a fixture in that layout built from the 575 images (symlinks in a temp dir)
// trains to the same bits as the seed's folders, and eval reads its val/test partitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { listCelebaSplit } from '../dist/src/data/celeba-layout.js';
import { listSplit } from '../dist/src/data/discover.js';
import { train } from '../dist/src/workflows/train.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { evaluate } from '../dist/src/eval/evaluate.js';
import { CELEBA, rejectsInput, rng, tempDir } from './helpers.mjs';

const ATTRIBUTES = (
  '5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair Blond_Hair Blurry ' +
  'Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male ' +
  'Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks ' +
  'Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young'
).split(' ');

/**
 * The 575 images renamed 000001.jpg... (train man, train woman, val man, val woman: so the class-then-name
 * order is the folders' order), partition 0/1 as their folder, plus the first 5 of each train class again as
 * partition 2 (test). Returns {dir, sources: new name -> original file}.
 */
async function celebaFixture(t) {
  const dir = await tempDir(t, 'engine-celeba-');
  const imgs = path.join(dir, 'img_align_celeba');
  await fs.mkdir(imgs);
  const random = rng(11);
  const attr = [];
  const part = [];
  const sources = new Map();
  let k = 0;
  const add = async (file, cls, partition) => {
    const name = `${String(++k).padStart(6, '0')}.jpg`;
    await fs.symlink(file, path.join(imgs, name));
    sources.set(name, file);
    const values = ATTRIBUTES.map((a) => (a === 'Male' ? (cls === 'man' ? 1 : -1) : random() < 0.5 ? 1 : -1));
    attr.push(`${name} ${values.map((v) => String(v).padStart(2)).join(' ')}`);
    part.push(`${name} ${partition}`);
  };
  for (const [split, partition] of [['train', 0], ['val', 1]])
    for (const cls of ['man', 'woman'])
      for (const f of (await fs.readdir(path.join(CELEBA, split, cls))).sort()) await add(path.join(CELEBA, split, cls, f), cls, partition);
  for (const cls of ['man', 'woman'])
    for (const f of (await fs.readdir(path.join(CELEBA, 'train', cls))).sort().slice(0, 5)) await add(path.join(CELEBA, 'train', cls, f), cls, 2);
  await fs.writeFile(path.join(dir, 'list_attr_celeba.txt'), `${attr.length}\n${ATTRIBUTES.join(' ')} \n${attr.join('\n')}\n`);
  await fs.writeFile(path.join(dir, 'list_eval_partition.txt'), part.join('\n') + '\n');
  return { dir, sources };
}

test('the CelebA layout lists the same images, classes and labels as the seed folders', async (t) => {
  const { dir, sources } = await celebaFixture(t);
  for (const split of ['train', 'val']) {
    const a = await listCelebaSplit(dir, split);
    const b = await listSplit(path.join(CELEBA, split));
    assert.deepEqual(a.classes, ['man', 'woman']);
    assert.deepEqual(a.labels, b.labels);
    assert.deepEqual(a.files.map((f) => sources.get(path.basename(f))), b.files);
  }
  const testSplit = await listCelebaSplit(dir, 'test');
  assert.deepEqual([...testSplit.labels], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  assert.equal((await listCelebaSplit(dir, 'all')).files.length, 585);
});

test('training on the CelebA layout gives the folder layout bits; eval reads val and test from the partition list', async (t) => {
  const { dir } = await celebaFixture(t);
  const runs = await tempDir(t);
  const opts = { epochs: 1, seed: 4, threads: 2, saveEvery: 0 };
  const a = await train({ ...opts, data: dir, out: path.join(runs, 'celeba') });
  const b = await train({ ...opts, data: CELEBA, out: path.join(runs, 'folders') });
  assert.equal(a.trainImages, 500);
  assert.equal(a.valImages, 75);
  assert.deepEqual(a.classes, ['man', 'woman']);
  assert.deepEqual(a.history.map(({ seconds, ...h }) => h), b.history.map(({ seconds, ...h }) => h));
  const [ca, cb] = await Promise.all([a, b].map((s) => loadCheckpoint(path.join(s.runDir, 'last.safetensors'))));
  assert.deepEqual(ca.params, cb.params);

  const weights = path.join(a.runDir, 'last.safetensors');
  const evalJson = (data, split) => evaluate({ target: split, data, weights });
  const [ev, fv] = [await evalJson(dir, 'val'), await evalJson(CELEBA, 'val')];
  assert.equal(ev.images, 75);
  assert.equal(fv.images, 75);
  assert.equal(ev.accuracy, fv.accuracy);
  assert.deepEqual(ev.confusion, fv.confusion);
  const et = await evalJson(dir, 'test');
  assert.equal(et.dataset, 'test');
  assert.equal(et.images, 10);
});

test('a malformed CelebA list is an InputError naming the file and line', async (t) => {
  const { dir } = await celebaFixture(t);
  const partFile = path.join(dir, 'list_eval_partition.txt');
  const attrFile = path.join(dir, 'list_attr_celeba.txt');
  await rejectsInput(listCelebaSplit(dir, 'holdout'), "no split 'holdout'");
  const part = await fs.readFile(partFile, 'utf8');
  await fs.writeFile(partFile, part.replace(/ 1\n/, ' 7\n'));
  await rejectsInput(listCelebaSplit(dir, 'val'), 'list_eval_partition.txt line', "<0|1|2>");
  await fs.writeFile(partFile, part);
  const attr = await fs.readFile(attrFile, 'utf8');
  await fs.writeFile(attrFile, attr.replace(' Male ', ' Female '));
  await rejectsInput(listCelebaSplit(dir, 'val'), 'list_attr_celeba.txt line 2', "no 'Male' column");
  await fs.writeFile(attrFile, attr.replace(/\n(\d+\.jpg)( +-?1){40}\n/, '\n$1 1 -1\n'));
  await rejectsInput(listCelebaSplit(dir, 'val'), 'list_attr_celeba.txt line 3', 'expected an image name and 40 values');
});
