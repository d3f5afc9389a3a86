// Training end to end on the seed's data, through the CLI, and the library's determinism and overfitting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { train } from '../../dist/src/workflows/train.js';
import { loadCheckpoint } from '../../dist/src/store/checkpoint.js';
import { parseHistoryCsv } from '../../dist/src/store/history.js';
import { listSplit } from '../../dist/src/data/discover.js';
import { loadSplit } from '../../dist/src/data/decode.js';
import { native, trainerConfig } from '../../dist/src/native.js';
import { SEED7 } from '../../dist/src/model/spec.js';
import { CELEBA, runCli, smallDataset, tempDir } from '../helpers.mjs';

test('engine train learns the seed task: val accuracy well above the 69% majority class, every file written', async (t) => {
  const out = path.join(await tempDir(t), 'run');
  const r = await runCli(['train', '--data', CELEBA, '--epochs', '12', '--seed', '1', '--save-every', '5', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.trainImages, 500);
  assert.equal(summary.valImages, 75);
  // The majority class is 52/75 = 0.693 and the recipe often sits there for the first 5-6 epochs. Seeds 1-4
  // reached a best val_acc of 0.79, 0.84, 0.80, 0.81 within 12 epochs, so 0.76 (5 images above the majority)
  // is a margin that a network that does not learn cannot pass.
  const history = parseHistoryCsv(await fs.readFile(path.join(out, 'history.csv'), 'utf8'));
  assert.equal(history.length, 12);
  assert.ok(Math.max(...history.map((h) => h.val_acc)) >= 0.76, `val_acc never reached 0.76: ${history.map((h) => h.val_acc)}`);
  assert.ok(history[11].loss < history[0].loss - 0.1, 'training loss did not fall');

  for (const f of ['best', 'last', 'weights5', 'weights10']) await fs.access(path.join(out, `${f}.safetensors`));
  await assert.rejects(fs.access(path.join(out, 'weights12.safetensors')));
  for (const f of ['loss', 'acc', 'val_loss', 'val_acc']) {
    const lines = (await fs.readFile(path.join(out, 'history', `${f}_history.txt`), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 12);
    assert.equal(Number(lines[11]), history[11][f]);
  }
  const png = await sharp(path.join(out, 'history.png')).metadata();
  assert.equal(png.format, 'png');
  assert.ok(png.width >= 600);
  const run = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'finished');
  assert.equal(run.seed, 1);
  assert.equal(run.config.epochs, 12);
  assert.equal(run.results.final.val_acc, history[11].val_acc);

  // best.safetensors is the lowest-val-loss epoch, with its figures in the metadata
  const best = await loadCheckpoint(path.join(out, 'best.safetensors'));
  const bestEpoch = history.reduce((a, b) => (b.val_loss < a.val_loss ? b : a));
  assert.equal(best.meta.epoch, bestEpoch.epoch);
  assert.equal(best.meta.metrics.val_loss, bestEpoch.val_loss);
  assert.equal(best.params.length, 91329);
  assert.ok(best.accumulators, 'optimizer state saved');
});

test('same seed, same losses and weights bit for bit; another seed differs', async (t) => {
  const data = await smallDataset(t);
  const dir = await tempDir(t);
  const run = (seed, name) => train({ data, epochs: 2, batchSize: 4, seed, threads: 2, out: path.join(dir, name) });
  const [a, b, c] = [await run(7, 'a'), await run(7, 'b'), await run(8, 'c')];
  assert.deepEqual(a.history.map((h) => [h.loss, h.val_loss]), b.history.map((h) => [h.loss, h.val_loss]));
  const [wa, wb, wc] = await Promise.all(['a', 'b', 'c'].map((n) => loadCheckpoint(path.join(dir, n, 'last.safetensors'))));
  assert.deepEqual(wa.params, wb.params);
  assert.deepEqual(wa.accumulators, wb.accumulators);
  assert.notDeepEqual(wa.params, wc.params);
  assert.notEqual(a.history[0].loss, c.history[0].loss);
});

test('the engine overfits a tiny set: 12 images, no dropout, no augmentation -> every image right, loss near 0', async (t) => {
  const data = await smallDataset(t, { train: { man: 6, woman: 6 } });
  const set = await loadSplit(await listSplit(path.join(data, 'train')));
  const spec = { ...SEED7, layers: SEED7.layers.filter((l) => l.type !== 'dropout') };
  const trainer = new native.Trainer(trainerConfig({ spec, seed: 3, threads: 2 }));
  t.after(() => trainer.dispose());
  const first = await trainer.evaluate(set.images, set.labels);
  let best = first;
  // RMSprop on one repeated batch oscillates on its way down, so keep the best evaluation of 80 steps
  for (let step = 1; step <= 80; step++) {
    await trainer.trainStep(set.images, set.labels, null, { lr: 1e-3, rho: 0.9, epsilon: 1e-7 });
    const e = await trainer.evaluate(set.images, set.labels);
    if (e.loss < best.loss) best = e;
  }
  assert.ok(first.loss > 0.5, `untrained loss ${first.loss}`);
  assert.ok(best.loss < 0.02, `best training loss ${best.loss}`);
  assert.equal(best.correct, 12);
});
