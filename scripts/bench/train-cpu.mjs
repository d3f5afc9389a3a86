#!/usr/bin/env node
// Times training epochs of the seed's model on the 500 training images: the engine in fp32 (Winograd, the
// default, and direct) and in bf16 where the CPU has AVX512-BF16, beside PyTorch in the same run
// (scripts/bench/train_cpu_torch.py: same model, batch, optimizer, augmentation, threads, channels_last,
// pre-decoded data; fp32 and bf16 autocast). Epochs are interleaved, one of each trainer per round, so every
// trainer sees the same moments of a shared, noisy machine, and the ratio to PyTorch is the median of the
// per-round ratios. Prints seconds per epoch, images/s, GFLOP/s by the direct convolution's work count (SPEC §1)
// against the machine's peak measured by our own probe (native.measurePeak: AVX-512 FMA, AVX512-BF16 dot-product
// and AMX tile dot-product loops; a bf16 row is held to the AMX peak where it runs on tiles, and PyTorch's bf16
// row too where the CPU has them, since oneDNN uses them), the ratios, and the engine's time per layer.
//
//   node scripts/bench/train-cpu.mjs [--data DIR] [--epochs 5] [--threads 2] [--batch-size 32] [--no-torch] [--json]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native, trainerConfig } from '../../dist/src/native.js';
import { SEED7 } from '../../dist/src/model/spec.js';
import { listSplit } from '../../dist/src/data/discover.js';
import { loadSplit } from '../../dist/src/data/decode.js';
import { Rng } from '../../dist/src/data/random.js';
import { trainEpoch } from '../../dist/src/train/epoch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: path.resolve(here, '../../../shared/data/celeba-575') },
    epochs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '32' },
    torch: { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
  },
  allowNegative: true,
});
const epochs = Number(args.epochs);
const threads = Number(args.threads);
const batchSize = Number(args['batch-size']);
const TRAIN_FLOP_PER_IMAGE = 457e6; // SPEC §1: forward + backward of one image, conv1 without input gradient
// Between two trainers' epochs: lets the previous one's worker threads (OpenMP spin-waits in PyTorch) go idle.
const SETTLE_MS = 300;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const layerName = (l) => l.type + (l.filters ?? l.units ?? '');

/** An engine trainer that runs one timed epoch per call, after one warm-up epoch. */
async function engineTrainer(set, options) {
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, threads, ...options }));
  const rng = new Rng(1);
  const cfg = { batchSize, augment: true, optimizer: { lr: 0.001, rho: 0.9, epsilon: 1e-7 } };
  let epoch = 0;
  await trainEpoch(trainer, set, rng, cfg, epoch++); // warm-up
  trainer.layerTimes(true);
  const info = trainer.info();
  return {
    label: info.bf16Kernels ?? `${info.isa}, ${info.conv}`,
    epoch: async () => (await trainEpoch(trainer, set, rng, cfg, epoch++)).seconds,
    /** epochSeconds: what epoch() returned, one per timed epoch */
    finish(epochSeconds) {
      const timed = epochSeconds.reduce((a, b) => a + b, 0);
      const t = trainer.layerTimes();
      const perEpoch = (x) => (x / (epoch - 1)) * 1000;
      trainer.dispose();
      const layerSum = t.layers.reduce((sum, l) => sum + l.forward + l.backward, 0);
      return {
        layers: t.layers.map((l, i) => ({ layer: layerName(SEED7.layers[i]), forwardMs: perEpoch(l.forward), backwardMs: perEpoch(l.backward) })),
        preprocessMs: perEpoch(t.preprocess),
        updateMs: perEpoch(t.update),
        kernelsMs: perEpoch(t.kernels),
        idleMs: perEpoch(t.idle),
        // the native step's time in none of the rows above: the thread pool's fork and join, zeroing buffers
        otherNativeMs: perEpoch(t.step - layerSum - t.preprocess - t.update - t.kernels - t.idle),
        // the epoch's time outside the native steps: drawing augmentations, copying batches, the step's promise
        outsideMs: perEpoch(timed - t.step),
        epochMs: perEpoch(timed),
      };
    },
  };
}

/** PyTorch in serve mode: one timed epoch per call, after one warm-up epoch; or { skipped }. */
async function torchTrainer(files, extra) {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: `no PyTorch for ${python} (apt-get install python3-torch)` };
  const child = spawn(python, [path.join(here, 'train_cpu_torch.py'), '--images', files.images, '--labels', files.labels,
    '--threads', String(threads), '--batch-size', String(batchSize), '--warmup', '1', '--serve', ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`PyTorch stopped: ${stderr.trim().split('\n').at(-1)}`);
    return JSON.parse(value);
  };
  const ready = await next();
  return {
    label: ready.torch,
    epoch: async () => {
      child.stdin.write('epoch\n');
      return (await next()).seconds;
    },
    finish() {
      child.stdin.end();
      return {};
    },
  };
}

const set = await loadSplit(await listSplit(path.join(args.data, 'train')));
const hasBf16 = native.buildInfo().bf16;
const peak = {
  fp32: await native.measurePeak('fp32', threads, 1).catch(() => null),
  bf16: hasBf16 ? await native.measurePeak('bf16', threads, 1) : null,
  amx: native.buildInfo().amx ? await native.measurePeak('amx', threads, 1) : null,
};
// the peak a row is held to: its precision's, and for bf16 the tiles' where the row runs on them
const peakOf = (key, precision, label) =>
  precision === 'fp32' ? peak.fp32 : label === 'amx' || (key === 'torch16' && peak.amx) ? peak.amx : peak.bf16;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-bench-'));
const files = { images: path.join(dir, 'images.u8'), labels: path.join(dir, 'labels.u8') };
fs.writeFileSync(files.images, set.images);
fs.writeFileSync(files.labels, set.labels);
const skipped = (why) => ({ skipped: why });
// [key, row name, precision, trainer]; the engine rows' ratio is to the PyTorch row of their precision
const trainers = [
  ['winograd', 'engine fp32 winograd', 'fp32', await engineTrainer(set, { conv: 'winograd' })],
  ['direct', 'engine fp32 direct', 'fp32', await engineTrainer(set, { conv: 'direct' })],
  ['bf16', 'engine bf16', 'bf16', hasBf16 ? await engineTrainer(set, { precision: 'bf16' }) : skipped('this CPU has no AVX512-BF16')],
  ['torch32', 'PyTorch fp32', 'fp32', args.torch ? await torchTrainer(files, []) : skipped('--no-torch')],
  ['torch16', 'PyTorch bf16 autocast', 'bf16', args.torch && hasBf16 ? await torchTrainer(files, ['--bf16']) : skipped(args.torch ? 'this CPU has no AVX512-BF16' : '--no-torch')],
];
const seconds = Object.fromEntries(trainers.map(([key]) => [key, []]));
for (let round = 0; round < epochs; round++)
  for (const [key, , , t] of trainers) {
    if (t.skipped) continue;
    await sleep(SETTLE_MS);
    seconds[key].push(await t.epoch());
  }
const detail = Object.fromEntries(trainers.map(([key, , , t]) => [key, t.skipped ? {} : t.finish(seconds[key])]));
fs.rmSync(dir, { recursive: true, force: true });

const peerOf = { fp32: 'torch32', bf16: 'torch16' };
const rows = trainers.map(([key, name, precision, t]) => {
  if (t.skipped) return { name, skipped: t.skipped };
  const s = median(seconds[key]);
  const gflops = (set.size * TRAIN_FLOP_PER_IMAGE) / s / 1e9;
  const peer = key.startsWith('torch') ? null : seconds[peerOf[precision]];
  const ratios = peer?.length ? seconds[key].map((x, i) => x / peer[i]) : null;
  const rowPeak = peakOf(key, precision, t.label);
  return {
    name: `${name} (${t.label})`, secondsPerEpoch: s, imagesPerSecond: set.size / s, gflops,
    percentOfPeak: rowPeak ? (100 * gflops) / rowPeak : null,
    overPyTorch: ratios ? median(ratios) : null,
    overPyTorchRange: ratios ? [Math.min(...ratios), Math.max(...ratios)] : null,
    all: seconds[key],
  };
});
const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').trim();
const columns = ['winograd', 'direct', 'bf16'];
const layers = SEED7.layers.map((l, i) => ({
  layer: layerName(l),
  ...Object.fromEntries(columns.map((c) => [c, detail[c].layers ? { forwardMs: detail[c].layers[i].forwardMs, backwardMs: detail[c].layers[i].backwardMs } : null])),
}));
const fmt = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));

if (args.json) {
  console.log(JSON.stringify({ cpu, threads, batchSize, images: set.size, epochs, peakGflops: peak, rows, layers,
    ...Object.fromEntries(['preprocessMs', 'updateMs', 'kernelsMs', 'idleMs', 'otherNativeMs', 'outsideMs', 'epochMs'].map((k) => [k, Object.fromEntries(columns.map((c) => [c, detail[c][k] ?? null]))])) }));
} else {
  console.log(`CPU: ${cpu}, ${threads} threads; ${set.size} images, batch ${batchSize}, augmentation on; ${epochs} rounds of one epoch per trainer, interleaved, after 1 warm-up each`);
  console.log(`measured peak (${threads} threads): fp32 FMA ${fmt(peak.fp32, 0)} GFLOP/s, bf16 dot ${fmt(peak.bf16, 0)} GFLOP/s` +
    (peak.amx ? `, AMX bf16 tiles ${fmt(peak.amx, 0)} GFLOP/s` : ''));
  console.log('');
  console.log('| layer | ' + columns.map((c) => `${c} fwd | ${c} bwd`).join(' | ') + ' |   (ms per epoch)');
  console.log('| --- | ' + columns.map(() => '---: | ---:').join(' | ') + ' |');
  for (const l of layers) console.log(`| ${l.layer} | ` + columns.map((c) => `${fmt(l[c]?.forwardMs)} | ${fmt(l[c]?.backwardMs)}`).join(' | ') + ' |');
  console.log('| augmentation + scaling | ' + columns.map((c) => `${fmt(detail[c].preprocessMs)} | `).join(' | ') + ' |');
  console.log('| gradient sum + RMSprop | ' + columns.map((c) => ` | ${fmt(detail[c].updateMs)}`).join(' | ') + ' |');
  const stepRow = (name, key) => console.log(`| ${name} | ` + columns.map((c) => `${fmt(detail[c][key])} | `).join(' | ') + ' |');
  stepRow('kernels rearranged per step', 'kernelsMs');
  stepRow('threads waiting for the slowest', 'idleMs');
  stepRow('rest of the native step', 'otherNativeMs');
  stepRow('outside the native step (JS)', 'outsideMs');
  stepRow('**epoch** (mean; the rows add up to it)', 'epochMs');
  console.log('(per-layer times are summed over images and averaged over threads; a ReLU fused into its neighbour shows ~0;');
  console.log(" the first conv block's backward is booked on its max-pool)");
  console.log('');
  console.log('GFLOP/s counts the direct convolution\'s work (SPEC §1) for every trainer, so Winograd, which does less');
  console.log('arithmetic for the same result, can show more than the FMA peak. The ratio is the median of the per-round');
  console.log('ratios to PyTorch at the same precision, with their range.');
  console.log('');
  console.log('| trainer | s/epoch | images/s | GFLOP/s | % of peak | time / PyTorch same precision |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    if (r.skipped) console.log(`| ${r.name} | skipped: ${r.skipped} | | | | |`);
    else
      console.log(`| ${r.name} | ${r.secondsPerEpoch.toFixed(3)} | ${r.imagesPerSecond.toFixed(0)} | ${r.gflops.toFixed(1)} | ${fmt(r.percentOfPeak, 0)} | ${r.overPyTorch === null ? '-' : `${r.overPyTorch.toFixed(3)}x (${r.overPyTorchRange[0].toFixed(3)}-${r.overPyTorchRange[1].toFixed(3)})`} |`);
  }
}
