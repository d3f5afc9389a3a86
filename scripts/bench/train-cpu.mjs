#!/usr/bin/env node
// Times training epochs of the seed's model on the 500 training images, the engine (fp32, and bf16 where the CPU
// has AVX512-BF16) beside PyTorch in the same run (scripts/bench/train_cpu_torch.py: same model, batch,
// optimizer, augmentation, threads, channels_last, pre-decoded data; fp32 and bf16 autocast), and prints
// seconds per epoch, images/s, achieved GFLOP/s (SPEC §1 work counts) against the machine's peak measured by
// our own probe (native.measurePeak: AVX-512 FMA and AVX512-BF16 dot-product loops), the ratios to PyTorch at
// the same precision, and the engine's time per layer.
//
//   node scripts/bench/train-cpu.mjs [--data DIR] [--epochs 3] [--threads 2] [--batch-size 32] [--no-torch] [--json]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native } from '../../dist/src/native.js';
import { SEED7 } from '../../dist/src/model/spec.js';
import { listSplit } from '../../dist/src/data/discover.js';
import { loadSplit } from '../../dist/src/data/decode.js';
import { Rng } from '../../dist/src/data/random.js';
import { trainEpoch } from '../../dist/src/train/epoch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: path.resolve(here, '../../../shared/data/celeba-575') },
    epochs: { type: 'string', default: '3' },
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchEngine(set, precision) {
  const trainer = new native.Trainer({ spec: SEED7, seed: 1, threads, precision });
  const rng = new Rng(1);
  const cfg = { batchSize, augment: true, optimizer: { lr: 0.001, rho: 0.9, epsilon: 1e-7 } };
  await trainEpoch(trainer, set, rng, cfg, 0); // warm-up
  trainer.layerTimes(true);
  const seconds = [];
  for (let e = 1; e <= epochs; e++) seconds.push((await trainEpoch(trainer, set, rng, cfg, e)).seconds);
  const t = trainer.layerTimes();
  const perEpoch = (x) => (x / epochs) * 1000;
  const layers = t.layers.map((l, i) => ({ layer: layerName(SEED7.layers[i]), forwardMs: perEpoch(l.forward), backwardMs: perEpoch(l.backward) }));
  const info = trainer.info();
  trainer.dispose();
  return { seconds, isa: info.isa, layers, preprocessMs: perEpoch(t.preprocess), updateMs: perEpoch(t.update) };
}

const layerName = (l) => l.type + (l.filters ?? l.units ?? '');

function benchTorch(set, extra) {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: `no PyTorch for ${python} (apt-get install python3-torch)` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-bench-'));
  try {
    const images = path.join(dir, 'images.u8');
    const labels = path.join(dir, 'labels.u8');
    fs.writeFileSync(images, set.images);
    fs.writeFileSync(labels, set.labels);
    const r = spawnSync(
      python,
      [path.join(here, 'train_cpu_torch.py'), '--images', images, '--labels', labels, '--threads', String(threads),
        '--batch-size', String(batchSize), '--epochs', String(epochs), '--warmup', '1', ...extra],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (r.status !== 0) return { skipped: `PyTorch run failed: ${r.stderr.trim().split('\n').at(-1)}` };
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
    return { seconds: out.epoch_seconds, version: out.torch };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const set = await loadSplit(await listSplit(path.join(args.data, 'train')));
const hasBf16 = native.buildInfo().bf16;
const peak = { fp32: await native.measurePeak('fp32', threads, 1).catch(() => null), bf16: hasBf16 ? await native.measurePeak('bf16', threads, 1) : null };
const engine32 = await benchEngine(set, 'fp32');
const engine16 = hasBf16 ? await benchEngine(set, 'bf16') : { skipped: 'this CPU has no AVX512-BF16' };
const runTorch = args.torch;
const torch32 = runTorch ? benchTorch(set, []) : { skipped: '--no-torch' };
const torch16 = runTorch ? benchTorch(set, ['--bf16']) : { skipped: '--no-torch' };

const row = (name, r, peakGflops, peer) => {
  if (!r.seconds) return { name, skipped: r.skipped };
  const s = median(r.seconds);
  const gflops = (set.size * TRAIN_FLOP_PER_IMAGE) / s / 1e9;
  const peerSeconds = peer?.seconds ? median(peer.seconds) : null;
  return {
    name, secondsPerEpoch: s, imagesPerSecond: set.size / s, gflops,
    percentOfPeak: peakGflops ? (100 * gflops) / peakGflops : null,
    overPyTorch: peerSeconds ? s / peerSeconds : null,
    all: r.seconds,
  };
};
const rows = [
  row(`engine fp32 (${engine32.isa})`, engine32, peak.fp32, torch32),
  row('engine bf16 (avx512-bf16)', engine16, peak.bf16, torch16),
  row(`PyTorch ${torch32.version ?? ''} fp32`, torch32, peak.fp32),
  row(`PyTorch ${torch16.version ?? ''} bf16 autocast`, torch16, peak.bf16),
];
const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').trim();
const layers = engine32.layers.map((l, i) => ({ ...l, bf16ForwardMs: engine16.layers?.[i].forwardMs ?? null, bf16BackwardMs: engine16.layers?.[i].backwardMs ?? null }));
const fmt = (x, d = 1) => (x === null || x === undefined ? '-' : x.toFixed(d));

if (args.json) {
  console.log(JSON.stringify({ cpu, threads, batchSize, images: set.size, epochs, peakGflops: peak, rows, layers,
    preprocessMs: { fp32: engine32.preprocessMs, bf16: engine16.preprocessMs ?? null }, updateMs: { fp32: engine32.updateMs, bf16: engine16.updateMs ?? null } }));
} else {
  console.log(`CPU: ${cpu}, ${threads} threads; ${set.size} images, batch ${batchSize}, augmentation on, median of ${epochs} epochs after 1 warm-up`);
  console.log(`measured peak (${threads} threads): fp32 FMA ${fmt(peak.fp32, 0)} GFLOP/s, bf16 dot ${fmt(peak.bf16, 0)} GFLOP/s`);
  console.log('');
  console.log('| layer | fp32 fwd ms/epoch | fp32 bwd ms/epoch | bf16 fwd ms/epoch | bf16 bwd ms/epoch |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const l of layers) console.log(`| ${l.layer} | ${fmt(l.forwardMs)} | ${fmt(l.backwardMs)} | ${fmt(l.bf16ForwardMs)} | ${fmt(l.bf16BackwardMs)} |`);
  console.log(`| augmentation + scaling | ${fmt(engine32.preprocessMs)} | | ${fmt(engine16.preprocessMs)} | |`);
  console.log(`| gradient sum + RMSprop | | ${fmt(engine32.updateMs)} | | ${fmt(engine16.updateMs)} |`);
  console.log('(per-layer times are summed over images and averaged over threads; a ReLU fused into its neighbour shows ~0;');
  console.log(' the first conv block\'s backward is booked on its max-pool)');
  console.log('');
  console.log('| trainer | s/epoch | images/s | GFLOP/s | % of peak | time / PyTorch same precision |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    if (r.skipped) console.log(`| ${r.name} | skipped: ${r.skipped} | | | | |`);
    else console.log(`| ${r.name} | ${r.secondsPerEpoch.toFixed(3)} | ${r.imagesPerSecond.toFixed(0)} | ${r.gflops.toFixed(1)} | ${fmt(r.percentOfPeak, 0)} | ${r.overPyTorch === null ? '-' : r.overPyTorch.toFixed(3) + 'x'} |`);
  }
}
