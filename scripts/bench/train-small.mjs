#!/usr/bin/env node
// Times training epochs of a small-image model (default: Fashion-MNIST's 60,000 28x28 grey training images with the
// fmnist-cnn preset) in the engine and in PyTorch (scripts/bench/train_small_torch.py: the same spec built by
// torch_model.py, the same recipe, threads, channels-last, glibc kept from returning freed memory; with bf16 autocast
// for the engine's bf16 trainer) in the same run.
// Epochs are interleaved, one of each trainer per round, so every trainer sees the same moments of a shared,
// noisy machine; the ratio is the median of the per-round ratios. Prints seconds per epoch, images/s and GFLOP/s
// counted as the direct convolutions' and dense layers' multiply-adds (2 FLOP each; training = forward + both
// backward products, less the first layer's input gradient), against the fp32 peak measured by the engine's probe.
//
//   node scripts/bench/train-small.mjs [--data DIR] [--arch PRESET | --spec FILE.json] [--epochs 3] [--images N] [--threads 2]
//     [--batch-size 64] [--lr 0.001] [--precision fp32,bf16] [--no-torch] [--layers] [--json]
// --layers: also the engine's time per op and direction per epoch (Trainer.layerTimes), where the time goes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { native, trainerConfig } from '../../dist/src/native.js';
import { Rng } from '../../dist/src/data/random.js';
import { trainEpochIndexed } from '../../dist/src/train/epoch.js';
import { modelSpec, resizeOf } from '../../dist/src/model/spec.js';
import { readDataSplit } from '../../dist/src/data/dataset.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    arch: { type: 'string', default: 'fmnist-cnn' },
    spec: { type: 'string' },
    epochs: { type: 'string', default: '3' },
    images: { type: 'string' },
    threads: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '64' },
    lr: { type: 'string', default: '0.001' },
    precision: { type: 'string', default: native.buildInfo().bf16 ? 'fp32,bf16' : 'fp32' },
    torch: { type: 'boolean', default: true },
    json: { type: 'boolean', default: false },
    layers: { type: 'boolean', default: false },
  },
  allowNegative: true,
});
const epochs = Number(args.epochs);
const threads = Number(args.threads);
const batchSize = Number(args['batch-size']);
const lr = Number(args.lr);
const log = (line) => (args.json ? process.stderr : process.stdout).write(line + '\n');

const spec = args.spec ? JSON.parse(fs.readFileSync(args.spec, 'utf8')) : modelSpec(args.arch);

/** Multiply-adds of one image's training step: forward, input gradients (not of the first layer) and weight gradients. */
function trainingFlops(layout) {
  let total = 0;
  let first = true;
  for (const [i, op] of layout.ops.entries()) {
    const kernel = layout.params.find((p) => p.name === `${op.name}.kernel`);
    if (!kernel) continue;
    const perOutput = kernel.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const outputs = op.shape[0] * op.shape[1] * op.shape[2];
    const macs = perOutput * outputs;
    total += 2 * macs * (first ? 2 : 3);
    first = false;
    void i;
  }
  return total;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
// Between two trainers' epochs: lets the previous one's worker threads (OpenMP spin-waits in PyTorch) go idle.
const SETTLE_MS = 300;

const [height, width, channels] = spec.input;
// (the spec's resize rule: the seed's faces come as face-res takes them, --data ../shared/data/celeba-575)
let data = await readDataSplit(args.data, 'train', { height, width, channels, resize: resizeOf(spec) });
if (args.images) data = { images: data.images.subarray(0, Number(args.images) * height * width * channels), labels: data.labels.subarray(0, Number(args.images)), size: Number(args.images) };
const layout = native.layout(spec);
const flops = trainingFlops(layout);
const peak = native.buildInfo().cpuIsa === 'avx512' ? await native.measurePeak('fp32', threads, 0.5) : undefined;
log(`${os.cpus()[0]?.model ?? 'CPU'}, ${threads} threads; ${data.size} images, spec ${spec.name} (${layout.paramCount} parameters, ${(flops / 1e6).toFixed(1)} MFLOP per training image)${peak ? `; measured fp32 peak ${peak.toFixed(0)} GFLOP/s` : ''}`);

const set = { images: data.images, labels: data.labels, size: data.size, files: [], classes: [] };
const cfg = { batchSize, augment: false, optimizer: { lr, rho: 0.9, epsilon: 1e-7 } };
const trainers = [];
for (const precision of args.precision.split(',')) {
  const trainer = new native.Trainer(trainerConfig({ spec, seed: 1, threads, precision }));
  trainer.uploadImages(data.images, data.labels);
  const rng = new Rng(1);
  await trainEpochIndexed(trainer, set, rng, cfg, 0); // warm-up
  trainer.layerTimes(true);
  trainers.push({ label: `engine ${precision}`, precision, trainer, run: async (e) => (await trainEpochIndexed(trainer, set, rng, cfg, e)).seconds, times: [] });
}

// PyTorch peers in fp32, and with bf16 autocast where the engine trains in bf16 too
const peers = [];
if (args.torch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'train-small-'));
  fs.writeFileSync(path.join(dir, 'images.u8'), data.images);
  fs.writeFileSync(path.join(dir, 'labels.u8'), data.labels);
  for (const precision of args.precision.split(',')) {
    const child = spawn('/usr/bin/python3', [path.join(here, 'train_small_torch.py'), '--spec', JSON.stringify(spec), '--images', path.join(dir, 'images.u8'), '--labels', path.join(dir, 'labels.u8'), '--threads', String(threads), '--batch-size', String(batchSize), '--lr', String(lr), ...(precision === 'bf16' ? ['--bf16'] : [])], { stdio: ['pipe', 'pipe', 'inherit'], cwd: here });
    const lines = readline.createInterface({ input: child.stdout });
    const next = () => new Promise((resolve) => lines.once('line', (l) => resolve(JSON.parse(l))));
    const ready = await next();
    peers.push(child);
    trainers.push({
      label: `PyTorch ${ready.torch} ${precision === 'bf16' ? 'bf16 autocast' : 'fp32'}`,
      precision,
      run: async () => {
        child.stdin.write('epoch\n');
        return (await next()).seconds;
      },
      times: [],
    });
  }
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
}

for (let e = 1; e <= epochs; e++)
  for (const t of trainers) {
    await sleep(SETTLE_MS);
    const s = await t.run(e);
    t.times.push(s);
    log(`round ${e}: ${t.label} ${s.toFixed(3)} s`);
  }
for (const child of peers) child.stdin.end();

// each engine trainer against the PyTorch peer of its precision
const peerOf = (t) => trainers.find((p) => p.label.startsWith('PyTorch') && p.precision === t.precision);
const rows = trainers.map((t) => {
  const peer = peerOf(t);
  const s = median(t.times);
  const gflops = (flops * data.size) / s / 1e9;
  return {
    trainer: t.label,
    secondsPerEpoch: s,
    imagesPerSecond: data.size / s,
    gflops,
    percentOfPeak: peak ? (100 * gflops) / peak : undefined,
    ratioToPyTorch: peer && t !== peer ? median(t.times.map((x, i) => x / peer.times[i])) : undefined,
  };
});
log('\n| trainer | s/epoch | images/s | GFLOP/s | % of fp32 peak | time / PyTorch |\n| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows)
  log(`| ${r.trainer} | ${r.secondsPerEpoch.toFixed(3)} | ${r.imagesPerSecond.toFixed(0)} | ${r.gflops.toFixed(1)} | ${r.percentOfPeak?.toFixed(0) ?? '-'} | ${r.ratioToPyTorch ? `${r.ratioToPyTorch.toFixed(3)}x` : '-'} |`);

// where the engine's time goes: ms per epoch for each op's forward and backward, and the step's other parts
const perEpoch = (seconds) => (seconds / epochs) * 1000;
const layers = trainers
  .filter((t) => args.layers && t.trainer)
  .map((t) => {
    const lt = t.trainer.layerTimes();
    const inLayers = lt.layers.reduce((sum, l) => sum + l.forward + l.backward, 0);
    return {
      trainer: t.label,
      ops: lt.layers.map((l, i) => ({ op: layout.ops[i].name, forwardMs: perEpoch(l.forward), backwardMs: perEpoch(l.backward) })),
      otherMs: { preprocess: perEpoch(lt.preprocess), update: perEpoch(lt.update), kernels: perEpoch(lt.kernels), idle: perEpoch(lt.idle), rest: perEpoch(lt.step - inLayers - lt.preprocess - lt.update - lt.kernels - lt.idle) },
    };
  });
for (const l of layers) {
  log(`\n${l.trainer}, ms per epoch:\n| op | forward | backward |\n| --- | ---: | ---: |`);
  for (const o of l.ops) log(`| ${o.op} | ${o.forwardMs.toFixed(0)} | ${o.backwardMs.toFixed(0)} |`);
  log(Object.entries(l.otherMs).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));
}
if (args.json) process.stdout.write(JSON.stringify({ spec: spec.name, images: data.size, threads, batchSize, peak, rows, ...(args.layers ? { layers } : {}) }) + '\n');
