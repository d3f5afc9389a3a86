// The training recipe as options (src/options/recipe.ts): one home for the defaults (the preset table), one check
// (resolveRecipe), settings that the chosen optimizer, augmentation or schedule would not read refused by name,
// and fmnist-res's default recipe as the issue sets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTrainOptions } from '../dist/src/options/train.js';
import { PRESETS, SEED_RECIPE } from '../dist/src/model/spec.js';
import { UsageError } from '../dist/src/errors.js';
import { runCli } from './helpers.mjs';

const refuses = (opts, message) =>
  assert.throws(() => resolveTrainOptions(opts), (e) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.equal(e.message, message);
    return true;
  });

test("fmnist-res's default recipe: SGD Nesterov 0.9, lr 0.1, wd 5e-4, batch 128, 1 warm-up epoch, cosine, 26 epochs, label smoothing 0.1, crop 2 + flip, normalised", () => {
  const c = resolveTrainOptions({ arch: 'fmnist-res' });
  const pick = (k) => Object.fromEntries(k.map((key) => [key, c[key]]));
  assert.deepEqual(pick(['optimizer', 'momentum', 'nesterov', 'lr', 'weightDecay', 'batchSize', 'warmup', 'schedule', 'epochs', 'labelSmoothing', 'augment', 'shift', 'flip', 'normalize']), {
    optimizer: 'sgd', momentum: 0.9, nesterov: true, lr: 0.1, weightDecay: 5e-4, batchSize: 128, warmup: 1, schedule: 'cosine', epochs: 26, labelSmoothing: 0.1, augment: 'crop', shift: 2, flip: true, normalize: 'auto',
  });
  assert.equal(c.val, undefined, 'validation: the default holdout (5,000 of a train split of 60,000)');
  assert.deepEqual(c.recipe.given, []);
  // the seed's presets keep the seed's recipe
  for (const p of ['seed7', 'seed5']) {
    const s = resolveTrainOptions({ arch: p });
    assert.deepEqual([s.optimizer, s.schedule, s.augment, s.normalize, s.weightDecay, s.ema, s.monitor], ['rmsprop', 'constant', 'keras', 'none', 0, 0, 'val_loss']);
    assert.deepEqual(PRESETS[p].recipe, SEED_RECIPE);
  }
});

test('flags override the preset recipe and are recorded as given', () => {
  const c = resolveTrainOptions({ arch: 'fmnist-res', optimizer: 'adamw', lr: 0.002, weightDecay: 0.05, schedule: 'onecycle', ema: 0.99, labelSmoothing: 0.1, eraseArea: '0.1,0.2', erase: 0.5, monitor: 'val_loss', patience: 3 });
  assert.deepEqual([c.optimizer, c.lr, c.weightDecay, c.schedule, c.ema, c.labelSmoothing, c.eraseArea, c.erase, c.monitor, c.patience], ['adamw', 0.002, 0.05, 'onecycle', 0.99, 0.1, [0.1, 0.2], 0.5, 'val_loss', 3]);
  assert.ok(c.recipe.given.includes('optimizer') && c.recipe.fromPreset.includes('batchSize'));
});

test('out-of-range values and settings the run would not read are refused naming the flag', () => {
  refuses({ optimizer: 'adam' }, '--optimizer must be rmsprop, sgd or adamw, got "adam"');
  refuses({ arch: 'fmnist-res', momentum: 1 }, '--momentum must be a number in [0, 1), got 1');
  refuses({ schedule: 'linear' }, '--schedule must be constant, step, cosine or onecycle, got "linear"');
  refuses({ eraseArea: '0.5,0.1', augment: 'crop' }, '--erase-area must be LO,HI with 0 < LO <= HI <= 1, got "0.5,0.1"');
  refuses({ momentum: 0.9 }, '--momentum applies to --optimizer sgd only; this run has --optimizer rmsprop');
  refuses({ arch: 'fmnist-res', rho: 0.5 }, '--rho applies to --optimizer rmsprop only; this run has --optimizer sgd');
  refuses({ shift: 3 }, '--shift applies to --augment crop only; this run has --augment keras');
  refuses({ stepGamma: 0.5 }, '--step-gamma applies to --schedule step only; this run has --schedule constant');
  refuses({ optimizer: 'sgd', nesterov: true }, '--nesterov needs a --momentum above 0');
  refuses({ epochs: 2, warmup: 2 }, "--warmup 2 must be shorter than the run's 2 epochs (--epochs)");
  refuses({ monitor: 'acc' }, '--monitor must be val_loss or val_acc, got "acc"');
  // a preset's own warm-up may outlast a shortened run
  assert.equal(resolveTrainOptions({ arch: 'fmnist-res', epochs: 1 }).warmup, 1);
});

test('the CLI: --help shows the recipe flags with each preset default; a bad value exits 2 in one line', async () => {
  const help = (await runCli(['train', '--help'])).stdout.replace(/\s+/g, ' ');
  for (const flag of ['optimizer', 'momentum', 'nesterov', 'weight-decay', 'schedule', 'warmup', 'clip-norm', 'label-smoothing', 'ema', 'normalize', 'augment', 'shift', 'flip', 'rotate', 'erase', 'monitor', 'patience'])
    assert.match(help, new RegExp(`--${flag}\\b`), flag);
  assert.ok(help.includes("(default: the preset's (rmsprop for seed7, seed5 and fmnist-cnn, sgd for fmnist-res, adamw for face-res))"), help);
  const r = await runCli(['train', '--data', '/nonexistent', '--momentum', '0.5', '--no-fetch']);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});
