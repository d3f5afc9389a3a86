// Shared test helpers: where the seed's data lives, small datasets built from it, running the CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..');
export const SHARED = path.resolve(ROOT, '../shared');
export const CELEBA = path.join(SHARED, 'data/celeba-575');
export const CLI = path.join(ROOT, 'dist/src/cli.js');

/** fn()'s result, with the environment variables of `vars` set (undefined: unset) while it runs, then as they were
 * (a Trainer's plan reads ENGINE_ISA, ENGINE_BF16 and ENGINE_CHUNK once, at its creation) */
export function withEnv(vars, fn) {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = String(v);
    }
  };
  set(vars);
  try {
    return fn();
  } finally {
    set(before);
  }
}

/** A temp folder removed after the test. */
export async function tempDir(t, prefix = 'engine-test-') {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A dataset folder DIR/{train,val}/{man,woman}/ holding copies of the first `counts[split][class]` images of
 * the seed's data. Returns DIR.
 */
export async function smallDataset(t, counts = { train: { man: 8, woman: 8 }, val: { man: 4, woman: 4 } }) {
  const dir = await tempDir(t, 'engine-data-');
  for (const [split, classes] of Object.entries(counts)) {
    for (const [cls, n] of Object.entries(classes)) {
      const src = path.join(CELEBA, split, cls);
      const dst = path.join(dir, split, cls);
      await fs.mkdir(dst, { recursive: true });
      for (const f of (await fs.readdir(src)).sort().slice(0, n)) await fs.copyFile(path.join(src, f), path.join(dst, f));
    }
  }
  return dir;
}

/** Runs `engine ...args`; resolves {code, stdout, stderr}. */
export function runCli(args, opts = {}) {
  return runNode([CLI, ...args], opts);
}

/** Runs `node ...args` (in ROOT unless opts.cwd); resolves {code, stdout, stderr}. */
export function runNode(args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** mulberry32: a small deterministic generator of test data; returns () => uniform in [0, 1). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** B random uint8 images of a model spec's input ([B, H, W, C]) and labels 0, 1, ... cycling over `classes`, seeded. */
export function randomBatch(spec, B, seed, classes = 2) {
  const r = rng(seed);
  const [H, W, C] = spec.input;
  return {
    images: Uint8Array.from({ length: B * H * W * C }, () => Math.floor(r() * 256)),
    labels: Uint8Array.from({ length: B }, (_, i) => i % classes),
  };
}

/** The kernel tiers up to `isa` (a build's or a CPU's), scalar first: the ones a test can ask for there. */
export const tiersUpTo = (isa) => ['scalar', 'avx2', 'avx512'].slice(0, ['scalar', 'avx2', 'avx512'].indexOf(isa) + 1);

/** n float32 values drawn uniformly from [lo, hi) by r (an rng) */
export const rand = (n, r, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());

/** a net whose conv 'c' (3x3 'same', cin -> cout channels, on a size x size map) sits after a 1x1 conv, so its
 * input needs a gradient: for the plan tests of the convolution kernels */
export const sameConvNet = (size, cin, cout) => ({
  name: `same${size}`,
  input: [size, size, cin],
  resize: 'none',
  layers: [
    { type: 'conv', kernel: 1, filters: cin, name: 'pre' },
    { type: 'conv', kernel: 3, padding: 'same', filters: cout, name: 'c' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 1 },
  ],
});

/** Asserts that `promise` rejects with an InputError (exit code 2) whose message contains every one of `parts`. */
export async function rejectsInput(promise, ...parts) {
  const { InputError } = await import('../dist/src/errors.js');
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof InputError, `expected InputError, got ${err}`);
    assert.equal(err.exitCode, 2);
    for (const part of parts) assert.ok(err.message.includes(part), `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(part)}`);
    return true;
  });
}

/** Runs `command ...args` in `cwd`; resolves {code, stdout, stderr} (code null when the program is missing). */
export function runProgram(command, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => resolve({ code: null, stdout, stderr: String(err) }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Debian's dataset-fashion-mnist: the four gzipped IDX files. */
export const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/**
 * The first `n` items of FASHION_MNIST's IDX file `name` (e.g. 't10k-images-idx3-ubyte'), written unzipped into
 * `dir` with its count changed; returns the items' bytes (784 per image, 1 per label).
 */
export async function sliceFashionIdx(dir, name, n) {
  const { gunzipSync } = await import('node:zlib');
  const all = gunzipSync(await fs.readFile(path.join(FASHION_MNIST, `${name}.gz`)));
  const [header, item] = name.includes('labels') ? [8, 1] : [16, 784];
  const head = Buffer.from(all.subarray(0, header));
  head.writeUInt32BE(n, 4);
  await fs.writeFile(path.join(dir, name), Buffer.concat([head, all.subarray(header, header + n * item)]));
  return all.subarray(header, header + n * item);
}
