// The README's promise for every command: bad input is one line on stderr naming the input, exit 2, no stack
// trace. Each command runs with a repeated flag, a flag without a value, a non-decimal number, a non-regular
// file (a character device, a FIFO: either would be read forever), a model with a NaN weight and malformed
// checkpoints (test/checkpoint-header.test.mjs checks the checkpoint header field by field).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { encodeCheckpoint } from '../dist/src/store/checkpoint.js';
import { CELEBA, runCli, smallDataset, tempDir } from './helpers.mjs';
import { editHeader, freshCheckpoint, withWeight, writeHostileModels } from './hostile-files.mjs';

const FACE = path.join(CELEBA, 'train', 'man', '121211.jpg');

let dir;
let data;
let f;
let resumeNan;
let resumeOverlap;

/** A run folder as a killed run leaves it (no epoch done yet beyond its checkpoint), whose last.safetensors is `ckptBytes`. */
async function runFolder(name, ckptBytes) {
  const run = path.join(dir, name);
  await fs.mkdir(run);
  const record = { status: 'interrupted', config: { arch: 'seed7', seed: 1, epochs: 3, data }, dataset: { train: 2, val: 2 }, classes: ['man', 'woman'] };
  await fs.writeFile(path.join(run, 'run.json'), JSON.stringify(record));
  await fs.writeFile(path.join(run, 'last.safetensors'), ckptBytes);
  return run;
}

const cleanups = [];
after(() => Promise.all(cleanups.map((fn) => fn())));

before(async () => {
  const t = { after: (fn) => cleanups.push(fn) };
  dir = await tempDir(t);
  data = await smallDataset(t, { train: { man: 1, woman: 1 }, val: { man: 1, woman: 1 } });
  f = await writeHostileModels(dir);
  const resumable = freshCheckpoint({ optimizer: true });
  resumeNan = await runFolder('nan-run', encodeCheckpoint(withWeight(resumable)));
  resumeOverlap = await runFolder('overlap-run', editHeader(encodeCheckpoint(resumable), (h) => void (h['conv1.bias'].data_offsets = [0, 128])));
});

/** Runs every case, three at a time; each must exit 2 with one line naming its input and no stack trace. */
async function expectAll(cases) {
  const failures = [];
  const queue = [...cases];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      const [args, ...names] = c;
      const r = await runCli(args, { cwd: dir });
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning: '));
      const problems = [];
      if (r.code !== 2) problems.push(`exit ${r.code}`);
      if (lines.length !== 1 || !lines[0].startsWith('engine: ')) problems.push('not one "engine: " line');
      if (/\n\s+at \S+ \(|internal error/.test(r.stderr)) problems.push('a stack trace or an internal error');
      for (const n of names) if (!r.stderr.includes(n)) problems.push(`does not name ${JSON.stringify(n)}`);
      if (problems.length) failures.push(`engine ${args.join(' ')}: ${problems.join(', ')}\n${r.stderr}`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(failures, []);
}

test('every command: a repeated single-valued flag, a flag without a value, a number that is not decimal', async () => {
  await expectAll([
    [['train', '--data', data, '--out', 'a', '--out', 'b'], '--out', '"a", "b"'],
    [['import', 'keras', 'w.h5', '--out', 'a', '--out', 'b'], '--out'],
    [['labels', data, '--out', 'a', '--out', 'b'], '--out'],
    [['export', 'onnx', '--weights', f['good.safetensors'], '--out', 'a.onnx', '--out', 'b.onnx'], '--out'],
    [['eval', 'val', '--data', data, '--model', f['good.onnx'], '--model', f['good.onnx']], '--model'],
    [['predict', FACE, '--threshold', '0.2', '--threshold', '0.3'], '--threshold'],
    [['data', 'fetch', '--dest', 'a', '--dest', 'b'], '--dest'],
    [['serve-demo', '--port', '0', '--port', '1'], '--port'],
    [['info', '--plan', '--arch', 'seed7', '--arch', 'seed5'], '--arch'],

    [['train', '--data', data, '--epochs'], '--epochs', 'without a value'],
    [['train', '--data', data, '--out', ''], '--out', 'without a value'],
    [['import', 'keras', ''], 'WEIGHTS', 'without a value'],
    [['labels', data, '--out', ''], '--out'],
    [['export', 'onnx', '--weights', ''], '--weights'],
    [['eval', 'val', '--data', data, '--model', f['good.onnx'], '--html', ''], '--html', 'without a value'],
    [['eval', ''], 'TARGET'],
    [['predict', FACE, '--model', f['good.onnx'], '--annotate', ''], '--annotate'],
    [['predict', FACE, ''], 'IMAGES'],
    [['data', 'fetch', '--url', ''], '--url'],
    [['serve-demo', '--model', f['good.onnx'], '--host', ''], '--host'],
    [['info', '--plan', '--arch'], '--arch'],

    [['train', '--data', data, '--lr', '0x10'], '--lr', '0x10'],
    [['train', '--data', data, '--epochs', '0x10'], '--epochs', '0x10'],
    [['eval', 'val', '--data', data, '--model', f['good.onnx'], '--threshold', '0b1'], '--threshold', '0b1'],
    [['serve-demo', '--model', f['good.onnx'], '--port', '0o17'], '--port', '0o17'],
    [['eval', 'val', '--data', data, '--model', f['good.onnx'], '--threshold', 'Infinity'], '--threshold'],
  ]);
});

test('every command that reads a file: a character device or a FIFO is refused as not a regular file, at once', async () => {
  await expectAll([
    [['train', '--data', data, '--arch', f['fifo.json']], 'fifo.json', 'FIFO'],
    [['import', 'keras', '/dev/zero'], '/dev/zero'],
    [['import', 'keras', f['fifo.h5']], 'fifo.h5'],
    [['labels', '/dev/zero'], '/dev/zero'],
    [['export', 'onnx', '--weights', '/dev/zero'], '/dev/zero', 'character device'],
    [['export', 'onnx', '--weights', f['fifo.safetensors']], 'fifo.safetensors', 'FIFO'],
    [['eval', 'val', '--data', data, '--model', f['fifo.onnx']], 'fifo.onnx', 'FIFO'],
    [['eval', 'val', '--data', data, '--weights', '/dev/zero'], '/dev/zero'],
    [['predict', '/dev/zero', '--model', f['good.onnx']], '/dev/zero', 'character device'],
    [['predict', f['fifo.jpg'], '--model', f['good.onnx']], 'fifo.jpg', 'FIFO'],
    [['data', 'fetch', '--url', f['fifo.tar.gz'], '--dest', 'fetched'], 'fifo.tar.gz', 'FIFO'],
    [['data', 'fetch', '--url', '/dev/zero', '--dest', 'fetched'], '/dev/zero'],
    [['serve-demo', '--model', '/dev/zero', '--port', '0'], '/dev/zero'],
    [['serve-demo', '--weights', f['fifo.safetensors'], '--port', '0'], 'fifo.safetensors'],
    [['info', '--plan', '--arch', f['fifo.json']], 'fifo.json'],
  ]);
});

test('every command that runs a model: a NaN weight or an overflowing scale is refused naming the model, never NaN scores', async () => {
  await expectAll([
    [['train', '--resume', resumeNan], 'last.safetensors', 'NaN'],
    [['export', 'onnx', '--weights', f['nan.safetensors'], '--out', 'x.onnx'], 'nan.safetensors', 'NaN'],
    [['eval', 'val', '--data', data, '--model', f['nan.onnx']], 'nan.onnx', 'NaN'],
    [['eval', 'val', '--data', data, '--model', f['inf-scale.onnx']], 'inf-scale.onnx'],
    [['eval', 'val', '--data', data, '--weights', f['nan.safetensors']], 'nan.safetensors'],
    [['predict', FACE, '--model', f['nan.onnx']], 'nan.onnx', 'NaN'],
    [['predict', FACE, '--model', f['inf-scale.onnx']], 'inf-scale.onnx'],
    [['serve-demo', '--model', f['nan.onnx'], '--port', '0'], 'nan.onnx', 'NaN'],
  ]);
});

test('every command that reads a checkpoint: malformed headers are refused naming the file and the field', async () => {
  await expectAll([
    [['train', '--resume', resumeOverlap], 'last.safetensors', 'conv1.bias'],
    [['export', 'onnx', '--weights', f['negative-offsets.safetensors']], 'negative-offsets.safetensors', 'data_offsets'],
    [['export', 'onnx', '--weights', f['null-header.safetensors']], 'null-header.safetensors'],
    [['eval', 'val', '--data', data, '--weights', f['null-entry.safetensors']], 'null-entry.safetensors', 'conv1.kernel'],
    [['eval', 'val', '--data', data, '--weights', f['huge-shape.safetensors']], 'huge-shape.safetensors', 'conv1.kernel'],
    [['predict', FACE, '--weights', f['proto-spec.safetensors']], 'proto-spec.safetensors', "'spec'"],
    [['predict', FACE, '--weights', f['null-spec.safetensors']], 'null-spec.safetensors', "'spec'"],
    [['serve-demo', '--weights', f['number-classes.safetensors'], '--port', '0'], 'number-classes.safetensors', "'classes'"],
    [['serve-demo', '--weights', f['huge-step.safetensors'], '--port', '0'], 'huge-step.safetensors', "'step'"],
  ]);
});
