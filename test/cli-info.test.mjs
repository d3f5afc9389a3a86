// `engine info`, the CUDA build check, and `engine train --gpu|--device` where no CUDA device is usable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { native, trainerConfig } from '../dist/src/native.js';
import { SEED7 } from '../dist/src/model/spec.js';
import { cudaStatus } from '../dist/src/train/device.js';
import { runCli, smallDataset, tempDir } from './helpers.mjs';

delete process.env.ENGINE_CUDA_EMULATE; // the real device's status: the emulator is tested by name here
const status = cudaStatus();

// CMake looks for /usr/local/cuda/bin/nvcc, then nvcc on the PATH (or $CUDACXX).
function nvccRuns() {
  for (const nvcc of [process.env.CUDACXX, '/usr/local/cuda/bin/nvcc', 'nvcc'])
    if (nvcc && spawnSync(nvcc, ['--version'], { stdio: 'ignore' }).status === 0) return true;
  return false;
}

test('the CUDA backend is compiled in exactly when nvcc was there (so CI proves the CUDA sources compile)', (t) => {
  if (process.env.ENGINE_CUDA === 'OFF') return t.skip('ENGINE_CUDA=OFF: built CPU-only on purpose');
  const b = native.buildInfo();
  assert.equal(b.cuda, nvccRuns(), `buildInfo().cuda is ${b.cuda} but nvcc ${nvccRuns() ? 'runs' : 'does not run'} here`);
  if (b.cuda) {
    assert.match(b.cudaArchitectures, /\b90\b/);
    assert.equal(typeof native.cudaKernels.conv3x3Forward, 'function');
  } else {
    assert.equal(native.cudaKernels, undefined);
    assert.throws(() => new native.Trainer(trainerConfig({ spec: SEED7, backend: 'cuda', conv: 'direct' })), /^RangeError: backend: the addon was built without CUDA/);
  }
});

test('cudaDevices lists devices or says why there are none', () => {
  const list = native.cudaDevices();
  assert.ok(Array.isArray(list.devices));
  if (list.devices.length === 0) assert.match(list.reason, /driver|device|without CUDA/);
  for (const d of list.devices) assert.match(d.computeCapability, /^\d+\.\d+$/);
});

test('engine info prints the build and the devices; --json is the same as data', async () => {
  const text = await runCli(['info']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^engine \d+\.\d+\.\d+/);
  assert.match(text.stdout, /cpu: kernels use (scalar|avx2|avx512)/);
  const { amx, bf16 } = native.buildInfo();
  assert.ok(text.stdout.includes(`cpu bf16 (--precision bf16): ${amx ? 'AMX tiles' : bf16 ? 'AVX512-BF16 (no AMX)' : 'not available'}`), text.stdout);
  assert.ok(text.stdout.includes('jpeg: decoded by libjpeg-turbo (libjpeg.so.62); other formats by sharp'), text.stdout);
  assert.match(text.stdout, native.buildInfo().cuda ? /cuda: built in \(nvcc [\d.]+, architectures 90/ : /cuda: not built in/);
  if (status.usable) assert.match(text.stdout, /cuda device 0: /);
  else assert.ok(text.stdout.includes(`cuda devices: none (${status.reason})`), text.stdout);
  const json = await runCli(['info', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const info = JSON.parse(json.stdout);
  assert.equal(info.build.cuda, native.buildInfo().cuda);
  assert.equal(info.build.cpuIsa, native.buildInfo().cpuIsa);
  assert.equal(info.cuda.usable, status.usable);
  assert.deepEqual(info.jpeg, { available: true });
  assert.equal(info.cuda.devices.length, status.devices.length);
});

test('engine train --gpu without a usable device exits 2 with the reason, before any run directory', async (t) => {
  if (status.usable) return t.skip('a CUDA device is usable here');
  const dir = await tempDir(t);
  const out = path.join(dir, 'run');
  for (const args of [['--gpu'], ['--device', 'cuda']]) {
    const r = await runCli(['train', ...args, '--data', dir, '--out', out, '--epochs', '1']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no usable CUDA device: /);
    assert.ok(r.stderr.includes(status.reason), r.stderr);
    assert.equal(fs.existsSync(out), false, 'no run directory');
  }
  const both = await runCli(['train', '--gpu', '--device', 'cpu', '--data', dir]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--gpu means --device cuda/);
  const bad = await runCli(['train', '--device', 'tpu', '--data', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /device/);
});

test('engine train --device auto trains on the CPU here and says why', async (t) => {
  if (status.usable) return t.skip('a CUDA device is usable here: auto would take it');
  const data = await smallDataset(t, { train: { man: 3, woman: 3 }, val: { man: 2, woman: 2 } });
  const out = path.join(await tempDir(t), 'run');
  const r = await runCli(['train', '--device', 'auto', '--data', data, '--out', out, '--epochs', '1', '--seed', '1', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(`device: cpu (auto: no usable CUDA device: ${status.reason})`), r.stdout);
  const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
  assert.equal(run.status, 'finished');
  assert.equal(run.config.device, 'auto');
});

test('cudaStatus/resolveDevice: a device older than the built architectures is not usable, and says how to rebuild', async (t) => {
  const { resolveDevice } = await import('../dist/src/train/device.js');
  const { UsageError } = await import('../dist/src/errors.js');
  const saved = { buildInfo: native.buildInfo, cudaDevices: native.cudaDevices };
  t.after(() => Object.assign(native, saved));
  const device = (cc, index = 0) => ({ index, name: `GPU ${cc}`, computeCapability: cc, memoryBytes: 1, multiprocessors: 1 });
  native.buildInfo = () => ({ ...saved.buildInfo(), cuda: true, cudaArchitectures: '90' });
  native.cudaDevices = () => ({ devices: [device('8.6')] });
  const old = cudaStatus();
  assert.equal(old.usable, false);
  assert.match(old.reason, /GPU 8\.6 has compute capability 8\.6 but the addon was built for 90 \(rebuild with CMAKE_CUDA_ARCHITECTURES=86\)/);
  assert.throws(() => resolveDevice('cuda'), (e) => e instanceof UsageError && /no usable CUDA device: GPU 8\.6/.test(e.message));
  assert.match(resolveDevice('auto').note, /^device: cpu \(auto: no usable CUDA device: GPU 8\.6/);
  native.cudaDevices = () => ({ devices: [device('8.6'), device('9.0', 1), device('10.0', 2)] });
  const ok = cudaStatus();
  assert.deepEqual(ok.devices.map((d) => d.index), [1, 2]);
  assert.deepEqual(resolveDevice('cuda'), { device: 'cuda', index: 1, note: 'device: cuda:1 (GPU 9.0)' });
  assert.equal(resolveDevice('auto').index, 1);
  assert.deepEqual(resolveDevice('cpu'), { device: 'cpu', note: 'device: cpu' });
});

test('engine info --plan prints the kernel of every layer for the model and options, as the trainer plans it; --json gives the plan itself', async () => {
  const r = await runCli(['info', '--plan', '--isa', 'avx2', '--threads', '1']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(lines[0], /^plan of seed7: cpu, float32, fp32, winograd conv, isa avx2, 1 thread, 1 image per kernel call/);
  assert.ok(lines.some((l) => /^ {2}conv2\+relu2 +conv +winograd-avx2 +packed winograd 164\.0 KiB$/.test(l)), r.stdout);
  assert.ok(lines.some((l) => /^ {2}conv1\+relu1\+pool1 +conv-relu-maxpool +avx2 \/ input none +workspace 171\.1 KiB\/image$/.test(l)), r.stdout);
  assert.ok(lines.indexOf('backward') > lines.indexOf('forward'));
  const j = await runCli(['info', '--plan', '--conv', 'direct', '--json']);
  assert.equal(j.code, 0, j.stderr);
  const plan = JSON.parse(j.stdout);
  assert.equal(plan.options.conv, 'direct');
  assert.ok(plan.steps.every((s) => !s.kernel.startsWith('winograd')));
  const bad = await runCli(['info', '--plan', '--model', 'nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--arch \(--model\) must be one of seed7, seed5, fmnist-cnn/);
});
