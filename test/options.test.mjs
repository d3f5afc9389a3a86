// The option tables (src/options/): yargs is generated from them without defaults (the help shows each default
// in words), a flag that was not typed reads as undefined (what --resume compares), numbers are parsed once with
// a message quoting the text, and the resolved train config names its kernels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { readFlags } from '../dist/src/commands/flags.js';
import { TRAIN_OPTIONS, TRAIN_DEFAULTS, resolveTrainOptions } from '../dist/src/options/train.js';
import { EVAL_OPTIONS, autoBatchSize } from '../dist/src/options/eval.js';
import { camelKey, defaultsOf, helpText, kebabFlag } from '../dist/src/options/table.js';
import { UsageError } from '../dist/src/errors.js';
import { native } from '../dist/src/native.js';
import { runCli } from './helpers.mjs';

const COMMANDS = [['train'], ['eval', 'x'], ['predict', 'x.jpg'], ['export', 'onnx'], ['serve-demo'], ['data', 'fetch'], ['labels'], ['import', 'keras'], ['info']];

test('every command says its defaults in words and yargs holds none: --help has "(default: ...)", never "[default: ...]"', async () => {
  for (const args of COMMANDS) {
    const r = await runCli([...args, '--help']);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, /\[default:/, `${args.join(' ')} --help`);
  }
  const train = (await runCli(['train', '--help'])).stdout.replace(/\s+/g, ' ');
  for (const [flag, shown] of [['save-every', '10'], ['model', 'seed7'], ['precision', 'fp32'], ['device', 'cpu'], ['threads', 'all cores'], ['isa', 'best the CPU has']])
    assert.match(train, new RegExp(`--${flag} .*?\\(default: ${shown.replace('.', '\\.')}\\)`), `--${flag}`);
  // the recipe's defaults are each preset's
  for (const [flag, shown] of [['epochs', '70 for seed7, seed5 and face-res, 15 for fmnist-cnn, 26 for fmnist-res'], ['batch-size', '32 for seed7, seed5 and face-res, 64 for fmnist-cnn, 128 for fmnist-res'], ['lr', '0.001 for seed7, seed5, fmnist-cnn and face-res, 0.1 for fmnist-res']])
    assert.ok(train.includes(`(default: the preset's (${shown}))`), `--${flag}`);
  assert.match(train, /--arch, --model architecture: a preset \(seed7, seed5, fmnist-cnn/);
  assert.doesNotMatch(train, /--rho|--epsilon/, 'library-only options have no flag');
  const evalHelp = (await runCli(['eval', 'x', '--help'])).stdout.replace(/\s+/g, ' ');
  assert.match(evalHelp, /--batch-size images per onnxruntime call \(default: by the model's input size: about 256k input values a call, at most 64 images/);
});

test("eval's batch size follows the model's input: 4 faces of 150x150 RGB, 64 small grey images, never 0", () => {
  assert.equal(autoBatchSize({ height: 150, width: 150, channels: 3 }), 4);
  assert.equal(autoBatchSize({ height: 224, width: 224, channels: 3 }), 2);
  assert.equal(autoBatchSize({ height: 28, width: 28, channels: 1 }), 64);
  assert.equal(autoBatchSize({ height: 32, width: 32, channels: 3 }), 64);
  assert.equal(autoBatchSize({ height: 1024, width: 1024, channels: 3 }), 1);
});

test('readFlags: typed flags as typed values, untyped ones undefined, the command-only ones their default', () => {
  const flags = readFlags(TRAIN_OPTIONS, { epochs: '5', lr: ' 0.5 ', augment: false, 'batch-size': undefined });
  assert.equal(flags.epochs, 5);
  assert.equal(flags.lr, 0.5);
  assert.equal(flags.augment, 'none', '--no-augment is --augment none');
  for (const key of ['batchSize', 'seed', 'arch', 'data', 'device', 'gpu', 'cache', 'isa', 'conv', 'head', 'resize', 'val'])
    assert.equal(flags[key], undefined, `${key} was not typed`);
  assert.deepEqual([flags.fetch, flags.quiet, flags.json], [true, false, false]);
  assert.ok(!('rho' in flags) && !('epsilon' in flags), 'library-only rows are not flags');
  const refused = (argv, message) =>
    assert.throws(() => readFlags(TRAIN_OPTIONS, argv), (e) => e instanceof UsageError && e.exitCode === 2 && e.message === message);
  refused({ epochs: '1e3' }, "--epochs expects a whole number, got '1e3'");
  refused({ lr: 'fast' }, "--lr expects a decimal number, got 'fast'");
  refused({ seed: '' }, '--seed was given without a value: give --seed VALUE');
  // one rule for every single-valued flag: given twice, given empty, a number that is not decimal
  refused({ out: ['a', 'b'] }, '--out was given 2 times ("a", "b"): give it once');
  refused({ epochs: ['3', '4'] }, '--epochs was given 2 times ("3", "4"): give it once');
  refused({ augment: [true, false] }, '--augment was given 2 times (true, false): give it once');
  refused({ out: '' }, '--out was given without a value: give --out VALUE');
  refused({ lr: '0x10' }, "--lr expects a decimal number, got '0x10'");
  refused({ lr: 'Infinity' }, "--lr expects a decimal number, got 'Infinity'");
  refused({ out: { x: 'a' } }, '--out was given with a dotted name (--out.x): no such flag');
  assert.equal(readFlags(TRAIN_OPTIONS, { lr: '1e-3' }).lr, 0.001);
  assert.equal(readFlags(TRAIN_OPTIONS, { lr: '.5' }).lr, 0.5);
  assert.equal(readFlags(EVAL_OPTIONS, { threshold: '0.25', target: 'val' }).threshold, 0.25);
});

test('the table is the home of the defaults: TRAIN_DEFAULTS, resolveTrainOptions and the help text come from it', () => {
  assert.deepEqual(TRAIN_DEFAULTS, defaultsOf(TRAIN_OPTIONS));
  const resolved = resolveTrainOptions({});
  for (const [key, value] of Object.entries(TRAIN_DEFAULTS)) assert.equal(resolved[key], value, key);
  const epochs = TRAIN_OPTIONS.find((o) => o.flag === 'epochs');
  assert.equal(helpText(epochs), "epochs (full passes over train) (default: the preset's (70 for seed7, seed5 and face-res, 15 for fmnist-cnn, 26 for fmnist-res))");
  assert.equal(camelKey('skip-bad-images'), 'skipBadImages');
  assert.equal(kebabFlag('skipBadImages'), 'skip-bad-images');
  const flags = TRAIN_OPTIONS.map((o) => o.flag);
  assert.equal(new Set(flags).size, flags.length, 'one row per flag');
});

test('resolveTrainOptions decides the kernels: isa (the best this CPU has unless capped), precision and conv', () => {
  const build = native.buildInfo();
  const config = resolveTrainOptions({ seed: 1 });
  assert.equal(config.isa, build.isa);
  assert.equal(config.precision, 'fp32');
  assert.equal(config.conv, 'winograd');
  assert.equal(resolveTrainOptions({ isa: 'scalar' }).isa, 'scalar');
  // an instruction set above the CPU's is refused here (the addon would only say RangeError)
  const isas = ['scalar', 'avx2', 'avx512'];
  for (const isa of isas.slice(isas.indexOf(build.cpuIsa) + 1))
    assert.throws(() => resolveTrainOptions({ isa }), (e) => e instanceof UsageError && e.message.startsWith(`--isa ${isa} is not supported by this CPU (its best is ${build.cpuIsa})`));
  // the same options resolve to the same config but for the random seed, which is recorded
  const { seed: _a, ...a } = resolveTrainOptions({});
  const { seed: _b, ...b } = resolveTrainOptions({});
  assert.deepEqual(a, b);
});

test('--threads above the cores here warns that each thread costs memory and none adds speed', (t) => {
  const lines = [];
  const write = t.mock.method(process.stderr, 'write', (s) => void lines.push(String(s)) ?? true);
  const cores = os.availableParallelism();
  readFlags(TRAIN_OPTIONS, { threads: String(cores) });
  assert.deepEqual(lines, []);
  readFlags(TRAIN_OPTIONS, { threads: String(cores + 100) });
  write.mock.restore();
  assert.deepEqual(lines, [`warning: --threads ${cores + 100} is more than the ${cores} cores here: each thread takes memory and none adds speed\n`]);
});
