#!/usr/bin/env node
// Random model specs against the planner and the kernels: each seed draws a small net (3x3/5x5/1x1 and strided
// convolutions, batch norm, ReLU, max-pool, dropout, residual adds, a GAP or flatten head) on a small grey, colour or
// 16-channel input, builds it in float64 (the reference), in float32 on the scalar, AVX2 and AVX-512 tiers and the
// CUDA backend's source on its CPU emulator, and in bf16 where the CPU has it, and compares one batch's gradients
// (relative rms under 1e-3; bf16 under 0.1; past that, a tier that agrees again at parameters nudged by 1e-5 sat on
// a max-pool tie or ReLU kink that float32 rounding crossed, and passes); then trains it three steps, exports it to
// ONNX (batch norm folded, preprocessing embedded) and compares onnxruntime-node's probabilities with the engine's
// (within 1e-4). Each spec runs in a child process, so a crash (a plan that corrupts memory) is reported with its
// seed instead of ending the run. Exit status 1 if any failed.
// (It found that batchnorm -> relu -> maxpool2x2 gave the ReLU's backward to two steps: 6eb2216.)
//
//   node scripts/check/spec-fuzz.mjs [--seeds 300] [--from 1]
//   node scripts/check/spec-fuzz.mjs --one SEED     (one spec and its setting, printed)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { seeds: { type: 'string', default: '300' }, from: { type: 'string', default: '1' }, one: { type: 'string' } } });

if (args.one === undefined) {
  const from = Number(args.from), to = from + Number(args.seeds);
  let failed = 0;
  for (let seed = from; seed < to; seed++) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--one', String(seed)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0 || /MISMATCH/.test(r.stdout)) {
      failed++;
      console.log(`seed ${seed}: ${r.status === null ? `signal ${r.signal}` : `exit ${r.status}`}\n${r.stdout}${r.stderr.split('\n').slice(-3).join('\n')}`);
    }
  }
  console.log(`${to - from} specs, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

const { native, trainerConfig } = await import('../../dist/src/native.js');
const { buildOnnxModel } = await import('../../dist/src/onnx/graph.js');
const ort = await import('../../dist/src/eval/runtime.js');
let seedState = (Number(args.one) * 2654435761) % 4294967296;
const random = () => (seedState = (seedState * 1664525 + 1013904223) % 4294967296) / 4294967296;
const pick = (a) => a[Math.floor(random() * a.length)];

// a second stream for the run's setting (drawn apart, so that a seed's layers stay those it drew before): a quarter
// of the specs on 28x28 or 33x33 maps, where batch norm's forward phases run in chunks of images; 1-3 threads;
// 2-9 images
let settingState = (Number(args.one) * 40503 + 12345) % 4294967296;
const setting = () => (settingState = (settingState * 1664525 + 1013904223) % 4294967296) / 4294967296;
const large = setting() < 0.25 ? (setting() < 0.5 ? 28 : 33) : 0;
const threads = 1 + Math.floor(setting() * 3), B = 2 + Math.floor(setting() * 8);
const drawnSize = pick([6, 7, 8, 9, 12]), channels = pick([1, 3, 16]);
const size = large || drawnSize;
let shape = [size, size, channels];
const layers = [];
const outputs = []; // [name, shape] of the layers so far, for residual adds
let last = 'input';
const count = 3 + Math.floor(random() * 7);
for (let i = 0; i < count; i++) {
  const name = `l${i}`;
  const filters = pick([4, 8, 16]);
  let layer;
  switch (pick(['conv3', 'conv5', 'conv1', 'down3', 'bn', 'relu', 'pool', 'add', 'dropout'])) {
    case 'conv3': layer = { type: 'conv', kernel: 3, padding: 'same', filters }; shape = [shape[0], shape[1], filters]; break;
    case 'conv5': layer = { type: 'conv', kernel: 5, padding: 'same', filters }; shape = [shape[0], shape[1], filters]; break;
    case 'conv1': layer = { type: 'conv', kernel: 1, filters }; shape = [shape[0], shape[1], filters]; break;
    case 'down3': layer = { type: 'conv', kernel: 3, stride: 2, padding: 'same', filters }; shape = [Math.ceil(shape[0] / 2), Math.ceil(shape[1] / 2), filters]; break;
    case 'bn': layer = { type: 'batchnorm' }; break;
    case 'relu': layer = { type: 'relu' }; break;
    case 'dropout': layer = { type: 'dropout', rate: 0.3 }; break;
    case 'pool':
      if (shape[0] < 2) continue;
      layer = { type: 'maxpool2x2' };
      shape = [Math.floor(shape[0] / 2), Math.floor(shape[1] / 2), shape[2]];
      break;
    case 'add': {
      const same = outputs.filter(([n, s]) => s.join() === shape.join() && n !== last);
      if (!same.length) continue;
      layer = { type: 'add', inputs: [last, pick(same)[0]] };
      break;
    }
  }
  layers.push({ ...layer, name });
  last = name;
  outputs.push([name, [...shape]]);
}
if (!layers.some((l) => l.type === 'conv')) layers.unshift({ type: 'conv', kernel: 3, padding: 'same', filters: 8, name: 'c0' });
layers.push({ type: pick(['globalavgpool', 'flatten']) }, { type: 'dense', units: 3, name: 'head' });
const spec = { name: 'fuzz', input: [size, size, channels], head: 'softmax', layers };
console.log(`${JSON.stringify(spec)}\n${B} images, ${threads} threads`);

const images = Uint8Array.from({ length: B * size * size * channels }, () => Math.floor(random() * 256));
const labels = Uint8Array.from({ length: B }, (_, i) => i % 3);
let reference;
try {
  reference = new native.Trainer(trainerConfig({ spec, seed: 3, threads, dtype: 'float64' }));
} catch (e) {
  console.log(`refused: ${e.message}`); // a spec the engine declines with a message is not a failure
  process.exit(0);
}
// float32 parameters for every tier, float64's too (its own draw is not float32-representable)
const params = Float32Array.from(reference.getParams());
reference.setParams(Float64Array.from(params));
const want = reference.computeGradients(images, labels).gradients;
const relativeRms = (got, from) => {
  let num = 0, den = 0;
  for (let i = 0; i < got.length; i++) {
    num += (got[i] - from[i]) ** 2;
    den += from[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};
// Where float32's rounding puts a max-pool's tie or a ReLU's zero on the other side, the gradients differ by the
// function's kink, not by a kernel's error: then the tier agrees with float64 again at the parameters nudged by a
// relative 1e-5 (up to three draws). The best agreement found, or Infinity.
const agreesNearby = (t, bound) => {
  let best = Infinity;
  for (let k = 1; k <= 3 && !(best < bound); k++) {
    const nudged = Float32Array.from(params, (v, i) => v * (1 + 1e-5 * ((((i + 1) * k * 2654435761) % 2001) / 1000 - 1)));
    reference.setParams(Float64Array.from(nudged));
    t.setParams(nudged);
    best = Math.min(best, relativeRms(t.computeGradients(images, labels).gradients, reference.computeGradients(images, labels).gradients));
  }
  reference.setParams(Float64Array.from(params));
  return best;
};
const isas = ['scalar', 'avx2', 'avx512'].slice(0, ['scalar', 'avx2', 'avx512'].indexOf(native.buildInfo().isa) + 1);
// [name, trainer options, the largest relative rms from float64]: float32 sums in another order; bf16 operands (8
// bits of mantissa) through a few layers
const tiers = [...isas.map((isa) => [isa, { isa }, 1e-3]), ['cuda-emulated', { backend: 'cuda-emulated', conv: 'direct' }, 1e-3]];
if (native.buildInfo().bf16) tiers.push(['bf16', { precision: 'bf16' }, 0.1]);
for (const [tier, options, bound] of tiers) {
  const t = new native.Trainer(trainerConfig({ spec, seed: 3, threads, ...options }));
  t.setParams(params);
  const rel = relativeRms(t.computeGradients(images, labels).gradients, want);
  let verdict = '';
  if (!(rel < bound)) {
    const nearby = agreesNearby(t, bound);
    verdict = nearby < bound ? ` (a tie or kink: ${nearby.toExponential(2)} at parameters nudged by 1e-5)` : ' MISMATCH';
  }
  console.log(`${tier}: gradients ${rel.toExponential(2)} from float64${verdict}`);
  t.dispose();
}

// three RMSprop steps (the batch norms' running statistics move), then the exported model against the engine
const t = new native.Trainer(trainerConfig({ spec, seed: 3, threads }));
t.setParams(params);
for (let step = 0; step < 3; step++) await t.trainStep(images, labels, null, { lr: 0.01, rho: 0.9, epsilon: 1e-7 });
const expected = await t.predict(images);
const { state } = t.getState();
const ckpt = {
  meta: { spec, config: { seed: 3 }, classes: ['a', 'b', 'c'], epoch: 1, step: 3, metrics: {} },
  layout: t.paramLayout(),
  params: t.getParams(),
  stateLayout: native.layout(spec).state,
  state,
};
t.dispose();
const session = await ort.InferenceSession.create(buildOnnxModel(ckpt, { embedPreprocessing: true }));
const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('uint8', images, [B, size, size, channels]) });
const got = out[session.outputNames[0]].data;
await session.release();
const worst = expected.reduce((m, v, i) => Math.max(m, Math.abs(v - got[i])), 0);
console.log(`onnx: max |P_onnxruntime - P_engine| ${worst.toExponential(2)}${worst <= 1e-4 && got.length === expected.length ? '' : ' MISMATCH'}`);
