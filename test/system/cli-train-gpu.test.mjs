// `engine train --gpu` end to end where no GPU exists: ENGINE_CUDA_EMULATE=1 puts the CUDA backend's own code
// (backend cuda-emulated: kernels, GpuNetwork, the indexed step) on the CPU emulator, so the whole GPU path of
// the CLI (device choice, upload, indexed epochs, evaluation, checkpoints, run.json) runs, and must follow a
// CPU run with the same seed: the same init, batches, warps and dropout masks, float32 sums in another order.
// Slow (the emulator runs seed7 at ~0.1 GFLOP/s), so the data is tiny: 4 training and 2 validation images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, smallDataset, tempDir } from '../helpers.mjs';

test('engine train --gpu on the emulated CUDA backend follows the CPU run with the same seed', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const out = await tempDir(t);
  const common = ['--data', data, '--epochs', '1', '--seed', '5', '--threads', '1', '--batch-size', '2', '--json', '--save-every', '0'];
  const gpu = await runCli(['train', '--gpu', '--out', path.join(out, 'gpu'), ...common], { env: { ENGINE_CUDA_EMULATE: '1' } });
  assert.equal(gpu.code, 0, gpu.stderr);
  assert.match(gpu.stderr, /device: cuda:0 \(CUDA emulation on the CPU/);
  const cpu = await runCli(['train', '--device', 'cpu', '--out', path.join(out, 'cpu'), ...common]);
  assert.equal(cpu.code, 0, cpu.stderr);
  const a = JSON.parse(gpu.stdout).final;
  const b = JSON.parse(cpu.stdout).final;
  // two steps of RMSprop from the same weights: measured 2e-7 apart; 1e-4 leaves room for another sum order
  for (const key of ['loss', 'valLoss']) assert.ok(Math.abs(a[key] - b[key]) <= 1e-4 * (1 + b[key]), `${key}: gpu ${a[key]} vs cpu ${b[key]}`);
  assert.equal(a.acc, b.acc);
  assert.equal(a.valAcc, b.valAcc);
  const run = JSON.parse(fs.readFileSync(path.join(out, 'gpu', 'run.json'), 'utf8'));
  assert.equal(run.status, 'finished');
  assert.equal(run.engine.device, 'cuda');
  assert.equal(run.engine.datasetImages, 4);
  assert.ok(fs.existsSync(path.join(out, 'gpu', 'last.safetensors')));
});

test('--gpu with --resume counts as --device cuda: a CPU run refuses it as a conflict, it never trains on the CPU', async (t) => {
  const data = await smallDataset(t, { train: { man: 2, woman: 2 }, val: { man: 1, woman: 1 } });
  const run = path.join(await tempDir(t), 'run');
  const first = await runCli(['train', '--data', data, '--epochs', '1', '--seed', '3', '--threads', '1', '--batch-size', '2', '--out', run, '--quiet']);
  assert.equal(first.code, 0, first.stderr);
  // an interrupted CPU run: resumable
  const record = path.join(run, 'run.json');
  fs.writeFileSync(record, JSON.stringify({ ...JSON.parse(fs.readFileSync(record, 'utf8')), status: 'failed' }));
  const before = fs.readFileSync(record, 'utf8');
  for (const flags of [['--gpu'], ['--device', 'cuda'], ['--gpu', '--device', 'cuda']]) {
    const r = await runCli(['train', '--resume', run, ...flags]);
    assert.equal(r.code, 2, `${flags.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^engine: --resume .*: flags conflict with the recorded config: --device "cuda" \(= --gpu\) \(the run has "cpu"\)/);
    assert.equal(r.stdout, '', 'nothing trained');
    assert.equal(fs.readFileSync(record, 'utf8'), before, 'run.json untouched');
  }
});
