// A few seeds of scripts/check/spec-fuzz.mjs (random small specs: every float32 tier, the CUDA emulator and bf16 against
// float64, and the ONNX export under onnxruntime-node against the engine), each in its own process: seeds 182, 286
// and 364 drew batchnorm -> relu -> maxpool2x2, whose plan corrupted memory before 6eb2216.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'check', 'spec-fuzz.mjs');

test('random specs: every tier follows float64 and the exported model the engine (seeds 1-24, 182, 286, 364)', () => {
  for (const seed of [...Array.from({ length: 24 }, (_, i) => i + 1), 182, 286, 364]) {
    const r = spawnSync(process.execPath, [script, '--one', String(seed)], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `seed ${seed}: ${r.signal ?? `exit ${r.status}`}\n${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /MISMATCH/, `seed ${seed}:\n${r.stdout}`);
    assert.match(r.stdout, /onnx: max|refused/, `seed ${seed}: did not finish\n${r.stdout}`);
  }
});
