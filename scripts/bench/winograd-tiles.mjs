#!/usr/bin/env node
// Times the 'same' Winograd kernels of F(2x2, 3x3) against F(4x4, 3x3), or (--against bf16) against F(2x2) with
// bf16 products, per direction (forward, input gradient, weight gradient), on one thread and one share of a batch:
// where the plan's choices between them come from (native/model/plan.cpp, winograd4 and winograd_bf16). Calls
// alternate, so both see the same moments of a shared machine; the ratio is the median of the per-round ratios
// (the other kernel's time / F(2x2)'s: below 1, it is faster). The bf16 kernels have no weight gradient.
//
//   node scripts/bench/winograd-tiles.mjs [--against f4|bf16] [--images 64] [--rounds 15] [--isa avx512]
//     [--shapes '[[28,16,16],[14,32,32],[8,64,64]]']   (each [H=W, Cin, Cout]; H even, as F(2x2)'s 'same' kernels take)
import { parseArgs } from 'node:util';
import { native } from '../../dist/src/native.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '15' },
    isa: { type: 'string', default: native.buildInfo().cpuIsa },
    shapes: { type: 'string', default: '[[28,16,16],[14,16,32],[14,32,32],[8,64,64],[16,32,32],[18,64,64],[28,32,32],[36,32,32]]' },
    against: { type: 'string', default: 'f4' },
  },
});
const [N, rounds, isa, against] = [Number(args.images), Number(args.rounds), args.isa, args.against];
if (!['f4', 'bf16'].includes(against)) throw new Error(`--against must be f4 or bf16, got '${against}'`);
if (against === 'bf16' && !native.buildInfo().bf16) throw new Error('--against bf16 needs a CPU with AVX512-BF16');
const k = native.kernels;
const other = against === 'f4' ? 'F4' : 'bf16';

let seed = 1;
const random = (n) => Float32Array.from({ length: n }, () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
const ms = (f) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

console.log(`${isa}, ${N} images a call, ${rounds} rounds; ms a call (${against === 'f4' ? 'F(4x4)' : 'F(2x2) with bf16 products'} / F(2x2))\n`);
console.log(`| map | channels | forward F2 | ${other} | input grad F2 | ${other} | weight grad F2 | ${other} |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [H, Cin, Cout] of JSON.parse(args.shapes)) {
  const W = H;
  const shape = { N, H, W, Cin, Cout };
  const [x, w, b, g] = [random(N * H * W * Cin), random(9 * Cin * Cout), random(Cout), random(N * H * W * Cout)];
  const [out, din, dw, db] = [new Float32Array(N * H * W * Cout), new Float32Array(N * H * W * Cin), new Float32Array(9 * Cin * Cout), new Float32Array(Cout)];
  const pairs =
    against === 'f4'
      ? [
          [() => k.conv3x3SameForwardWinograd(out, x, w, b, shape, false, isa), () => k.conv3x3SameForwardWinograd4(out, x, w, b, shape, false, isa)],
          [() => k.conv3x3SameBackwardInputWinograd(din, g, w, shape, isa), () => k.conv3x3SameBackwardInputWinograd4(din, g, w, shape, isa)],
          [() => k.conv3x3SameBackwardWeightWinograd(dw, db, g, x, shape, isa), () => k.conv3x3SameBackwardWeightWinograd4(dw, db, g, x, shape, isa)],
        ]
      : [
          [() => k.conv3x3SameForwardWinograd(out, x, w, b, shape, false, isa), () => k.conv3x3SameForwardWinogradBf16(out, x, w, b, shape, false)],
          [() => k.conv3x3SameBackwardInputWinograd(din, g, w, shape, isa), () => k.conv3x3SameBackwardInputWinogradBf16(din, g, w, shape)],
          [() => k.conv3x3SameBackwardWeightWinograd(dw, db, g, x, shape, isa), null],
        ];
  const cells = pairs.map(([f2, f4]) => {
    if (!f4) return `${median(Array.from({ length: rounds }, () => ms(f2))).toFixed(2)} | -`;
    const [t2, t4, ratio] = [[], [], []];
    for (let r = 0; r < rounds; r++) {
      const [a, c] = [ms(f2), ms(f4)];
      t2.push(a);
      t4.push(c);
      ratio.push(c / a);
    }
    return `${median(t2).toFixed(2)} | ${median(t4).toFixed(2)} (${median(ratio).toFixed(2)}x)`;
  });
  console.log(`| ${H}x${W} | ${Cin} -> ${Cout} | ${cells.join(' | ')} |`);
}
