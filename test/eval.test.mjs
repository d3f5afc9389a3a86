// `engine eval`: the same report from a checkpoint (exported in memory) and from its exported file, the
// accuracy the trainer measured for the same weights, the seed's report lines, and the error paths.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { train } from '../dist/src/workflows/train.js';
import { loadCheckpoint } from '../dist/src/store/checkpoint.js';
import { parseHistoryCsv } from '../dist/src/store/history.js';
import { buildOnnxModel } from '../dist/src/onnx/graph.js';
import { evaluate, formatReport } from '../dist/src/eval/evaluate.js';
import { listSplit } from '../dist/src/data/discover.js';
import { loadSplit } from '../dist/src/data/decode.js';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { rejectsInput, runCli, smallDataset, tempDir } from './helpers.mjs';

const { onnx } = onnxProto;

// Shared by the tests: a run of 2 epochs on 16 images (validated on 8) and its exported model.
const cleanups = [];
const suite = { after: (fn) => cleanups.push(fn) };
after(() => Promise.all(cleanups.map((fn) => fn())));
let data, dir, runDir, last, modelFile;
before(async () => {
  data = await smallDataset(suite);
  dir = await tempDir(suite);
  runDir = path.join(dir, 'run');
  await train({ data, epochs: 2, batchSize: 8, seed: 5, out: runDir });
  last = path.join(runDir, 'last.safetensors');
  modelFile = path.join(dir, 'model.onnx');
  await fs.writeFile(modelFile, buildOnnxModel(await loadCheckpoint(last)));
});

/** The report without what legitimately differs between two runs of it. */
function figures(report) {
  const { model, seconds, decodeAndInferSeconds, ...rest } = report;
  assert.ok(seconds > 0 && decodeAndInferSeconds > 0 && decodeAndInferSeconds <= seconds);
  return rest;
}

test('--weights (in memory) and --model (the exported file) give the same report; accuracy = the trainer\'s val_acc', async () => {
  const viaWeights = await runCli(['eval', 'val', '--data', data, '--weights', last, '--json']);
  assert.equal(viaWeights.code, 0, viaWeights.stderr);
  const viaModel = await runCli(['eval', 'val', '--data', data, '--model', modelFile, '--json']);
  assert.equal(viaModel.code, 0, viaModel.stderr);
  const a = JSON.parse(viaWeights.stdout);
  const b = JSON.parse(viaModel.stdout);
  assert.deepEqual(figures(a), figures(b));
  assert.equal(a.model.source, `in-memory from ${last}`);
  assert.equal(b.model.source, modelFile);
  assert.equal(a.curves, undefined, 'curves only with --curves');
  // a model that takes raw uint8 NHWC pixels and scales them itself scores the same
  const embedded = path.join(dir, 'embedded.onnx');
  await fs.writeFile(embedded, buildOnnxModel(await loadCheckpoint(last), { embedPreprocessing: true }));
  const viaEmbedded = await evaluate({ target: 'val', data, model: embedded });
  assert.equal(viaEmbedded.model.dtype, 'uint8');
  assert.deepEqual(JSON.parse(JSON.stringify(figures(viaEmbedded))), { ...figures(a), curves: JSON.parse(JSON.stringify(viaEmbedded.curves)) });

  assert.equal(a.dataset, 'val');
  assert.equal(a.images, 8);
  assert.deepEqual(a.classes, ['man', 'woman']);
  const history = parseHistoryCsv(await fs.readFile(path.join(runDir, 'history.csv'), 'utf8'));
  assert.equal(a.correct, Math.round(history.at(-1).val_acc * 8), `eval ${a.correct}/8, trainer val_acc ${history.at(-1).val_acc}`);
  assert.equal(a.accuracy, a.correct / 8);
  const [[tn, fp], [fn, tp]] = a.confusion.matrix;
  assert.equal(tn + tp, a.correct);
  assert.equal(fp + fn, a.misclassified.length);
  for (const m of a.misclassified) {
    assert.equal(m.predicted === 'woman', m.score > 0.5);
    assert.equal(m.probability, m.predicted === 'woman' ? m.score : 1 - m.score);
  }
  // ROC AUC computed here from the native engine's own scores for the same weights and images: the share of
  // (woman, man) pairs ranked right, ties half. Pairs closer than the ONNX/engine difference (2e-6, see
  // onnx-export.test.mjs) could rank either way, so they bound the value instead of fixing it.
  const set = await loadSplit(await listSplit(path.join(data, 'val')));
  const trainer = new native.Trainer(trainerConfig({ spec: SEED7, seed: 1, threads: 1 }));
  trainer.setParams((await loadCheckpoint(last)).params);
  const p = await trainer.predict(set.images);
  trainer.dispose();
  const pos = [...p].filter((_, i) => set.labels[i] === 1);
  const neg = [...p].filter((_, i) => set.labels[i] === 0);
  let sure = 0;
  let unsure = 0;
  for (const x of pos)
    for (const y of neg) {
      if (Math.abs(x - y) <= 2e-6) unsure++;
      else if (x > y) sure++;
    }
  const pairs = pos.length * neg.length;
  assert.equal(pairs, 16);
  assert.ok(a.rocAuc >= sure / pairs && a.rocAuc <= (sure + unsure) / pairs, `rocAuc ${a.rocAuc}, engine scores give [${sure / pairs}, ${(sure + unsure) / pairs}]`);
  if (unsure === 0) assert.equal(a.rocAuc, sure / pairs);
  assert.ok(unsure <= 2, `${unsure} of 16 pairs too close to call: the check would say little`);
  assert.equal(a.mAP, (a.averagePrecision.man + a.averagePrecision.woman) / 2);
});

test('the text report leads with accuracy, AP per class, mean AP and AUC; the seed\'s lines only with --seed-report', async () => {
  const r = await runCli(['eval', 'val', '--data', data, '--weights', last, '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  const report = await evaluate({ target: 'val', data, weights: last, threads: 1 });
  const lines = r.stdout.split('\n');
  const pct = (x) => `${(x * 100).toFixed(2)}%`;
  assert.deepEqual(lines.slice(0, 5), [
    'evaluation of val: 8 images, 2 classes (man, woman)',
    `accuracy:    ${pct(report.accuracy)}  (${report.correct}/8; 95% interval ${(report.accuracyInterval[0] * 100).toFixed(1)}% to ${(report.accuracyInterval[1] * 100).toFixed(1)}%; predicted woman iff P(woman) > 0.5)`,
    `AP(man):     ${pct(report.rankedAveragePrecision.man)}`,
    `AP(woman):   ${pct(report.rankedAveragePrecision.woman)}`,
    `mean AP:     ${pct(report.rankedMAP)}  (mean of the 2 classes' AP; sklearn's tie-grouped AP is in --json)`,
  ]);
  assert.equal(lines[5], `ROC AUC:     ${report.rocAuc.toFixed(4)}`);
  for (const label of ['confusion matrix', 'precision', 'misclassified:']) assert.ok(r.stdout.includes(label), `no '${label}' in\n${r.stdout}`);
  assert.doesNotMatch(r.stdout, /mAP/, 'the seed\'s "mAP" (the accuracy) only with --seed-report');
  // the CLI prints formatReport's text; only the closing time line differs between two runs
  const untimed = (text) => text.replace(/\ntime: .*\n$/, '');
  assert.equal(untimed(r.stdout), untimed(formatReport(report)));
  assert.match(r.stdout, /\ntime: \d+\.\d\d s to decode and classify 8 images/);

  // --seed-report: the seed's lines (its gender_mAP.py's), then the same report
  const seed = await runCli(['eval', 'val', '--data', data, '--weights', last, '--threads', '1', '--seed-report']);
  assert.equal(seed.code, 0, seed.stderr);
  assert.deepEqual(seed.stdout.split('\n').slice(0, 5), [
    'mAP report',
    'Evaluation dataset: val',
    `${report.correct} images correctly predicted among 8 evaluation images`,
    `mAP(%): ${(report.accuracy * 100).toFixed(2)}`,
    '******************',
  ]);
  assert.equal(untimed(seed.stdout.split('\n').slice(7).join('\n')), untimed(r.stdout));
});

test('--curves, --threshold and a folder given as a path', async () => {
  const r = await runCli(['eval', path.join(data, 'val'), '--weights', last, '--json', '--curves', '--threshold', '0']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.dataset, 'val');
  assert.equal(report.threshold, 0);
  assert.equal(report.correct, 4, 'with threshold 0 every image is a woman: 4 of 8 right');
  // one-vs-rest curves of each class
  assert.deepEqual(Object.keys(report.curves), ['man', 'woman']);
  assert.deepEqual(report.curves.woman.roc[0], { fpr: 0, tpr: 0, threshold: null });
  assert.deepEqual(report.curves.woman.roc.at(-1).fpr, 1);
  assert.equal(report.curves.woman.pr.at(-1).recall, 1);
  assert.equal(report.curves.man.pr.at(-1).recall, 1);
});

test('with neither --model nor --weights, the newest run under ./runs is used', async (t) => {
  const cwd = await tempDir(t);
  const none = await runCli(['eval', 'val', '--data', data], { cwd });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no model given.*--model.*--weights/);

  await fs.mkdir(path.join(cwd, 'runs', 'old'), { recursive: true });
  await fs.mkdir(path.join(cwd, 'runs', 'new'), { recursive: true });
  await fs.writeFile(path.join(cwd, 'runs', 'old', 'run.json'), JSON.stringify({ started: '2020-01-01T00:00:00Z' }));
  await fs.writeFile(path.join(cwd, 'runs', 'old', 'model.onnx'), 'not a model');
  await fs.writeFile(path.join(cwd, 'runs', 'new', 'run.json'), JSON.stringify({ started: '2030-01-01T00:00:00Z' }));
  await fs.copyFile(last, path.join(cwd, 'runs', 'new', 'best.safetensors'));
  const r = await runCli(['eval', 'val', '--data', data, '--json'], { cwd });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).model.source, `in-memory from ${path.join(cwd, 'runs', 'new', 'best.safetensors')}`);
});

/** Runs eval with `args`, expects exit 2 and a one-line message matching every pattern. */
async function failsWith(args, ...patterns) {
  const r = await runCli(['eval', ...args]);
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const msg = r.stderr.trim();
  assert.equal(msg.split('\n').length, 1, `expected one line, got:\n${msg}`);
  for (const p of patterns) assert.match(msg, p);
}

test('a missing model, both model flags, a missing split, --gpu without CUDA: exit 2 with the reason', async () => {
  await failsWith(['val', '--data', data, '--model', path.join(dir, 'nope.onnx')], /model not found/, /nope\.onnx/);
  await failsWith(['val', '--data', data, '--model', modelFile, '--weights', last], /either --model .* or --weights/);
  await failsWith(['test', '--data', data, '--weights', last], /no split 'test'/);
  // --gpu without the CUDA provider's files: says why and how to get them
  await failsWith(
    ['val', '--data', data, '--weights', last, '--gpu'],
    /CUDA/,
    /"allowScripts": {"onnxruntime-node": false}/,
    /ONNXRUNTIME_NODE_INSTALL=1 node \S*node_modules\/onnxruntime-node\/script\/install\.js/,
    /CUDA 12 with cuDNN 9/,
    /without --gpu/,
  );
  await failsWith(['val', '--data', data, '--weights', last, '--batch-size', '0'], /--batch-size/);
  await failsWith(['val', '--data', data, '--weights', last, '--threshold', '2'], /--threshold/);
});

test('a model whose input shape disagrees with its metadata is refused', async (t) => {
  const model = onnx.ModelProto.decode(await fs.readFile(modelFile));
  const dims = model.graph.input[0].type.tensorType.shape.dim;
  dims[2].dimValue = 32;
  dims[3].dimValue = 32;
  const bad = path.join(await tempDir(t), 'small-input.onnx');
  await fs.writeFile(bad, onnx.ModelProto.encode(model).finish());
  await rejectsInput(evaluate({ target: 'val', data, model: bad }), 'small-input.onnx', 'shape', '32');
  await failsWith(['val', '--data', data, '--model', bad], /shape \[N,3,32,32\]/);
});

test('a folder without images, an unreadable image, other classes: InputError naming the path', async (t) => {
  const root = await tempDir(t);
  const empty = path.join(root, 'empty');
  await fs.mkdir(path.join(empty, 'man'), { recursive: true });
  await fs.mkdir(path.join(empty, 'woman'), { recursive: true });
  await rejectsInput(evaluate({ target: empty, weights: last }), 'empty class folder', 'man');

  const broken = path.join(root, 'broken');
  await fs.cp(path.join(data, 'val'), broken, { recursive: true });
  const victim = path.join(broken, 'woman', (await fs.readdir(path.join(broken, 'woman')))[0]);
  await fs.writeFile(victim, 'this is not a JPEG');
  await rejectsInput(evaluate({ target: broken, weights: last }), 'cannot decode image', victim);

  const pets = path.join(root, 'pets');
  await fs.cp(path.join(data, 'val', 'man'), path.join(pets, 'cat'), { recursive: true });
  await fs.cp(path.join(data, 'val', 'woman'), path.join(pets, 'dog'), { recursive: true });
  await rejectsInput(evaluate({ target: pets, weights: last }), 'cat, dog', 'man, woman');
});

test('--threads has the bounds of training: [1, 256], the same message; refused before any image is read', async () => {
  const { predict } = await import('../dist/src/predict/predict.js');
  const { UsageError } = await import('../dist/src/errors.js');
  for (const n of ['99999999', '257', '0']) {
    await failsWith(['val', '--data', data, '--model', modelFile, '--threads', n], new RegExp(`^engine: --threads must be an integer in \\[1, 256\\], got ${n}$`));
    const p = await runCli(['predict', path.join(data, 'val'), '--model', modelFile, '--threads', n]);
    assert.equal(p.code, 2, p.stderr);
    assert.equal(p.stderr.trim(), `engine: --threads must be an integer in [1, 256], got ${n}`, 'refused before the (folder) image is read');
  }
  await assert.rejects(evaluate({ target: 'val', data, model: modelFile, threads: 1e8 }), UsageError);
  await assert.rejects(predict({ images: ['missing.jpg'], model: modelFile, threads: 1e8 }), UsageError);
  const { threadsOption, MAX_THREADS } = await import('../dist/src/options/checks.js');
  assert.equal(MAX_THREADS, 256);
  assert.equal(threadsOption(256, 2), 256);
  assert.equal(threadsOption(undefined, 2), 2);
});
