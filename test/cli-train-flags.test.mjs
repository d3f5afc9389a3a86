// `engine train` flags that change how training runs, each on the smallest run (4 train and 2 val images, one
// epoch): --isa, --precision bf16, --no-augment, --cache/--no-cache/--cache-dir, --model seed5; the decoding bar
// of a cache build on a terminal.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { parseHistoryCsv } from '../dist/src/store/history.js';
import { native } from '../dist/src/native.js';
import { CLI, ROOT, runCli, smallDataset, tempDir } from './helpers.mjs';

const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));
let data;
before(async () => {
  data = await smallDataset(suite, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
});

const BASE = ['--epochs', '1', '--seed', '3', '--threads', '1', '--save-every', '0'];

/** Trains with `flags` into a new run folder; returns {r, out, run (run.json)}. */
async function trainRun(t, flags, opts = {}) {
  const out = path.join(await tempDir(t), 'run');
  const r = await runCli(['train', '--data', data, ...BASE, '--out', out, ...flags], opts);
  assert.equal(r.code, 0, r.stderr);
  return { r, out, run: JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8')) };
}

/** Runs train with `flags`, expects exit 2 and exactly `message` on stderr. */
async function refused(flags, message) {
  const r = await runCli(['train', '--data', data, ...BASE, ...flags]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim(), `engine: ${message}`);
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('--isa avx2 caps the native kernels: run.json and the run line say avx2', async (t) => {
  if (native.buildInfo().cpuIsa === 'scalar') return t.skip('this CPU has no AVX2');
  const { r, run } = await trainRun(t, ['--isa', 'avx2']);
  assert.equal(run.config.isa, 'avx2');
  assert.equal(run.engine.isa, 'avx2');
  assert.match(r.stdout, /run directory: .* \(seed 3, 1 threads, avx2, fp32, winograd conv\)/);
  const bad = await runCli(['train', '--data', data, ...BASE, '--isa', 'sse4']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Argument: isa, Given: "sse4", Choices: "scalar", "avx2", "avx512"/);
});

test('--precision bf16 trains with bf16 kernels where the CPU has AVX512-BF16, else exits 2 saying so', async (t) => {
  if (!native.buildInfo().bf16) {
    await refused(['--precision', 'bf16'], '--precision bf16 needs a CPU with AVX512-BF16, and this one has none: use fp32');
    return;
  }
  const { r, run, out } = await trainRun(t, ['--precision', 'bf16']);
  assert.equal(run.config.precision, 'bf16');
  assert.equal(run.config.conv, 'winograd', 'bf16 runs its fp32 convolutions on Winograd');
  assert.equal(run.engine.precision, 'bf16');
  assert.ok(['avx512-bf16', 'amx', 'amx-emulated'].includes(run.engine.bf16Kernels), `bf16Kernels ${run.engine.bf16Kernels}`);
  assert.match(r.stdout, new RegExp(`run directory: .* \\(seed 3, 1 threads, avx512, bf16 \\(${run.engine.bf16Kernels}\\)\\)`));
  assert.equal((await loadCheckpoint(path.join(out, 'last.safetensors'))).meta.config.precision, 'bf16');
  await refused(['--precision', 'bf16', '--isa', 'avx2'], '--precision bf16 runs AVX-512 kernels, so it cannot be combined with --isa avx2');
});

test('--no-augment: config.augment none in run.json and the checkpoint, and other numbers than the augmented run', async (t) => {
  const plain = await trainRun(t, ['--no-augment']);
  const augmented = await trainRun(t, []);
  assert.equal(plain.run.config.augment, 'none');
  assert.equal(augmented.run.config.augment, 'keras');
  assert.equal((await loadCheckpoint(path.join(plain.out, 'last.safetensors'))).meta.config.augment, 'none');
  // same seed, same order and dropout: only the warps differ, so the training loss does
  const [a, b] = await Promise.all([plain, augmented].map(async ({ out }) => parseHistoryCsv(await fs.readFile(path.join(out, 'history.csv'), 'utf8'))));
  assert.notEqual(a[0].loss, b[0].loss, 'augmentation changes the training loss');
  // and without augmentation a second run is the same bit for bit
  const again = await trainRun(t, ['--no-augment']);
  const c = parseHistoryCsv(await fs.readFile(path.join(again.out, 'history.csv'), 'utf8'));
  assert.deepEqual(c.map(({ seconds, ...h }) => h), a.map(({ seconds, ...h }) => h));
});

test('--cache-dir DIR puts both splits\' .npy there (built, then reused); --cache uses $ENGINE_CACHE_DIR; --no-cache writes none', async (t) => {
  const dir = await tempDir(t);
  const cacheDir = path.join(dir, 'given');
  const first = await trainRun(t, ['--cache-dir', cacheDir]);
  assert.equal(first.run.config.cache, true);
  assert.equal(first.run.config.cacheDir, cacheDir);
  const names = (await fs.readdir(cacheDir)).sort();
  assert.equal(names.filter((n) => /^[0-9a-f]{32}\.npy$/.test(n)).length, 2, `${names}`);
  assert.equal(names.filter((n) => /^[0-9a-f]{32}\.json$/.test(n)).length, 2, `${names}`);
  for (const split of ['train', 'val']) {
    const n = split === 'train' ? 4 : 2;
    assert.match(first.r.stdout, new RegExp(`^image cache: building ${escape(cacheDir)}/[0-9a-f]{32}\\.npy from ${n} images of ${escape(path.join(data, split))}$`, 'm'));
  }
  const npy = path.join(cacheDir, names.find((n) => n.endsWith('.npy')));
  assert.equal((await fs.stat(npy)).size % 67500, 128 % 67500, 'a 128-byte header and whole images');
  const second = await trainRun(t, ['--cache-dir', cacheDir]);
  assert.match(second.r.stdout, /^image cache: reusing .*\(4 images of .*train, built /m);
  assert.doesNotMatch(second.r.stdout, /image cache: building/);
  assert.deepEqual((await fs.readdir(cacheDir)).sort(), names);

  const envDir = path.join(dir, 'env');
  const viaEnv = await trainRun(t, ['--cache'], { env: { ENGINE_CACHE_DIR: envDir } });
  assert.equal(viaEnv.run.config.cache, true);
  assert.equal(viaEnv.run.config.cacheDir, undefined);
  assert.equal((await fs.readdir(envDir)).filter((n) => n.endsWith('.npy')).length, 2);
  assert.match(viaEnv.r.stdout, new RegExp(`^image cache: building ${escape(envDir)}/`, 'm'));

  const unused = path.join(dir, 'unused');
  const none = await trainRun(t, ['--no-cache'], { env: { ENGINE_CACHE_DIR: unused } });
  assert.equal(none.run.config.cache, false);
  assert.doesNotMatch(none.r.stdout, /image cache/);
  await assert.rejects(fs.access(unused), 'no cache folder made');
  await refused(['--no-cache', '--cache-dir', unused], '--no-cache and --cache-dir contradict each other: give one');
});

test('--model seed5 trains the 3-conv net: its parameter count in the checkpoint and run.json', async (t) => {
  const { run, out } = await trainRun(t, ['--model', 'seed5']);
  // 150 -> conv 148 -> pool 74 -> conv 72 -> pool 36 -> conv 34 -> pool 17: 17*17*64 features into dense 64, then 1
  const conv = (cin, cout) => 3 * 3 * cin * cout + cout;
  const expected = conv(3, 32) + conv(32, 32) + conv(32, 64) + (17 * 17 * 64 * 64 + 64) + (64 + 1);
  assert.equal(expected, 1212513);
  assert.equal(run.model, 'seed5');
  assert.equal(run.engine.params, expected);
  for (const f of ['last', 'best']) {
    const ckpt = await loadCheckpoint(path.join(out, `${f}.safetensors`));
    assert.equal(ckpt.meta.spec.name, 'seed5');
    assert.equal(ckpt.params.length, expected);
    assert.equal(ckpt.accumulators.length, expected);
    assert.deepEqual(ckpt.layout.map((l) => l.name), ['conv1.kernel', 'conv1.bias', 'conv2.kernel', 'conv2.bias', 'conv3.kernel', 'conv3.bias', 'dense1.kernel', 'dense1.bias', 'dense2.kernel', 'dense2.bias']);
  }
});

test('on a terminal, building the image cache shows a labelled decoding bar per split (not "4/0")', async (t) => {
  // a pseudo-terminal from util-linux `script`, so that stdout is a TTY
  const probe = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return t.skip('no util-linux `script` here for a pseudo-terminal');
  const dir = await tempDir(t);
  const args = [process.execPath, CLI, 'train', '--data', data, ...BASE, '--out', path.join(dir, 'run'), '--cache-dir', path.join(dir, 'cache')];
  const quote = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
  const r = spawnSync('script', ['-qec', args.map(quote).join(' '), '/dev/null'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const shown = r.stdout.split(/\r\x1b\[K|\r?\n/);
  for (const [split, n] of [['train', 4], ['val', 2]]) {
    assert.ok(shown.includes(`decoding ${split} [------------------------] 0/${n} 0.0 images/s ETA --`), `no empty ${split} bar in ${JSON.stringify(r.stdout)}`);
    assert.ok(shown.some((l) => l.startsWith(`decoding ${split} [########################] ${n}/${n} `)), `no full ${split} bar in ${JSON.stringify(r.stdout)}`);
  }
  assert.ok(!shown.some((l) => /\] \d+\/0 /.test(l)), `a bar without its total: ${JSON.stringify(r.stdout)}`);
  // rates have their unit; one epoch is 'epoch'
  assert.ok(shown.some((l) => / \d+\.\d steps\/s ETA /.test(l)), r.stdout);
  assert.ok(shown.some((l) => l.startsWith('done: 1 epoch in ')), r.stdout);
});

test('train --html --json: the summary lists the report in files (relative to the run folder inside it, else its path)', async (t) => {
  const dir = await tempDir(t);
  for (const [html, listed] of [[path.join(dir, 'run', 'report.html'), 'report.html'], [path.join(dir, 'elsewhere.html'), path.join(dir, 'elsewhere.html')]]) {
    const out = path.join(dir, html.endsWith('elsewhere.html') ? 'run2' : 'run');
    const r = await runCli(['train', '--data', data, ...BASE, '--out', out, '--html', html, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { files } = JSON.parse(r.stdout);
    assert.ok(files.includes(listed), JSON.stringify(files));
    assert.ok(files.includes('best.safetensors'), JSON.stringify(files));
  }
});
