// Where a run validates when the data has no val split: --val test, --val FRACTION, or by default 5,000 images
// (train of 50,000 or more) or 10% held out of train, seeded and class-stratified; data with a val split uses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeValidation, holdoutRows, resolveValidation, validationOf } from '../dist/src/data/dataset.js';
import { resolveTrainOptions } from '../dist/src/options/train.js';
import { UsageError } from '../dist/src/errors.js';
import { tempDir } from './helpers.mjs';

const labelsOf = (...counts) => Uint8Array.from(counts.flatMap((n, c) => Array(n).fill(c)));

test('holdoutRows: the count exactly, shared by class size (largest remainders), seeded, each class keeping an image', () => {
  const labels = labelsOf(50, 30, 20);
  const a = holdoutRows(labels, 10, 1);
  assert.equal(a.length, 10);
  assert.deepEqual([...a], [...a].sort((x, y) => x - y), 'ascending');
  const perClass = (rows) => [0, 1, 2].map((c) => [...rows].filter((r) => labels[r] === c).length);
  assert.deepEqual(perClass(a), [5, 3, 2]);
  assert.deepEqual(holdoutRows(labels, 10, 1), a, 'the same seed, the same rows');
  assert.notDeepEqual(holdoutRows(labels, 10, 2), a, 'another seed, other rows');
  // 7 of 100: exact shares 3.5, 2.1, 1.4 -> 3, 2, 1 and the remainder to the largest fraction (class 0)
  assert.deepEqual(perClass(holdoutRows(labels, 7, 1)), [4, 2, 1]);
  // a class of one image keeps it for training
  const small = labelsOf(1, 9);
  assert.ok([...holdoutRows(small, 5, 3)].every((r) => small[r] === 1));
  assert.throws(() => holdoutRows(labelsOf(2, 2), 3, 1), RangeError);
});

test('resolveValidation: the val split when there is one; else --val test, a fraction, or the default holdout', async (t) => {
  const withVal = await tempDir(t);
  for (const d of ['train/a', 'val/a', 'test/a']) await fs.mkdir(path.join(withVal, d), { recursive: true });
  const trainOnly = await tempDir(t);
  await fs.mkdir(path.join(trainOnly, 'train', 'a'), { recursive: true });
  const listing = (n) => ({ dir: '', classes: ['a', 'b'], files: [], labels: Uint8Array.from({ length: n }, (_, i) => i % 2) });

  assert.deepEqual(await resolveValidation(withVal, undefined, 1, listing(100)), { source: 'val' });
  assert.deepEqual(await resolveValidation(withVal, 'val', 1, listing(100)), { source: 'val' });
  await assert.rejects(resolveValidation(withVal, 'test', 1, listing(100)), (e) => e instanceof UsageError && e.message.includes('has a val split of its own'));
  await assert.rejects(resolveValidation(withVal, 0.2, 1, listing(100)), (e) => e instanceof UsageError && e.message.startsWith('--val 0.2:'));

  assert.deepEqual(await resolveValidation(trainOnly, undefined, 7, listing(100)), { source: 'holdout', heldOut: 10, seed: 7 });
  assert.deepEqual(await resolveValidation(trainOnly, undefined, 7, listing(60000)), { source: 'holdout', heldOut: 5000, seed: 7 });
  assert.deepEqual(await resolveValidation(trainOnly, undefined, 7, listing(49990)), { source: 'holdout', heldOut: 4999, seed: 7 });
  assert.deepEqual(await resolveValidation(trainOnly, undefined, 7, listing(40000)), { source: 'holdout', heldOut: 4000, seed: 7 });
  assert.deepEqual(await resolveValidation(trainOnly, 0.25, 7, listing(100)), { source: 'holdout', heldOut: 25, fraction: 0.25, seed: 7 });
  await assert.rejects(resolveValidation(trainOnly, 'test', 1, listing(100)), /--val test: .* has no test split/);
  await assert.rejects(resolveValidation(trainOnly, 'val', 1, listing(100)), /--val val: .* has no val split/);
  await assert.rejects(resolveValidation(trainOnly, 0.99, 1, listing(10)), /leaves a class without a training image/);

  assert.equal(describeValidation({ source: 'holdout', heldOut: 5000, seed: 1 }), '5,000 images held out of train (seeded)');
  assert.equal(describeValidation({ source: 'holdout', heldOut: 25, fraction: 0.25, seed: 1 }), '25 images held out of train (seeded, 25%)');
  assert.equal(describeValidation({ source: 'test' }), 'the test split');
  assert.deepEqual(validationOf({ validation: { source: 'holdout', heldOut: 4, seed: 3 } }), { source: 'holdout', heldOut: 4, seed: 3 });
  assert.equal(validationOf({ validation: { source: 'holdout' } }), undefined);
  assert.equal(validationOf({}), undefined);
});

test('--val: test, val or a fraction in (0, 1), as typed on the command line or as a number', () => {
  assert.equal(resolveTrainOptions({ val: 'test' }).val, 'test');
  assert.equal(resolveTrainOptions({ val: '0.05' }).val, 0.05);
  assert.equal(resolveTrainOptions({ val: 0.3 }).val, 0.3);
  assert.equal('val' in resolveTrainOptions({}), false, 'decided by the data when not given');
  for (const bad of ['1', '0', 'train', '', '-0.1', 5000])
    assert.throws(() => resolveTrainOptions({ val: bad }), (e) => e instanceof UsageError && e.message.startsWith('--val must be test, val or a fraction'));
});
