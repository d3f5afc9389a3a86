// --normalize auto's statistics (data/channel-stats.ts): per-channel mean and population std of pixels / 255
// over a whole split, read in chunks, as a direct two-pass computation gives them; a constant channel gets std 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelStats } from '../dist/src/data/channel-stats.js';
import { memorySource } from '../dist/src/data/image-store.js';
import { rng } from './helpers.mjs';

test('channelStats: per channel over 1,100 images (two chunks), as a two-pass computation; a constant channel std 1', async () => {
  const next = rng(11);
  const n = 1100;
  const images = new Uint8Array(n * 2 * 2 * 3);
  for (let i = 0; i < images.length; i++) images[i] = i % 3 === 2 ? 40 : Math.floor(next() * (i % 3 === 0 ? 256 : 64));
  const set = { files: [], labels: new Uint8Array(n), classes: ['a'], images, size: n, shape: [2, 2, 3] };
  const s = await channelStats(memorySource(set));
  for (let c = 0; c < 2; c++) {
    const v = [];
    for (let i = c; i < images.length; i += 3) v.push(images[i] / 255);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    assert.ok(Math.abs(s.mean[c] - mean) < 1e-12 && Math.abs(s.std[c] - std) < 1e-12, `channel ${c}: ${s.mean[c]},${s.std[c]} vs ${mean},${std}`);
  }
  assert.ok(Math.abs(s.mean[2] - 40 / 255) < 1e-15);
  assert.equal(s.std[2], 1);
});
