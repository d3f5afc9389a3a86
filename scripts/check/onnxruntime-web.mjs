#!/usr/bin/env node
// The accuracy of an exported engine model under onnxruntime-web (its WebAssembly build, the one the browser
// demo runs, here in Node), on a folder of class subfolders: the images are listed, decoded and fed by the
// engine's own code, exactly as `engine eval` feeds them (src/eval/feed.ts), so only the runtime differs. The
// predicted class is the argmax of the model's probability output (the first of equal ones) for a softmax
// head, class 1 iff P(class 1) > 0.5 for a sigmoid head.
//
// FOLDER may instead be any dataset `engine eval` reads (IDX files, CelebA's layout) with `--split NAME`: the
// split is read by the engine's own dataset code, as `engine eval NAME --data FOLDER` reads it.
//
// usage: node scripts/check/onnxruntime-web.mjs MODEL.onnx FOLDER [--split NAME] [--json] [--batch N]
// Needs `npm ci` (onnxruntime-web is a devDependency; the engine's dist/ is built by npm ci). Exits 2 on bad input.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { readModelMetadata } = await import(path.join(root, 'dist/src/onnx/model-info.js'));
const { checkFeedable, decodeMany, imageBytes, inputTensor, preprocessOfModel } = await import(path.join(root, 'dist/src/eval/feed.js'));
const { listSplit } = await import(path.join(root, 'dist/src/data/discover.js'));
const { readDataSplit } = await import(path.join(root, 'dist/src/data/dataset.js'));

function fail(message) {
  process.stderr.write(`onnxruntime-web.mjs: ${message}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const at = args.indexOf('--batch');
const batch = at >= 0 ? Number(args[at + 1]) : 32;
const splitAt = args.indexOf('--split');
const split = splitAt >= 0 ? args[splitAt + 1] : undefined;
const [modelFile, folder] = args.filter((a, i) => !a.startsWith('--') && (at < 0 || i !== at + 1) && (splitAt < 0 || i !== splitAt + 1));
if (!modelFile || !folder || (splitAt >= 0 && !split)) fail('usage: node scripts/check/onnxruntime-web.mjs MODEL.onnx FOLDER [--split NAME] [--json] [--batch N]');
if (!Number.isInteger(batch) || batch < 1) fail(`--batch must be a positive whole number, got ${args[at + 1]}`);

let info, listing;
try {
  const bytes = new Uint8Array(await fs.readFile(modelFile));
  info = readModelMetadata(bytes, modelFile);
  checkFeedable(info, modelFile);
  // a split read whole ({classes, labels, images}, preprocessed) or a folder's listing ({classes, labels, files})
  listing = split !== undefined ? await readDataSplit(folder, split, preprocessOfModel(info)) : await listSplit(folder);
} catch (err) {
  fail(err.message);
}
const same = listing.classes.length === info.classes.length && listing.classes.every((c) => info.classes.includes(c));
if (!same) fail(`class folders of ${folder} (${listing.classes.join(', ')}) do not match the model's classes (${info.classes.join(', ')})`);
const labels = Array.from(listing.labels, (l) => info.classes.indexOf(listing.classes[l]));

ort.env.wasm.numThreads = 1;
const session = await ort.InferenceSession.create(await fs.readFile(modelFile));
const predicted = [];
const total = listing.labels.length;
const size = imageBytes(info);
let pixels = new Uint8Array(Math.min(batch, total) * size);
for (let start = 0; start < total; start += batch) {
  const n = Math.min(batch, total - start);
  if (listing.images) pixels = listing.images.subarray(start * size, (start + n) * size);
  else
    try {
      await decodeMany(info, listing.files.slice(start, start + n), pixels);
    } catch (err) {
      fail(err.message);
    }
  const fed = inputTensor(info, pixels, n); // onnxruntime-node's Tensor: its data and dims for the web one
  const out = await session.run({ [info.inputName]: new ort.Tensor(fed.type, fed.data, fed.dims) }, [info.outputName]);
  const p = out[info.outputName].data;
  const k = p.length / n;
  for (let i = 0; i < n; i++) {
    if (info.head === 'sigmoid') {
      predicted.push(p[i] > 0.5 ? 1 : 0);
      continue;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
    predicted.push(best);
  }
}
await session.release();
const correct = predicted.filter((p, i) => p === labels[i]).length;
const result = {
  onnxruntimeWeb: ort.env.versions.web,
  model: modelFile,
  folder,
  images: predicted.length,
  correct,
  accuracy: correct / predicted.length,
  predicted: predicted.map((p) => info.classes[p]),
  files: listing.files ? listing.files.map((f) => path.relative(path.resolve(folder), f)) : listing.ids,
};
if (json) process.stdout.write(JSON.stringify(result) + '\n');
else
  process.stdout.write(
    `onnxruntime-web ${result.onnxruntimeWeb} (wasm): accuracy ${(result.accuracy * 100).toFixed(2)}% (${correct}/${result.images}) of ${modelFile} on ${folder}\n`,
  );
