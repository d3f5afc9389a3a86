// The library as a user imports it: `from 'small-cnn-engine'` (the package's own exports), docs/library.md's example
// (examples/library.mjs) run end to end, and the progress callbacks of evaluate and predict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ROOT, runCli, runNode, smallDataset, tempDir } from './helpers.mjs';

test("`import ... from 'small-cnn-engine'` gives the typed library: train, exportOnnx, evaluate, predict, fetchDataset", async () => {
  const lib = await import('small-cnn-engine');
  for (const name of ['train', 'exportOnnx', 'evaluate', 'predict', 'formatReport', 'fetchDataset', 'writeModelCard', 'wilsonInterval', 'listSplit'])
    assert.equal(typeof lib[name], 'function', name);
  const dts = await fs.readFile(path.join(ROOT, 'dist/src/index.d.ts'), 'utf8');
  for (const type of ['TrainEvents', 'EvalOptions', 'PredictOptions', 'ExportOptions', 'FetchOptions']) assert.ok(dts.includes(type), type);
});

test('examples/library.mjs trains, exports with a model card, evaluates with progress and predicts like the CLI', async (t) => {
  const data = await smallDataset(t);
  const out = path.join(await tempDir(t), 'run');
  const r = await runNode(['examples/library.mjs', data, '2', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^epoch 1: val_acc \d\.\d{4}\nepoch 2: val_acc \d\.\d{4}\n/);
  assert.ok(r.stdout.includes(`exported ${out}/model.onnx; model card ${out}/MODEL_CARD.md`), r.stdout);
  assert.match(r.stdout, /evaluation of val: 8 images, 2 classes \(man, woman\)\naccuracy: +\d+\.\d\d% +\(\d+\/8; 95% interval /);
  assert.match(r.stderr, /classified 8\/8/);
  const predicted = r.stdout.trim().split('\n').at(-1);
  const first = path.join(data, 'val', 'man', (await fs.readdir(path.join(data, 'val', 'man'))).sort()[0]);
  const cli = await runCli(['predict', first, '--model', path.join(out, 'model.onnx')]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(predicted, cli.stdout.trim());
});

test('evaluate and predict report progress after each batch', async (t) => {
  const { evaluate, predict, train } = await import('small-cnn-engine');
  const data = await smallDataset(t, { train: { man: 4, woman: 4 }, val: { man: 6, woman: 5 } });
  const run = await train({ data, epochs: 1, seed: 2, out: path.join(await tempDir(t), 'run'), saveEvery: 0 });
  const weights = path.join(run.runDir, 'best.safetensors');
  const seen = [];
  const report = await evaluate({ target: 'val', data, weights, batchSize: 4, onProgress: (d, n) => seen.push([d, n]) });
  assert.equal(report.images, 11);
  assert.deepEqual(seen, [[4, 11], [8, 11], [11, 11]]);
  const heard = [];
  const files = (await fs.readdir(path.join(data, 'val', 'woman'))).map((f) => path.join(data, 'val', 'woman', f));
  await predict({ images: files, weights, onProgress: (d, n) => heard.push([d, n]) });
  assert.deepEqual(heard, [[4, 5], [5, 5]], 'batches of 4 faces by default (autoBatchSize)');
});

test("train's events come in order: decode progress per split, then per epoch onEpochStart, onBatch per step, onEpoch", async (t) => {
  const { train } = await import('small-cnn-engine');
  const data = await smallDataset(t, { train: { man: 3, woman: 2 }, val: { man: 1, woman: 1 } });
  const dir = await tempDir(t);
  const calls = [];
  const logs = [];
  const events = {
    onLog: (line) => logs.push(line),
    onDecodeProgress: (...a) => calls.push(['decode', ...a]),
    onEpochStart: (...a) => calls.push(['epochStart', ...a]),
    onBatch: (...a) => calls.push(['batch', ...a]),
    onEpoch: (r) => calls.push(['epoch', r]),
  };
  const run = await train({ data, epochs: 2, batchSize: 2, seed: 4, threads: 1, saveEvery: 0, out: path.join(dir, 'run') }, events);
  // losses are checked below; the shape of the sequence first
  const shape = calls.map(([kind, ...a]) => (kind === 'batch' ? [kind, a[0], a[1], a[2]] : kind === 'epoch' ? [kind, a[0].epoch] : [kind, ...a]));
  assert.deepEqual(shape, [
    ['decode', 'train', 1, 5], ['decode', 'train', 2, 5], ['decode', 'train', 3, 5], ['decode', 'train', 4, 5], ['decode', 'train', 5, 5],
    ['decode', 'val', 1, 2], ['decode', 'val', 2, 2],
    ['epochStart', 1, 2, 3], ['batch', 1, 1, 3], ['batch', 1, 2, 3], ['batch', 1, 3, 3], ['epoch', 1],
    ['epochStart', 2, 2, 3], ['batch', 2, 1, 3], ['batch', 2, 2, 3], ['batch', 2, 3, 3], ['epoch', 2],
  ]);
  // onBatch's loss is the running mean of the epoch: after its last step, the epoch's training loss
  for (const epoch of [1, 2]) {
    const losses = calls.filter(([k, e]) => k === 'batch' && e === epoch).map((c) => c[4]);
    assert.ok(losses.every((l) => Number.isFinite(l) && l > 0), `${losses}`);
    assert.equal(losses.at(-1), run.history[epoch - 1].loss);
  }
  assert.deepEqual(calls.filter(([k]) => k === 'epoch').map(([, r]) => r), run.history);
  assert.ok(logs.some((l) => l === 'data: 5 train and 2 val images, classes 0=man 1=woman'), logs.join('\n'));
  assert.ok(logs.some((l) => l.startsWith(`run directory: ${path.join(dir, 'run')} (seed 4, 1 threads,`)), logs.join('\n'));

  // through the on-disk cache the decode progress comes per chunk of the build (here one), and not at all on reuse
  const cacheDir = path.join(dir, 'cache');
  const cached = [];
  await train({ data, epochs: 1, batchSize: 2, seed: 4, threads: 1, saveEvery: 0, out: path.join(dir, 'c1'), cacheDir }, { onDecodeProgress: (...a) => cached.push(a) });
  assert.deepEqual(cached, [['train', 5, 5], ['val', 2, 2]]);
  cached.length = 0;
  await train({ data, epochs: 1, batchSize: 2, seed: 4, threads: 1, saveEvery: 0, out: path.join(dir, 'c2'), cacheDir }, { onDecodeProgress: (...a) => cached.push(a) });
  assert.deepEqual(cached, []);
});

test('predict takes encoded images in memory; loadModel() opens one session that serves many predict/evaluate calls', async (t) => {
  const { evaluate, loadModel, predict, train, InputError, UsageError } = await import('small-cnn-engine');
  const data = await smallDataset(t, { train: { man: 3, woman: 3 }, val: { man: 2, woman: 2 } });
  const run = await train({ data, epochs: 1, seed: 4, out: path.join(await tempDir(t), 'run'), saveEvery: 0 });
  const weights = path.join(run.runDir, 'last.safetensors');
  const dir = path.join(data, 'val', 'woman');
  const files = (await fs.readdir(dir)).sort().map((f) => path.join(dir, f));
  const byFile = await predict({ images: files, weights });
  assert.deepEqual(byFile.map((p) => [p.file, p.index]), files.map((f, i) => [f, i]));
  const model = await loadModel({ weights });
  try {
    // a Buffer, a Uint8Array view inside a larger buffer, an ArrayBuffer: the same scores as the files
    const bytes = await fs.readFile(files[0]);
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes, 4);
    const second = await fs.readFile(files[1]);
    const inputs = [bytes, padded.subarray(4, 4 + bytes.length), second.buffer.slice(second.byteOffset, second.byteOffset + second.length)];
    const inMemory = await predict({ images: inputs, model });
    assert.deepEqual(inMemory.map((p) => [p.file, p.index, p.scores]), [[undefined, 0, byFile[0].scores], [undefined, 1, byFile[0].scores], [undefined, 2, byFile[1].scores]]);
    // the same session again, and for evaluate
    assert.deepEqual((await predict({ images: files, model })).map((p) => p.scores), byFile.map((p) => p.scores));
    const report = await evaluate({ target: 'val', data, model });
    assert.equal(report.images, 4);
    // bytes that are no image, and something that is neither a path nor bytes: named by their place in images
    await assert.rejects(predict({ images: [files[0], Buffer.from('not an image')], model }), (e) => e instanceof InputError && /images\[1\]/.test(e.message));
    await assert.rejects(predict({ images: [42], model }), (e) => e instanceof InputError && /images\[0\]: expected a file path, a Buffer/.test(e.message));
    // annotated copies are of files only
    await assert.rejects(predict({ images: [bytes], model, annotate: path.join(data, 'a.jpg') }), (e) => e instanceof UsageError && /images\[0\] is not a file path/.test(e.message));
  } finally {
    await model.close();
  }
});

test('train() stops at the next step when its AbortSignal fires; the run resumes from its newest checkpoint', async (t) => {
  const { train } = await import('small-cnn-engine');
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = path.join(await tempDir(t), 'run');
  const controller = new AbortController();
  const steps = [];
  const options = { data, epochs: 3, batchSize: 2, seed: 6, threads: 1, out, saveEvery: 1 };
  const events = {
    signal: controller.signal,
    onBatch: (epoch, batch) => {
      steps.push([epoch, batch]);
      if (epoch === 2 && batch === 1) controller.abort();
    },
  };
  await assert.rejects(train(options, events), (e) => e.name === 'Interrupted' && /interrupted by an abort in epoch 2/.test(e.message));
  // the step that saw the abort was the last one: epoch 2 was dropped, epoch 1 is checkpointed
  assert.deepEqual(steps, [[1, 1], [1, 2], [2, 1]]);
  const record = JSON.parse(await fs.readFile(path.join(out, 'run.json'), 'utf8'));
  assert.equal(record.status, 'interrupted');
  assert.equal(record.epochsDone, 1);
  const resumed = await train({ resume: out });
  assert.deepEqual(resumed.history.map((h) => h.epoch), [1, 2, 3]);
  // an already aborted signal: nothing starts
  await assert.rejects(train({ ...options, out: path.join(out, '..', 'other') }, { signal: AbortSignal.abort() }), (e) => e.name === 'Interrupted');
  await assert.rejects(fs.stat(path.join(out, '..', 'other')), { code: 'ENOENT' });
});

test("library errors name options as the API spells them (options.batchSize), keep commands' flags; the example prints one line", async (t) => {
  const { train, evaluate, UsageError } = await import('small-cnn-engine');
  const { apiWording } = await import('../dist/src/api-errors.js');
  const { TRAIN_OPTIONS } = await import('../dist/src/options/train.js');
  const refused = async (call, message) =>
    assert.rejects(call(), (e) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.equal(e.message, message);
      return true;
    });
  await refused(() => train({ data: '/nonexistent', batchSize: 0 }), 'options.batchSize must be an integer in [1, 65536], got 0');
  const dir = await tempDir(t);
  await fs.writeFile(path.join(dir, 'x'), '');
  await refused(() => train({ data: '/nonexistent', out: dir }), `options.out ${dir} already exists and is not empty: choose a new folder`);
  await refused(() => evaluate({ target: 'val', model: 'a.onnx', weights: 'b.safetensors' }), 'give either options.model (an .onnx file) or options.weights (a checkpoint), not both');
  // --no-x is the option set to false; flags of other tables and those inside a command stay
  assert.equal(
    apiWording('without --data and --no-fetch, --json: run engine data fetch --dest ./data --url <archive>; or --save-every', TRAIN_OPTIONS),
    'without options.data and --no-fetch, --json: run engine data fetch --dest ./data --url <archive>; or options.saveEvery',
  );
  // the example, run where there is no data: one line naming the folder, exit 2, no stack trace
  const r = await runNode([path.join(ROOT, 'examples/library.mjs'), path.join(dir, 'missing')], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^library example: .*missing/);
});
