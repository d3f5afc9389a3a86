// The machine's measured peaks (native.measurePeak): fp32 FMA, AVX512-BF16 dot products and AMX tile dot products
// on 1 and 2..N threads, and how they scale. `node scripts/bench/peak.mjs [--seconds 0.5] [--threads N]`
import os from 'node:os';
import { native } from '../../dist/src/native.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 0.5);
const threads = arg('threads', os.availableParallelism());
const info = native.buildInfo();
const kinds = [info.cpuIsa === 'avx512' && 'fp32', info.bf16 && 'bf16', info.amx && 'amx'].filter(Boolean);
if (!kinds.length) console.log('no AVX-512: the peak probes need AVX-512F');
for (const kind of kinds) {
  const one = await native.measurePeak(kind, 1, seconds);
  const all = await native.measurePeak(kind, threads, seconds);
  console.log(`${kind.padEnd(5)} 1 thread ${one.toFixed(1).padStart(8)} GFLOP/s   ${threads} threads ${all.toFixed(1).padStart(8)} GFLOP/s   ${(all / one).toFixed(2)}x`);
}
