// `engine train` on bad input: one-line messages naming the flag or file, exit code 2, no run left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCli, smallDataset, tempDir } from '../helpers.mjs';

/** Runs train with `args`, expects exit 2 and a single-line message matching every pattern. */
async function failsWith(args, ...patterns) {
  const r = await runCli(['train', ...args]);
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const msg = r.stderr.trim();
  assert.equal(msg.split('\n').length, 1, `expected one line, got:\n${msg}`);
  for (const p of patterns) assert.match(msg, p);
  return msg;
}

test('non-numeric and out-of-range flags name the flag and the value', async () => {
  await failsWith(['--epochs', 'abc'], /--epochs/, /abc/);
  await failsWith(['--batch-size', '0'], /--batch-size/, /\b0\b/);
  await failsWith(['--lr', 'fast'], /--lr/, /fast/);
  await failsWith(['--lr', '-1'], /--lr/);
  await failsWith(['--seed', '1.5'], /--seed/, /1\.5/);
  await failsWith(['--threads', '0'], /--threads/);
  await failsWith(['--model', 'resnet'], /--model/, /resnet/);
  await failsWith(['--bogus-flag'], /bogus/i);
});

test('a missing data folder or split names the path', async (t) => {
  const dir = await tempDir(t);
  await failsWith(['--data', path.join(dir, 'nope')], /nope/);
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // one class folder in train/: a classifier needs two
  await fs.mkdir(path.join(dir, 'train', 'man'), { recursive: true });
  await failsWith(['--data', dir], new RegExp(`^engine: ${esc(path.join(dir, 'train'))} needs at least 2 class subfolders \\(one per class\\); found 1: 'man'$`));
  // train/ complete, val/ missing: a holdout of train would leave a class without a training image
  const data = await smallDataset(t, { train: { man: 1, woman: 1 } });
  await failsWith(['--data', data], new RegExp(`^engine: --val 0.1: holding out 1 of the 2 training images of ${esc(data)} leaves a class without a training image; choose another fraction or --val test$`));
  // val/ with other classes than train/
  await fs.mkdir(path.join(data, 'val', 'cat'), { recursive: true });
  await failsWith(['--data', data], new RegExp(`^engine: class folders in ${esc(path.join(data, 'val'))} do not match: expected 'man', 'woman', found 'cat'$`));
});

test('an empty class folder, a corrupt image: message names it, no run directory is left', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const runs = await tempDir(t);
  const out = path.join(runs, 'run');

  await fs.mkdir(path.join(data, 'train', 'child'));
  await failsWith(['--data', data, '--out', out], /child/, /empty|no/i);
  await fs.rmdir(path.join(data, 'train', 'child'));

  const bad = path.join(data, 'train', 'man', 'broken.jpg');
  await fs.writeFile(bad, Buffer.from('this is not a jpeg'));
  await failsWith(['--data', data, '--out', out, '--epochs', '1'], /broken\.jpg/);
  await assert.rejects(fs.access(out), 'no run directory for a run that never started');

  // with --skip-bad-images the run goes through and reports the skip
  const r = await runCli(['train', '--data', data, '--out', out, '--epochs', '1', '--skip-bad-images', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /skipped.*broken\.jpg/);
  assert.deepEqual(JSON.parse(r.stdout).skippedImages, [bad]);
});

test('--out must be new or empty: an existing run is never overwritten', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = await tempDir(t);
  await fs.writeFile(path.join(out, 'keep.txt'), 'mine');
  await failsWith(['--data', data, '--out', out], /--out/, /not empty/);
  assert.equal(await fs.readFile(path.join(out, 'keep.txt'), 'utf8'), 'mine');
});

test('--quiet prints nothing; plain output has one line per epoch', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  const quiet = await runCli(['train', '--data', data, '--epochs', '2', '--seed', '1', '--out', path.join(dir, 'q'), '--quiet']);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stdout + quiet.stderr, '');
  const plain = await runCli(['train', '--data', data, '--epochs', '2', '--seed', '1', '--out', path.join(dir, 'p')]);
  assert.equal(plain.code, 0, plain.stderr);
  const lines = plain.stdout.match(/^epoch \d+: loss [\d.]+ acc [\d.]+ val_loss [\d.]+ val_acc [\d.]+ lr 0\.001 [\d.]+s(, best val_loss)?$/gm);
  assert.equal(lines?.length, 2, plain.stdout);
  assert.ok(lines[0].endsWith(', best val_loss'), 'the first epoch is the best so far');
  assert.doesNotMatch(plain.stdout, /\r/, 'no progress bar when stdout is not a TTY');
});

test('--conv: winograd by default, direct on request (recorded in run.json and named on the first line); bad values refused', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  for (const [flags, conv] of [[[], 'winograd'], [['--conv', 'direct'], 'direct']]) {
    const out = path.join(dir, conv);
    const r = await runCli(['train', '--data', data, '--epochs', '1', '--seed', '1', '--out', out, ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`run directory: .*, ${conv} conv\\)`));
    assert.equal(JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8')).config.conv, conv);
  }
  await failsWith(['--conv', 'fft'], /--conv must be winograd or direct, got "fft"/);
  await failsWith(['--conv', 'winograd', '--device', 'cuda'], /--conv chooses the CPU convolutions/);
});

test("--model takes only the engine's own spec names: toString, __proto__, constructor are refused before any work", async () => {
  for (const name of ['toString', '__proto__', 'constructor', 'hasOwnProperty'])
    await failsWith(['--model', name, '--data', '/nonexistent-data'], /--arch \(--model\) must be one of seed7, seed5, fmnist-cnn/, new RegExp(`got "${name}"`));
  const { resolveTrainOptions } = await import('../../dist/src/options/train.js');
  const { modelSpec, SEED5 } = await import('../../dist/src/model/spec.js');
  const { UsageError } = await import('../../dist/src/errors.js');
  for (const name of ['toString', '__proto__', 'valueOf']) {
    assert.throws(() => resolveTrainOptions({ model: name }), UsageError);
    assert.throws(() => modelSpec(name), (e) => e instanceof UsageError && e.message.includes(`unknown model '${name}'`));
  }
  assert.equal(modelSpec('seed5'), SEED5);
});
