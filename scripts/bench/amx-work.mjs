#!/usr/bin/env node
// Builds and runs scripts/bench/amx_work.cpp: the AMX kernels' work besides the tile arithmetic, per layer of the
// seed's model, on this CPU (no AMX needed), with the operand conversions of the real AMX build (AVX512-BF16)
// where the CPU has them and the portable ones of the tile model.
//
//   node scripts/bench/amx-work.mjs
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../dist/src/native.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amx-work-'));
const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const builds = [['portable', ['-O3', '-mavx512f', '-mavx512bw']]];
if (native.buildInfo().bf16) builds.unshift(['avx512bf16', ['-O3', '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512bf16']]);
else console.log('this CPU has no AVX512-BF16: only the portable conversions are timed');
try {
  for (const [convert, flags] of builds) {
    const exe = path.join(dir, `amx-work-${convert}`);
    execFileSync('g++', ['-std=c++17', ...flags, `-DCONVERT=${convert}`, `-I${path.join(root, 'native')}`, path.join(root, 'scripts/bench/amx_work.cpp'),
      path.join(root, 'native/kernels/bf16/bf16_pack.cpp'), ...(convert === 'avx512bf16' ? [path.join(root, 'native/kernels/bf16/conv_bf16_avx512.cpp')] : []), '-o', exe], { stdio: 'inherit' });
    console.log(`\n${cpu}, conversions: ${convert}`);
    process.stdout.write(execFileSync(exe));
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
