// The on-disk image cache: a .npy numpy can open holding exactly the decoded bytes, reused without decoding when
// the source is unchanged, rebuilt when it changed, and training from it gives the in-memory run's numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openCachedSplit, openTrainingSplit, resolveCacheDir } from '../dist/src/data/cache.js';
import { listSplit } from '../dist/src/data/discover.js';
import { loadSplit, IMAGE_BYTES } from '../dist/src/data/decode.js';
import { train } from '../dist/src/workflows/train.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { UsageError } from '../dist/src/errors.js';
import { rejectsInput, rng, smallDataset, tempDir } from './helpers.mjs';

const logs = () => {
  const lines = [];
  return { lines, onLog: (l) => lines.push(l) };
};

test('the cache holds the decoded bytes as a .npy [N,150,150,3] uint8; batches read back exactly', async (t) => {
  const data = await smallDataset(t, { train: { man: 5, woman: 4 } });
  const cacheDir = await tempDir(t);
  const listing = await listSplit(path.join(data, 'train'));
  const memory = await loadSplit(listing);
  const progress = [];
  const cached = await openCachedSplit(listing, { cacheDir, onProgress: (d, n) => progress.push([d, n]) });
  t.after(() => cached.close());
  assert.deepEqual(progress.at(-1), [9, 9]);
  assert.equal(cached.size, 9);
  assert.deepEqual(cached.labels, memory.labels);

  const npy = await fs.readFile(cached.cacheFile);
  assert.equal(npy.subarray(0, 8).toString('latin1'), '\x93NUMPY\x01\x00');
  const headerLen = npy.readUInt16LE(8);
  assert.equal((10 + headerLen) % 64, 0, 'numpy aligns the data to 64 bytes');
  assert.match(npy.subarray(10, 10 + headerLen).toString('latin1'), /^\{'descr': '\|u1', 'fortran_order': False, 'shape': \(9, 150, 150, 3\), \} *\n$/);
  assert.deepEqual(new Uint8Array(npy.subarray(10 + headerLen)), memory.images);

  const random = rng(3);
  const picks = Uint32Array.from({ length: 7 }, () => Math.floor(random() * 9));
  picks.set([2, 3, 4], 2); // a consecutive run, read in one go
  const got = new Uint8Array(7 * IMAGE_BYTES);
  await cached.gather(got, picks);
  picks.forEach((p, i) => assert.deepEqual(got.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES), memory.images.subarray(p * IMAGE_BYTES, (p + 1) * IMAGE_BYTES), `slot ${i}`));
  const range = await cached.range(3, 4, new Uint8Array(4 * IMAGE_BYTES));
  assert.deepEqual(range, memory.images.subarray(3 * IMAGE_BYTES, 7 * IMAGE_BYTES));
});

test('an unchanged source is read from the cache without decoding; a changed one is rebuilt and the old entry removed', async (t) => {
  const data = await smallDataset(t, { train: { man: 3, woman: 3 } });
  const cacheDir = await tempDir(t);
  const listing = await listSplit(path.join(data, 'train'));
  const victim = listing.files[0];
  const then = new Date('2020-01-02T03:04:05Z'); // whole seconds: utimes can restore it exactly
  await fs.utimes(victim, then, then);
  const first = await openCachedSplit(listing, { cacheDir });
  const firstBytes = await fs.readFile(first.cacheFile);
  await first.close();

  // garbage in a source file, size and mtime kept: the cache is trusted, so nothing is decoded
  await fs.writeFile(victim, Buffer.alloc((await fs.stat(victim)).size, 7));
  await fs.utimes(victim, then, then);
  const log = logs();
  const again = await openCachedSplit(listing, { cacheDir, onLog: log.onLog });
  await again.close();
  assert.match(log.lines.join('\n'), /image cache: reusing/);
  assert.equal(again.cacheFile, first.cacheFile);
  assert.deepEqual(await fs.readFile(again.cacheFile), firstBytes);

  // a new mtime changes the fingerprint: rebuilt, and now the garbage is found
  await fs.utimes(victim, new Date(), new Date());
  await rejectsInput(openCachedSplit(listing, { cacheDir }), path.basename(victim));
  const skipped = await openCachedSplit(listing, { cacheDir, skipBadImages: true });
  await skipped.close();
  assert.deepEqual(skipped.skipped, [victim]);
  assert.equal(skipped.size, 5);
  assert.deepEqual([...skipped.labels], [0, 0, 1, 1, 1]);
  assert.notEqual(skipped.cacheFile, first.cacheFile);
  assert.deepEqual((await fs.readdir(cacheDir)).sort(), [path.basename(skipped.cacheFile), path.basename(skipped.cacheFile).replace('.npy', '.json')].sort());
  // the cached skip is remembered: without --skip-bad-images the reuse fails like a decode would
  await rejectsInput(openCachedSplit(listing, { cacheDir }), path.basename(victim), 'cannot decode');
});

test('training from the cache gives the in-memory run bit for bit; small splits stay in memory by default', async (t) => {
  const data = await smallDataset(t);
  const dir = await tempDir(t);
  const cacheDir = path.join(dir, 'cache');
  const opts = { data, epochs: 2, batchSize: 4, seed: 9, threads: 2, saveEvery: 0 };
  const a = await train({ ...opts, out: path.join(dir, 'mem'), cache: false });
  const b = await train({ ...opts, out: path.join(dir, 'disk'), cacheDir });
  assert.deepEqual(b.history.map(({ seconds, ...h }) => h), a.history.map(({ seconds, ...h }) => h));
  const [ca, cb] = await Promise.all([a, b].map((s) => loadCheckpoint(path.join(s.runDir, 'last.safetensors'))));
  assert.deepEqual(cb.params, ca.params);
  assert.equal((await fs.readdir(cacheDir)).filter((n) => n.endsWith('.npy')).length, 2, 'train and val cached');

  const small = await openTrainingSplit(await listSplit(path.join(data, 'val')), { cacheDir: path.join(dir, 'unused') });
  assert.equal(small.inMemory, true);
  await assert.rejects(fs.access(path.join(dir, 'unused')), 'a small split writes no cache by default');
});

test('cache folder: an unwritable --cache-dir is a UsageError; --no-cache with --cache-dir is refused', async () => {
  await assert.rejects(resolveCacheDir('/dev/null/cache'), (e) => e instanceof UsageError && /--cache-dir/.test(e.message));
  await assert.rejects(train({ data: '.', cache: false, cacheDir: '/tmp/x' }), (e) => e instanceof UsageError && /--no-cache/.test(e.message));
});

/** Sets (or, for undefined, deletes) environment variables until the test ends. */
function setEnv(t, vars) {
  for (const [key, value] of Object.entries(vars)) {
    const was = process.env[key];
    t.after(() => (was === undefined ? delete process.env[key] : (process.env[key] = was)));
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}

test('default cache folder: $ENGINE_CACHE_DIR, else $XDG_CACHE_HOME/engine, else ~/.cache/engine, else <tmp>/engine-cache-<uid>', async (t) => {
  const data = await smallDataset(t, { train: { man: 1, woman: 1 } });
  const listing = await listSplit(path.join(data, 'train'));
  const dir = await tempDir(t);
  const notADir = path.join(dir, 'a-file');
  await fs.writeFile(notADir, 'a regular file: nothing can be made under it');
  const uid = os.userInfo().uid;
  /** Opens the split through the cache with no --cache-dir; returns the folder its .npy landed in and the log. */
  const open = async () => {
    const log = logs();
    const split = await openCachedSplit(listing, { onLog: log.onLog });
    await split.close();
    const where = path.dirname(split.cacheFile);
    assert.deepEqual((await fs.readdir(where)).filter((n) => n.endsWith('.npy')), [path.basename(split.cacheFile)]);
    assert.match(log.lines.at(-1), new RegExp(`^image cache: (building|reusing) ${where.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[0-9a-f]{32}\\.npy`));
    return { where, lines: log.lines };
  };

  setEnv(t, { ENGINE_CACHE_DIR: path.join(dir, 'engine-env'), XDG_CACHE_HOME: path.join(dir, 'xdg'), HOME: path.join(dir, 'home'), TMPDIR: path.join(dir, 'tmp') });
  assert.equal((await open()).where, path.join(dir, 'engine-env'));
  process.env.ENGINE_CACHE_DIR = '';
  assert.equal((await open()).where, path.join(dir, 'xdg', 'engine'), 'an empty ENGINE_CACHE_DIR counts as unset');
  delete process.env.ENGINE_CACHE_DIR;
  assert.equal((await open()).where, path.join(dir, 'xdg', 'engine'));
  delete process.env.XDG_CACHE_HOME;
  assert.equal((await open()).where, path.join(dir, 'home', '.cache', 'engine'));

  // the default folder cannot be made (XDG_CACHE_HOME is a file): the temp folder, saying so
  process.env.XDG_CACHE_HOME = notADir;
  const fallback = path.join(dir, 'tmp', `engine-cache-${uid}`);
  const { where, lines } = await open();
  assert.equal(where, fallback);
  assert.equal(lines[0], `image cache: ${path.join(notADir, 'engine')} is not writable, using ${fallback}`);

  // neither can be made: a UsageError naming both and the way out
  process.env.TMPDIR = path.join(notADir, 'tmp');
  await assert.rejects(openCachedSplit(listing), (e) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.equal(
      e.message,
      `no usable cache folder: ${path.join(notADir, 'engine')} is not writable, and ${path.join(notADir, 'tmp', `engine-cache-${uid}`)} is refused (it does not exist): pass --cache-dir or --no-cache`,
    );
    return true;
  });

  // without TMPDIR the fallback is the README's /tmp/engine-cache-<uid> (only the folder is made here)
  delete process.env.TMPDIR;
  const tmpFallback = `/tmp/engine-cache-${uid}`;
  const existed = await fs.stat(tmpFallback).then(() => true, () => false);
  if (!existed) t.after(() => fs.rmdir(tmpFallback).catch(() => undefined));
  assert.equal(await resolveCacheDir(undefined), tmpFallback);
});

test('the temp-dir fallback must be a private folder of this user; a reused .npy must hold the bytes its record hashed', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 1 } });
  const listing = await listSplit(path.join(data, 'train'));
  const dir = await tempDir(t);
  const notADir = path.join(dir, 'a-file');
  await fs.writeFile(notADir, 'x');
  const uid = process.getuid();
  const fallback = path.join(dir, 'tmp', `engine-cache-${uid}`);
  setEnv(t, { ENGINE_CACHE_DIR: '', XDG_CACHE_HOME: notADir, TMPDIR: path.join(dir, 'tmp') });
  const refused = (why) =>
    assert.rejects(resolveCacheDir(undefined), (e) => e instanceof UsageError && e.message.includes(fallback) && e.message.includes(why));

  // another user made it first (root can play that user here)
  await fs.mkdir(fallback, { recursive: true, mode: 0o700 });
  await fs.chown(fallback, uid + 4242, 0);
  await refused(`belongs to user ${uid + 4242}`);
  // ours, but anyone may write in it
  await fs.chown(fallback, uid, 0);
  await fs.chmod(fallback, 0o777);
  await refused('others may write there');
  // a link planted at the predictable name
  await fs.rm(fallback, { recursive: true });
  await fs.mkdir(path.join(dir, 'elsewhere'), { mode: 0o700 });
  await fs.symlink(path.join(dir, 'elsewhere'), fallback);
  await refused('symbolic link');
  await fs.rm(fallback);
  // made here: private, mode 0700
  assert.equal(await resolveCacheDir(undefined), fallback);
  assert.equal((await fs.stat(fallback)).mode & 0o777, 0o700);

  // a same-size .npy of zeros (sidecar untouched) is not reused: it is rebuilt from the images
  const first = await openCachedSplit(listing, { cacheDir: fallback });
  await first.close();
  const good = await fs.readFile(first.cacheFile);
  const poisoned = Buffer.from(good);
  poisoned.fill(0, 128);
  await fs.writeFile(first.cacheFile, poisoned);
  const log = logs();
  const again = await openCachedSplit(listing, { cacheDir: fallback, onLog: log.onLog });
  await again.close();
  assert.match(log.lines.join('\n'), /does not match its record .*rebuilding/);
  assert.deepEqual(await fs.readFile(again.cacheFile), good);
});
