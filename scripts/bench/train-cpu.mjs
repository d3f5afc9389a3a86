#!/usr/bin/env node
// Times training epochs of the seed's model on the 500 training images, the engine beside PyTorch in the same
// run (scripts/bench/train_cpu_torch.py, same model, batch, optimizer, augmentation, threads, channels_last,
// pre-decoded data), and prints seconds per epoch, images/s, achieved GFLOP/s (SPEC §1 work counts) and the ratio.
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

async function benchEngine(set) {
  const trainer = new native.Trainer({ spec: SEED7, seed: 1, threads });
  const rng = new Rng(1);
  const cfg = { batchSize, augment: true, optimizer: { lr: 0.001, rho: 0.9, epsilon: 1e-7 } };
  await trainEpoch(trainer, set, rng, cfg, 0); // warm-up
  const seconds = [];
  for (let e = 1; e <= epochs; e++) seconds.push((await trainEpoch(trainer, set, rng, cfg, e)).seconds);
  const info = trainer.info();
  trainer.dispose();
  return { seconds, isa: info.isa };
}

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
const engine = await benchEngine(set);
const runTorch = args.torch;
const torch32 = runTorch ? benchTorch(set, []) : { skipped: '--no-torch' };
const torch16 = runTorch ? benchTorch(set, ['--bf16']) : { skipped: '--no-torch' };

const row = (name, r) => {
  if (!r.seconds) return { name, skipped: r.skipped };
  const s = median(r.seconds);
  return { name, secondsPerEpoch: s, imagesPerSecond: set.size / s, gflops: (set.size * TRAIN_FLOP_PER_IMAGE) / s / 1e9, all: r.seconds };
};
const rows = [row(`engine fp32 (${engine.isa})`, engine), row(`PyTorch ${torch32.version ?? ''} fp32`, torch32), row(`PyTorch ${torch16.version ?? ''} bf16 autocast`, torch16)];
const ratio = rows[1].secondsPerEpoch ? rows[0].secondsPerEpoch / rows[1].secondsPerEpoch : null;
const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').trim();

if (args.json) {
  console.log(JSON.stringify({ cpu, threads, batchSize, images: set.size, epochs, rows, engineOverTorchFp32: ratio }));
} else {
  console.log(`CPU: ${cpu}, ${threads} threads; ${set.size} images, batch ${batchSize}, augmentation on, median of ${epochs} epochs after 1 warm-up`);
  console.log('| trainer | s/epoch | images/s | GFLOP/s |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of rows) {
    if (r.skipped) console.log(`| ${r.name} | skipped: ${r.skipped} | | |`);
    else console.log(`| ${r.name} | ${r.secondsPerEpoch.toFixed(3)} | ${r.imagesPerSecond.toFixed(0)} | ${r.gflops.toFixed(1)} |`);
  }
  if (ratio !== null) console.log(`engine / PyTorch fp32 epoch time: ${ratio.toFixed(3)}x (${(1 / ratio).toFixed(2)}x faster)`);
}
