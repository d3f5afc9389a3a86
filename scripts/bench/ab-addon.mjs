#!/usr/bin/env node
// Two builds of the native addon, epoch against epoch in one process: how much a kernel change moves a small-image
// model's training, on a machine whose speed drifts by tens of percent within minutes. Each build gets its own
// Trainer on the same images; their epochs alternate (which goes first, too), so both see the same moments of the
// machine, and the ratio is the median of the per-round ratios. Also per op (Trainer.layerTimes) and a hash of each
// build's parameters after all the epochs: equal hashes, the same bits.
//
//   cp build/Release/engine.node /tmp/old.node    (before the change; rebuild after it)
//   node scripts/bench/ab-addon.mjs --a /tmp/old.node --b build/Release/engine.node [--arch fmnist-res]
//     [--images 6000] [--rounds 5] [--batch-size 128] [--lr 0.1] [--threads 2] [--precision fp32|bf16]
//     [--conv-a winograd|direct] [--conv-b winograd|direct] [--data DIR]
// --conv-a/--conv-b: the conv option for a build whose default differs from this tree's (an older addon).
// Images come through the spec's resize rule (the seed's faces: --arch seed7 --data ../shared/data/celeba-575).
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { trainerConfig } from '../../dist/src/native.js';
import { Rng } from '../../dist/src/data/random.js';
import { trainEpochIndexed } from '../../dist/src/train/epoch.js';
import { modelSpec, resizeOf } from '../../dist/src/model/spec.js';
import { readDataSplit } from '../../dist/src/data/dataset.js';

const { values: args } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    arch: { type: 'string', default: 'fmnist-res' },
    images: { type: 'string', default: '6000' },
    rounds: { type: 'string', default: '5' },
    'batch-size': { type: 'string', default: '128' },
    lr: { type: 'string', default: '0.1' },
    threads: { type: 'string', default: '2' },
    precision: { type: 'string', default: 'fp32' },
    'conv-a': { type: 'string' },
    'conv-b': { type: 'string' },
    data: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
  },
});
if (!args.a || !args.b) {
  console.error('usage: node scripts/bench/ab-addon.mjs --a OLD.node --b NEW.node [options]: see the head of this file');
  process.exit(2);
}
const rounds = Number(args.rounds);
const spec = modelSpec(args.arch);
const [height, width, channels] = spec.input;
const all = await readDataSplit(args.data, 'train', { height, width, channels, resize: resizeOf(spec) });
const n = Math.min(Number(args.images), all.size);
const size = height * width * channels;
const data = { images: all.images.subarray(0, n * size), labels: all.labels.subarray(0, n), size: n, files: [], classes: [] };
const cfg = { batchSize: Number(args['batch-size']), augment: false, optimizer: { lr: Number(args.lr), rho: 0.9, epsilon: 1e-7 } };

const require = createRequire(import.meta.url);
const builds = [];
for (const [label, file, conv] of [['A', args.a, args['conv-a']], ['B', args.b, args['conv-b']]]) {
  const addon = require(path.resolve(file));
  const trainer = new addon.Trainer(trainerConfig({ spec, seed: 1, threads: Number(args.threads), precision: args.precision, ...(conv ? { conv } : {}) }));
  trainer.uploadImages(data.images, data.labels);
  const rng = new Rng(1);
  await trainEpochIndexed(trainer, data, rng, cfg, 0); // warm-up
  trainer.layerTimes(true);
  builds.push({ label, file, addon, trainer, rng, times: [] });
}
// A then B in odd rounds, B then A in even ones: the second epoch of a round ran up to 7% faster than the first
// with the same addon on both sides (caches, clocks), which a fixed order would credit to B
for (let r = 1; r <= rounds; r++)
  for (const b of r % 2 ? builds : [...builds].reverse())
    b.times.push((await trainEpochIndexed(b.trainer, data, b.rng, cfg, r)).seconds);

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
const hash = (p) => crypto.createHash('sha256').update(Buffer.from(p.buffer, p.byteOffset, p.byteLength)).digest('hex').slice(0, 16);
console.log(`${spec.name}, ${n} images, batch ${cfg.batchSize}, ${args.threads} threads, ${args.precision}, ${rounds} rounds`);
for (const b of builds)
  console.log(`${b.label} ${b.file}: median ${median(b.times).toFixed(3)} s an epoch (${b.times.map((x) => x.toFixed(3)).join(' ')}), parameters ${hash(b.trainer.getParams())}`);
console.log(`B / A: ${median(builds[1].times.map((x, i) => x / builds[0].times[i])).toFixed(3)} (median of the rounds' ratios)`);

const [la, lb] = builds.map((b) => b.trainer.layerTimes());
const ms = (s) => ((s / rounds) * 1000).toFixed(0);
const ops = builds[0].addon.layout(spec).ops;
console.log('\nms an epoch | forward A | forward B | backward A | backward B\n--- | ---: | ---: | ---: | ---:');
for (const [i, op] of ops.entries()) {
  const [x, y] = [la.layers[i], lb.layers[i]];
  if (x.forward + x.backward + y.forward + y.backward > 0) console.log(`${op.name} | ${ms(x.forward)} | ${ms(y.forward)} | ${ms(x.backward)} | ${ms(y.backward)}`);
}
for (const k of ['preprocess', 'update', 'idle']) console.log(`${k} | ${ms(la[k])} | ${ms(lb[k])} | |`);
