// The benchmark's peak probe (native/peak.cpp, native.measurePeak): fp32 FMA, AVX512-BF16 dot and AMX tile dot
// loops, each where the CPU has the instructions and a clear rejection where it has not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../dist/src/native.js';

const info = native.buildInfo();
const SECONDS = 0.05;

// (how the GFLOP/s scale with threads is a measurement for scripts/bench/peak.mjs, not a test)
test('measurePeak gives a positive GFLOP/s for each instruction set the CPU has, on one thread and on two', async () => {
  if (info.cpuIsa !== 'avx512') {
    await assert.rejects(native.measurePeak('fp32', 1, SECONDS), /needs AVX-512F/);
    return;
  }
  const one = await native.measurePeak('fp32', 1, SECONDS);
  const two = await native.measurePeak('fp32', 2, SECONDS);
  assert.ok(Number.isFinite(one) && one > 1, `fp32 peak ${one}`);
  assert.ok(Number.isFinite(two) && two > 1, `fp32 peak on 2 threads ${two}`);
});

test("measurePeak('bf16') and ('amx') run where the CPU has them and say what is missing where it has not", async () => {
  if (info.bf16) assert.ok((await native.measurePeak('bf16', 1, SECONDS)) > 1);
  else await assert.rejects(native.measurePeak('bf16', 1, SECONDS), /needs AVX512-BF16/);
  if (info.amx) {
    assert.ok((await native.measurePeak('amx', 1, SECONDS)) > 1);
  } else {
    await assert.rejects(native.measurePeak('amx', 1, SECONDS), /AMX peak probe needs AMX-BF16 tiles/);
  }
});

test('measurePeak refuses a wrong kind, thread count or duration', () => {
  assert.throws(() => native.measurePeak('fp64', 1, SECONDS), { name: 'TypeError', message: /kind must be 'fp32', 'bf16' or 'amx'/ });
  assert.throws(() => native.measurePeak('fp32', 0, SECONDS), /threads/);
  assert.throws(() => native.measurePeak('fp32', 1, 0), /seconds must be in \(0, 10\]/);
  assert.throws(() => native.measurePeak('fp32', 1, 11), /seconds must be in \(0, 10\]/);
});
