#!/usr/bin/env node
// Times the 'same' Winograd kernels of F(2x2, 3x3) and F(4x4, 3x3) against each other, per direction (forward,
// input gradient, weight gradient), on one thread and one share of a batch: where the plan's choice between them
// comes from (native/model/plan.cpp, winograd4). Calls alternate, so both see the same moments of a shared
// machine; the ratio is the median of the per-round ratios (F(4x4) time / F(2x2) time: below 1, F(4x4) is faster).
//
//   node scripts/bench/winograd-tiles.mjs [--images 64] [--rounds 15] [--isa avx512]
//     [--shapes '[[28,16,16],[14,32,32],[8,64,64]]']   (each [H=W, Cin, Cout]; H even, as F(2x2)'s 'same' kernels take)
import { parseArgs } from 'node:util';
import { native } from '../../dist/src/native.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '15' },
    isa: { type: 'string', default: native.buildInfo().cpuIsa },
    shapes: { type: 'string', default: '[[28,16,16],[14,16,32],[14,32,32],[8,64,64],[16,32,32],[18,64,64],[28,32,32],[36,32,32]]' },
  },
});
const [N, rounds, isa] = [Number(args.images), Number(args.rounds), args.isa];
const k = native.kernels;

let seed = 1;
const random = (n) => Float32Array.from({ length: n }, () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
const ms = (f) => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];

console.log(`${isa}, ${N} images a call, ${rounds} rounds; ms a call (F(4x4) / F(2x2))\n`);
console.log('| map | channels | forward F2 | F4 | input grad F2 | F4 | weight grad F2 | F4 |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [H, Cin, Cout] of JSON.parse(args.shapes)) {
  const W = H;
  const shape = { N, H, W, Cin, Cout };
  const [x, w, b, g] = [random(N * H * W * Cin), random(9 * Cin * Cout), random(Cout), random(N * H * W * Cout)];
  const [out, din, dw, db] = [new Float32Array(N * H * W * Cout), new Float32Array(N * H * W * Cin), new Float32Array(9 * Cin * Cout), new Float32Array(Cout)];
  const pairs = [
    [() => k.conv3x3SameForwardWinograd(out, x, w, b, shape, false, isa), () => k.conv3x3SameForwardWinograd4(out, x, w, b, shape, false, isa)],
    [() => k.conv3x3SameBackwardInputWinograd(din, g, w, shape, isa), () => k.conv3x3SameBackwardInputWinograd4(din, g, w, shape, isa)],
    [() => k.conv3x3SameBackwardWeightWinograd(dw, db, g, x, shape, isa), () => k.conv3x3SameBackwardWeightWinograd4(dw, db, g, x, shape, isa)],
  ];
  const cells = pairs.map(([f2, f4]) => {
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
