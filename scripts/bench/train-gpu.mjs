#!/usr/bin/env node
// Times the CUDA trainer beside PyTorch on the same GPU in the same run (scripts/bench/train_gpu_torch.py: same
// model, channels_last, eager, fp32 / TF32 / bf16 autocast, data already on the GPU), and prints a table last:
//   epoch:      seconds per epoch of the 500 training images, batch 32, augmentation on, median of 20 epochs
//               after one warm-up epoch
//   throughput: images/s at batch 256 over a synthetic 50,000-image set (the 575 images repeated), one epoch
//               after a few warm-up steps
//   --learn K:  `engine train --device cuda` for K epochs (the library call), mean validation accuracy over the
//               last 20 epochs (51-70 for K = 70)
//
//   node scripts/bench/train-gpu.mjs [--data DIR] [--epochs 20] [--synthetic 50000] [--no-torch] [--learn 70]
//                                    [--big-batch 256] [--python python3] [--torch-device cuda] [--json FILE]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native, trainerConfig } from '../../dist/src/native.js';
import { SEED7 } from '../../dist/src/model/spec.js';
import { listSplit } from '../../dist/src/data/discover.js';
import { loadSplit } from '../../dist/src/data/decode.js';
import { Rng } from '../../dist/src/data/random.js';
import { cudaStatus } from '../../dist/src/train/device.js';
import { trainEpochIndexed } from '../../dist/src/train/epoch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: path.resolve(here, '../../../shared/data/celeba-575') },
    epochs: { type: 'string', default: '20' },
    synthetic: { type: 'string', default: '50000' },
    'big-batch': { type: 'string', default: '256' },
    torch: { type: 'boolean', default: true },
    learn: { type: 'string', default: '0' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
    'torch-device': { type: 'string', default: 'cuda' },
    json: { type: 'string' },
  },
  allowNegative: true,
});
const EPOCHS = Number(args.epochs);
const SYNTHETIC = Number(args.synthetic);
const LEARN = Number(args.learn);
const BIG = Number(args['big-batch']);
const IMAGE = 150 * 150 * 3;
const OPT = { lr: 0.001, rho: 0.9, epsilon: 1e-7 };
const TRAIN_FLOP_PER_IMAGE = 457e6; // SPEC §1: forward + backward of one image
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (line) => process.stderr.write(line + '\n');

const status = cudaStatus();
if (!status.usable) {
  console.error(`train-gpu: no CUDA device: ${status.reason}`);
  process.exit(2);
}
log(`device: ${status.devices[0].name}`);

const train = await loadSplit(await listSplit(path.join(args.data, 'train')));
const val = await loadSplit(await listSplit(path.join(args.data, 'val'), { classes: train.classes }));
const all = { images: new Uint8Array((train.size + val.size) * IMAGE), labels: new Uint8Array(train.size + val.size) };
all.images.set(train.images.subarray(0, train.size * IMAGE));
all.images.set(val.images.subarray(0, val.size * IMAGE), train.size * IMAGE);
all.labels.set(train.labels.subarray(0, train.size));
all.labels.set(val.labels.subarray(0, val.size), train.size);
const allSize = train.size + val.size;

async function engineEpochs() {
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, backend: 'cuda', conv: 'direct' }));
  try {
    trainer.uploadImages(train.images.subarray(0, train.size * IMAGE), train.labels.subarray(0, train.size));
    const rng = new Rng(1);
    const cfg = { batchSize: 32, augment: true, optimizer: OPT };
    const warm = await trainEpochIndexed(trainer, train, rng, cfg, 0);
    log(`engine warm-up epoch: ${warm.seconds.toFixed(4)} s`);
    const seconds = [];
    let last;
    for (let e = 1; e <= EPOCHS; e++) {
      last = await trainEpochIndexed(trainer, train, rng, cfg, e);
      seconds.push(last.seconds);
    }
    return { seconds, images: train.size, loss: last.loss, graphs: trainer.info().cudaGraphs };
  } finally {
    trainer.dispose();
  }
}

async function engineThroughput() {
  const images = new Uint8Array(SYNTHETIC * IMAGE);
  const labels = new Uint8Array(SYNTHETIC);
  for (let i = 0; i < SYNTHETIC; i++) {
    const j = i % allSize;
    images.set(all.images.subarray(j * IMAGE, (j + 1) * IMAGE), i * IMAGE);
    labels[i] = all.labels[j];
  }
  const set = { images, labels, size: SYNTHETIC, files: [], classes: train.classes };
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, backend: 'cuda', conv: 'direct' }));
  try {
    const t0 = performance.now();
    trainer.uploadImages(images, labels);
    log(`engine: uploaded ${SYNTHETIC} images in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    const rng = new Rng(2);
    const cfg = { batchSize: BIG, augment: true, optimizer: OPT };
    const idx = Int32Array.from({ length: BIG }, (_, i) => i % SYNTHETIC);
    const aug = new Float64Array(BIG * 4).fill(1);
    for (let s = 0; s < 10; s++) await trainer.trainStepIndexed(idx, aug, OPT); // warm-up, graph capture
    const r = await trainEpochIndexed(trainer, set, rng, cfg, 1);
    return { seconds: [r.seconds], images: SYNTHETIC, loss: r.loss };
  } finally {
    trainer.dispose();
  }
}

function torchRun(imagesFile, labelsFile, extra) {
  const r = spawnSync(args.python, [path.join(here, 'train_gpu_torch.py'), '--images', imagesFile, '--labels', labelsFile, '--device', args['torch-device'], ...extra], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) return { skipped: `PyTorch run failed: ${(r.stderr || String(r.error)).trim().split('\n').at(-1)}` };
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  return { seconds: out.epoch_seconds, images: out.images, loss: out.final_loss, version: out.torch };
}

async function learn(epochs) {
  const { train: trainRun } = await import('../../dist/src/workflows/train.js');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-gpu-learn-'));
  try {
    const s = await trainRun({ data: args.data, epochs, seed: 1, device: 'cuda', out: path.join(out, 'run'), saveEvery: 0 }, {
      onEpoch: (r) => log(`learn epoch ${r.epoch}: loss ${r.loss.toFixed(4)} val_acc ${r.valAcc.toFixed(4)} ${r.seconds.toFixed(3)} s`),
    });
    return { meanValAccLast20: s.meanValAccLast20, medianTrainSeconds: s.medianTrainSeconds, finalValAcc: s.final.valAcc };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

const rows = [];
const row = (name, kind, r) => {
  if (!r.seconds) return rows.push({ name, kind, skipped: r.skipped });
  const s = median(r.seconds);
  rows.push({ name, kind, secondsPerEpoch: s, imagesPerSecond: r.images / s, tflops: (r.images * TRAIN_FLOP_PER_IMAGE) / s / 1e12, loss: r.loss, all: r.seconds });
};

row('engine CUDA fp32', `epoch ${train.size} @32`, await engineEpochs());
row('engine CUDA fp32', `throughput ${SYNTHETIC} @${BIG}`, await engineThroughput());
if (args.torch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-bench-gpu-'));
  try {
    const f = (name, data) => (fs.writeFileSync(path.join(dir, name), data), path.join(dir, name));
    const trainImages = f('train.u8', train.images.subarray(0, train.size * IMAGE));
    const trainLabels = f('train-labels.u8', train.labels.subarray(0, train.size));
    const allImages = f('all.u8', all.images);
    const allLabels = f('all-labels.u8', all.labels);
    for (const precision of ['fp32', 'tf32', 'bf16']) {
      const name = `PyTorch ${precision === 'bf16' ? 'bf16 autocast' : precision}`;
      row(name, `epoch ${train.size} @32`, torchRun(trainImages, trainLabels, ['--precision', precision, '--batch-size', '32', '--epochs', String(EPOCHS), '--warmup', '1']));
      row(name, `throughput ${SYNTHETIC} @${BIG}`, torchRun(allImages, allLabels, ['--precision', precision, '--batch-size', String(BIG), '--epochs', '1', '--warmup', '0', '--warmup-steps', '10', '--synthetic', String(SYNTHETIC)]));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
const learned = LEARN > 0 ? await learn(LEARN) : undefined;

const result = { device: status.devices[0], epochs: EPOCHS, synthetic: SYNTHETIC, rows, learn: learned };
if (args.json) fs.writeFileSync(args.json, JSON.stringify(result, null, 2));
const engineEpoch = rows.find((r) => r.name.startsWith('engine') && r.kind.startsWith('epoch'));
console.log(`\n${status.devices[0].name}: seed7, augmentation on; epoch = median of ${EPOCHS} epochs after 1 warm-up; throughput = 1 epoch after 10 warm-up steps`);
console.log('| trainer | run | s/epoch | images/s | TFLOP/s | engine speed-up |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  if (r.skipped) {
    console.log(`| ${r.name} | ${r.kind} | skipped: ${r.skipped} | | | |`);
    continue;
  }
  const engine = rows.find((e) => e.name.startsWith('engine') && e.kind === r.kind);
  const speedup = engine?.secondsPerEpoch && !r.name.startsWith('engine') ? `${(r.secondsPerEpoch / engine.secondsPerEpoch).toFixed(2)}x` : '';
  console.log(`| ${r.name} | ${r.kind} | ${r.secondsPerEpoch.toFixed(4)} | ${r.imagesPerSecond.toFixed(0)} | ${r.tflops.toFixed(2)} | ${speedup} |`);
}
if (engineEpoch) console.log(`engine epoch of ${train.size} images: ${(engineEpoch.secondsPerEpoch * 1000).toFixed(2)} ms (target <= 10 ms)`);
if (learned)
  console.log(`learning, ${LEARN} GPU epochs: mean val_acc over the last 20 = ${learned.meanValAccLast20.toFixed(4)} (target >= 0.91), final ${learned.finalValAcc.toFixed(4)}, median train ${learned.medianTrainSeconds.toFixed(4)} s/epoch`);
