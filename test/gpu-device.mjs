// The real CUDA device as the GPU test files see it: the emulator is tested by name there, so its switch is
// cleared first. On the GPU machine (scripts/device/gpu-check.sh, ENGINE_REQUIRE_CUDA=1) a missing device is a
// failure, not a skip.
import assert from 'node:assert/strict';
import { cudaStatus } from '../dist/src/train/device.js';

/** false where a CUDA device is usable, else the reason (a test's `skip`), said once for `file`. */
export function gpuSkip(file) {
  delete process.env.ENGINE_CUDA_EMULATE;
  const status = cudaStatus();
  if (process.env.ENGINE_REQUIRE_CUDA === '1') assert.ok(status.usable, `ENGINE_REQUIRE_CUDA=1 but no CUDA device: ${status.reason}`);
  const skip = status.usable ? false : `no CUDA device: ${status.reason}`;
  if (skip) console.log(`# ${file}: skipped (${skip})`);
  return skip;
}
