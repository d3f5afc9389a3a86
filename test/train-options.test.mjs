// Training defaults as docs/commands.md's `engine train` flag table documents them: resolveTrainOptions gives them,
// and a run started with no flag but --data records them in run.json. Plus resolveTrainOptions' refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveTrainOptions, TRAIN_DEFAULTS } from '../dist/src/options/train.js';
import { native } from '../dist/src/native.js';
import { PRESETS, RECIPE_KEYS } from '../dist/src/model/spec.js';
import { UsageError } from '../dist/src/errors.js';
import { CLI, ROOT, smallDataset, tempDir } from './helpers.mjs';

/** docs/commands.md's `engine train` flag table: flag (first word of the first cell) -> {default, meaning}, backticks kept. */
async function docTrainFlags() {
  const doc = await fs.readFile(path.join(ROOT, 'docs', 'commands.md'), 'utf8');
  const section = doc.split('\n## `engine train`\n')[1].split('\n## ')[0];
  const rows = {};
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `--')) continue;
    // cells split at the pipes that are not escaped (`--isa scalar\|avx2\|avx512`)
    const [flag, dflt, meaning] = line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim());
    rows[/^`(--[a-z-]+)/.exec(flag)[1]] = { default: dflt, meaning };
  }
  return rows;
}

const code = (cell) => {
  const m = /`([^`]+)`/.exec(cell);
  assert.ok(m, `no \`value\` in '${cell}'`);
  return m[1];
};

/** docs/commands.md's presets table: preset name (its first cell's code) -> the row's cells by column name. */
async function docPresets() {
  const doc = await fs.readFile(path.join(ROOT, 'docs', 'commands.md'), 'utf8');
  const section = doc.split('\n## Presets\n')[1].split('\n');
  const start = section.findIndex((l) => l.startsWith('| '));
  const end = section.findIndex((l, i) => i > start && !l.startsWith('|'));
  const lines = section.slice(start, end);
  const header = lines[0].slice(1, -1).split('|').map((c) => c.trim());
  const rows = {};
  for (const line of lines.slice(2)) {
    const cells = line.slice(1, -1).split('|').map((c) => c.trim());
    rows[code(cells[0])] = Object.fromEntries(header.map((h, i) => [h, cells[i]]));
  }
  return rows;
}

/** The defaults the README documents, as a TrainConfig (seed left out: documented as random). */
async function documentedDefaults() {
  const flags = await docTrainFlags();
  const presets = await docPresets();
  const cell = (flag) => {
    assert.ok(flag in flags, `docs/commands.md's train table has no ${flag} row`);
    return flags[flag].default;
  };
  const number = (flag) => {
    const n = Number(cell(flag));
    assert.ok(Number.isFinite(n), `${flag}: '${cell(flag)}' is not a number`);
    return n;
  };
  const lrMeaning = flags['--lr'].meaning;
  const rho = /\brho ([\d.]+)/.exec(lrMeaning);
  const epsilon = /\bepsilon ([\d.e-]+)/.exec(lrMeaning);
  assert.ok(rho && epsilon, `--lr row names no rho/epsilon: ${lrMeaning}`);
  // the cells in words, each translated once here: a changed cell there fails below until this is updated
  const words = (flag, expected) => assert.equal(cell(flag), expected, `${flag} default cell`);
  words('--seed', 'random, recorded');
  words('--threads', 'all cores');
  // the recipe is the default preset's, as its row in the presets table says
  for (const flag of ['--epochs', '--batch-size', '--lr', '--no-augment', '--resize']) words(flag, "the preset's");
  words('--head', 'by classes');
  words('--val', '`val/`, else held out');
  const arch = code(cell('--arch'));
  const preset = presets[arch];
  assert.ok(preset, `the presets table has no row for the default --arch ${arch}`);
  words('--isa', 'best the CPU has');
  words('--cache', 'by size');
  words('--skip-bad-images', 'off');
  return {
    flags,
    config: {
      data: code(cell('--data')),
      arch,
      // the recipe values docs/commands.md does not tabulate are the preset's (the ones it does are checked below)
      ...PRESETS[arch].recipe,
      epochs: Number(preset.epochs),
      batchSize: Number(preset.batch),
      lr: Number(preset.lr),
      rho: Number(rho[1]),
      epsilon: Number(epsilon[1]),
      augment: { on: 'keras', off: 'none' }[preset.augment] ?? preset.augment.split(' ')[0],
      saveEvery: number('--save-every'),
      out: undefined,
      threads: os.availableParallelism(),
      // "best the CPU has" (ENGINE_ISA may cap it), decided when the options are resolved
      isa: native.buildInfo().isa,
      skipBadImages: false,
      precision: code(cell('--precision')),
      conv: code(cell('--conv')),
      cache: undefined,
      cacheDir: undefined,
      device: code(cell('--device')),
      recipe: { preset: arch, fromPreset: [...RECIPE_KEYS], given: [] },
    },
  };
}

test("resolveTrainOptions' defaults are docs/commands.md's table's", async () => {
  const { flags, config: documented } = await documentedDefaults();
  assert.match(flags['--conv'].default, /^`winograd`$/);
  const { seed, ...resolved } = resolveTrainOptions({});
  assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32, `random seed ${seed}`);
  assert.deepEqual(resolved, documented);
  // the seed is random: 8 draws are not all the same
  assert.ok(new Set(Array.from({ length: 8 }, () => resolveTrainOptions({}).seed)).size > 1);
  // TRAIN_DEFAULTS (what the library documents) agree
  for (const [key, value] of Object.entries(TRAIN_DEFAULTS)) assert.deepEqual(value, documented[key], key);
  // docs/commands.md's default out folder and cache folder (checked where they are made: here and in cache-dir tests)
  assert.equal(flags['--out'].default, '`runs/run-<date>-<time>`');
  assert.equal(flags['--cache-dir'].default, '`$ENGINE_CACHE_DIR`, `$XDG_CACHE_HOME/engine` or `~/.cache/engine`');
});

test('a run with no flag but --data records the documented defaults in run.json (runs/run-<date>-<time>)', async (t) => {
  const { config: documented } = await documentedDefaults();
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const cwd = await tempDir(t);
  // 100 epochs by default: stop it once run.json is written (it is before "run directory:" is printed)
  const out = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'train', '--data', data], { cwd });
    let text = '';
    const done = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d) => {
      text += d;
      if (/run directory:/.test(text)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(done);
      resolve(text);
    });
  });
  const runs = await fs.readdir(path.join(cwd, 'runs'));
  assert.equal(runs.length, 1, out);
  assert.match(runs[0], /^run-\d{8}-\d{6}$/);
  const runDir = path.join(cwd, 'runs', runs[0]);
  const run = JSON.parse(await fs.readFile(path.join(runDir, 'run.json'), 'utf8'));
  assert.equal(run.status, 'running');
  assert.ok(Number.isInteger(run.seed));
  const { out: _o, cache: _c, cacheDir: _d, ...recorded } = { ...documented, data: data, seed: run.seed };
  assert.deepEqual(run.config, recorded, 'undefined options are absent from the JSON');
  assert.equal(run.model, documented.arch);
  // "best the CPU has", all cores, fp32 with winograd convolutions
  const build = native.buildInfo();
  assert.equal(run.engine.isa, build.cpuIsa);
  assert.equal(run.engine.threads, os.availableParallelism());
  assert.equal(run.engine.precision, 'fp32');
  assert.equal(run.engine.conv, 'winograd');
  assert.match(out, new RegExp(`run directory: ${runDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(seed ${run.seed}, ${os.availableParallelism()} threads, ${build.cpuIsa}, fp32, winograd conv\\)`));
});

test('resolveTrainOptions refuses contradictory or out-of-range options with UsageError naming the flag', () => {
  const refuses = (opts, message) =>
    assert.throws(() => resolveTrainOptions(opts), (e) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.equal(e.exitCode, 2);
      assert.equal(e.message, message);
      return true;
    });
  refuses({ rho: 1 }, '--rho must be a number in [0, 1), got 1');
  refuses({ epsilon: 0 }, '--epsilon must be a number in (0, 1], got 0');
  refuses({ lr: 2e6 }, '--lr must be a number in (0, 1000000], got 2000000');
  refuses({ saveEvery: -1 }, '--save-every must be an integer in [0, 100000], got -1');
  refuses({ data: '' }, '--data must be a folder path, got ""');
  refuses({ cache: false, cacheDir: '/tmp/c' }, '--no-cache and --cache-dir contradict each other: give one');
  refuses({ cacheDir: '' }, '--cache-dir must be a folder path, got ""');
  refuses({ isa: 'sse2' }, '--isa must be scalar, avx2 or avx512, got "sse2"');
  refuses({ device: 'tpu' }, '--device must be cpu, cuda or auto, got "tpu"');
  refuses({ precision: 'fp16' }, '--precision must be fp32 or bf16, got "fp16"');
  // --cache-dir alone turns the cache on; bf16 takes Winograd for its fp32 convolutions too, or direct when asked
  assert.equal(resolveTrainOptions({ cacheDir: '/tmp/c' }).cache, true);
  if (native.buildInfo().bf16) {
    assert.equal(resolveTrainOptions({ precision: 'bf16' }).conv, 'winograd');
    assert.equal(resolveTrainOptions({ precision: 'bf16', conv: 'direct' }).conv, 'direct');
    refuses({ precision: 'bf16', isa: 'avx2' }, '--precision bf16 runs AVX-512 kernels, so it cannot be combined with --isa avx2');
    refuses({ precision: 'bf16', device: 'auto' }, '--precision bf16 is a CPU mode (AVX512-BF16); the CUDA path trains in fp32: drop --device auto');
  } else {
    refuses({ precision: 'bf16' }, '--precision bf16 needs a CPU with AVX512-BF16, and this one has none: use fp32');
  }
});
