#!/usr/bin/env node
// Times the whole `engine eval` command (node start-up, model, decode/resize, onnxruntime, report) on the seed's
// 575 faces (`eval all`) and on Fashion-MNIST's 10,000 test images (`eval test`), median of --runs, against its
// peer: onnxruntime-node alone on the same images already preprocessed, in the same run (the floor `eval` can
// approach: what is left is start-up, decoding and the report). Prints seconds, images/s and the ratio.
//
//   node scripts/bench/eval.mjs [--runs 5] [--threads 2] [--celeba DIR] [--fmnist DIR] [--fmnist-model F.onnx] [--json]
// Without --fmnist-model it trains fmnist-cnn for 1 epoch (seed 1) to have one; the seed's model is imported from
// ../shared/seed/keras/weights70.h5.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { InferenceSession } from '../../dist/src/eval/runtime.js';
import { listDataSplit } from '../../dist/src/data/dataset.js';
import { readDataSplit } from '../../dist/src/data/dataset.js';
import { decodeMany, inputTensor, preprocessOfModel } from '../../dist/src/eval/feed.js';
import { loadModelInfo } from '../../dist/src/eval/model-source.js';
import { autoBatchSize } from '../../dist/src/options/eval.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist/src/cli.js');
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    celeba: { type: 'string', default: path.join(root, '../shared/data/celeba-575') },
    fmnist: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    'fmnist-model': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(args.runs);
const threads = Number(args.threads);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'engine-bench-eval-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];

function engine(argv, quiet = false) {
  const r = spawnSync(process.execPath, [cli, ...argv], { cwd: work, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`engine ${argv.join(' ')}: exit ${r.status}\n${r.stderr}`);
  if (!quiet) process.stderr.write(r.stderr);
  return r.stdout;
}

/** Median wall seconds of `engine ...argv` over `runs` runs, and its --json report. */
function timeCommand(argv) {
  const seconds = [];
  let report;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    report = JSON.parse(engine([...argv, '--json'], true));
    seconds.push((performance.now() - t0) / 1000);
  }
  return { seconds: median(seconds), all: seconds, report };
}

/** Median seconds of onnxruntime alone scoring `pixels` (preprocessed, [n, H, W, C] uint8) in eval's batches. */
async function timeRuntime(model, pixels, n) {
  const info = await loadModelInfo(model);
  const session = await InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const per = info.height * info.width * info.channels;
  const batch = autoBatchSize(info);
  const seconds = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    for (let s = 0; s < n; s += batch) {
      const k = Math.min(batch, n - s);
      await session.run({ [info.inputName]: inputTensor(info, pixels.subarray(s * per, (s + k) * per), k) });
    }
    seconds.push((performance.now() - t0) / 1000);
  }
  await session.release();
  return median(seconds);
}

const rows = [];
try {
  // the seed's model, and the 575 faces decoded as eval decodes them
  const weights = path.join(work, 'seed70.safetensors');
  const seedModel = path.join(work, 'seed70.onnx');
  engine(['import', 'keras', path.join(root, '../shared/seed/keras/weights70.h5'), '-o', weights], true);
  engine(['export', 'onnx', '--weights', weights, '-o', seedModel, '--no-card'], true);
  const faces = await listDataSplit(args.celeba, 'all');
  const seedInfo = await loadModelInfo(seedModel);
  const facePixels = new Uint8Array(faces.files.length * seedInfo.height * seedInfo.width * seedInfo.channels);
  await decodeMany(seedInfo, faces.files, facePixels);
  const face = timeCommand(['eval', 'all', '--data', args.celeba, '--model', seedModel, '--threads', String(threads)]);
  rows.push({ name: 'eval all (575 faces, seed7)', images: face.report.images, ...face, runtime: await timeRuntime(seedModel, facePixels, faces.files.length) });

  // a Fashion-MNIST model and the test split's IDX bytes
  let fmModel = args['fmnist-model'];
  if (!fmModel) {
    engine(['train', '--data', args.fmnist, '--arch', 'fmnist-cnn', '--epochs', '1', '--seed', '1', '--out', path.join(work, 'fm'), '--quiet', '--save-every', '0']);
    engine(['export', 'onnx', '--weights', path.join(work, 'fm', 'last.safetensors'), '--no-card'], true);
    fmModel = path.join(work, 'fm', 'model.onnx');
  }
  const fmInfo = await loadModelInfo(fmModel);
  const test = await readDataSplit(args.fmnist, 'test', preprocessOfModel(fmInfo));
  const fm = timeCommand(['eval', 'test', '--data', args.fmnist, '--model', fmModel, '--threads', String(threads)]);
  rows.push({ name: 'eval test (Fashion-MNIST, fmnist-cnn)', images: fm.report.images, ...fm, runtime: await timeRuntime(fmModel, test.images, test.size) });
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

if (args.json) process.stdout.write(JSON.stringify(rows.map(({ report: _r, ...row }) => row)) + '\n');
else {
  console.log(`engine eval, whole command (median of ${runs}), against onnxruntime-node alone on preprocessed images; ${threads} threads, ${os.cpus().length} cores`);
  for (const r of rows)
    console.log(
      `${r.name}: ${r.seconds.toFixed(2)} s (${(r.images / r.seconds).toFixed(0)} images/s; runs ${r.all.map((s) => s.toFixed(2)).join(' ')}); ` +
        `onnxruntime alone ${r.runtime.toFixed(2)} s (${(r.images / r.runtime).toFixed(0)} images/s); ratio ${(r.seconds / r.runtime).toFixed(2)}x`,
    );
}
