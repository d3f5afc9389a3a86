// Winograd F(4x4, 3x3) 'same' convolutions (native/kernels/fp32/conv_simd.inc), and the F(2x2) 'same' weight
// gradient that sums several tile rows at once, against the double reference convolution on every ISA the machine
// has. As in native-winograd.test.mjs: a computed output differs from the exact one by at most gamma_n * S_w, S_w the
// same Winograd evaluated on absolute values with absolute coefficients (computed in double by a plain,
// independent Winograd over the same tiles), n the sequential roundings along a path: the channel (or tile) sum
// plus the transforms'. F(4x4)'s coefficients 1/6, 1/12 and 1/24 are not exact in binary: their rounding counts
// as one more on the kernel transform's path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { residualBlock } from '../dist/src/model/spec.js';
import { rand, randomBatch, rng, sameConvNet } from './helpers.mjs';
import { assertWithinGamma as within, relativeDifferences } from './numerics.mjs';
import { F2, F4, exactSameWeight, randomSameForward, randomSameInput } from './winograd-bounds.mjs';

const k = native.kernels;
const TIERS = ['scalar', 'avx2', 'avx512'];
const cpuIsa = native.buildInfo().cpuIsa;
const ISAS = ['avx2', 'avx512'].filter((isa) => TIERS.indexOf(isa) <= TIERS.indexOf(cpuIsa));

// roundings along a path besides the channel or tile sum (F(4x4)): kernel transform 2 x 3 and its coefficients 2,
// input transform 2 x 5, product 1, output transform 2 x 5, bias 1 (forward); input 2 x 5, gradient 2 x 4,
// product 1, inverse kernel transform 2 x 5 and its coefficients 2, accumulation 1 (weights)
const DEPTH4 = 32;

// [N, H, W, Cin, Cout]: fmnist-res's 7x7 stage (the forward's products take 3 images, then a tail of 2; the weight
// gradient's 16, then a tail of 4), a map under a tile, ragged maps of both parities, maps whose forward products
// take bands of tile rows (28x28: 2 rows, the last band 1; 18x18: 2 rows of 5 tiles, the last 1), 1, 2 and 4
// vectors of channels
const SHAPES = [
  [5, 7, 7, 64, 64], [20, 7, 7, 16, 16], [9, 7, 7, 32, 64], [1, 3, 3, 16, 16], [2, 5, 6, 16, 32], [1, 9, 10, 64, 16],
  [2, 28, 28, 16, 16], [2, 18, 18, 32, 32],
];

for (const isa of ISAS)
  for (const [N, H, W, Cin, Cout] of SHAPES) {
    const shape = `${isa} N=${N} ${H}x${W} Cin=${Cin} Cout=${Cout}`;
    const sh = { N, H, W, Cin, Cout };

    test(`conv3x3SameForwardWinograd4, with and without ReLU, within gamma * S_w of the exact convolution, ${shape}`, () => {
      const { x, w, b, exact, Sw } = randomSameForward(F4, sh, rng(H * 31 + W + Cin + Cout + N));
      for (const relu of [false, true]) {
        const out = new Float32Array(exact.length).fill(NaN);
        k.conv3x3SameForwardWinograd4(out, x, w, b, sh, relu, isa);
        within(`out relu=${relu}`, out, relu ? exact.map((v) => Math.max(v, 0)) : exact, Sw, Cin + DEPTH4);
      }
    });

    test(`conv3x3SameBackwardInputWinograd4 within gamma * S_w of the exact input gradient, ${shape}`, () => {
      const { g, w, exact, Sw } = randomSameInput(F4, sh, rng(H * 37 + W + Cin + Cout + N));
      const din = new Float32Array(N * H * W * Cin).fill(NaN);
      k.conv3x3SameBackwardInputWinograd4(din, g, w, sh, isa);
      within('din', din, exact, Sw, Cout + DEPTH4);
      // accumulating (where another consumer formed the input's gradient first): the bits of a separate add
      const before = rand(din.length, rng(N + H), -3, 3);
      const sum = Float32Array.from(before);
      k.conv3x3SameBackwardInputWinograd4(sum, g, w, sh, isa, true);
      assert.deepEqual(sum, before.map((v, i) => v + din[i]));
    });

    test(`conv3x3SameBackwardWeightWinograd4 accumulates within gamma * S_w of the exact weight gradient, ${shape}`, () => {
      const r = rng(H * 41 + W + Cin + Cout + N);
      const x = rand(N * H * W * Cin, r);
      const g = rand(N * H * W * Cout, r);
      const dw0 = rand(9 * Cin * Cout, r, -4, 4);
      const db0 = rand(Cout, r, -4, 4);
      const { exactW, exactB, S, tiles, Sb } = exactSameWeight(F4, x, g, dw0, db0, sh);
      const [dw, db] = [Float32Array.from(dw0), Float32Array.from(db0)];
      k.conv3x3SameBackwardWeightWinograd4(dw, db, g, x, sh, isa);
      within('dw', dw, exactW, S, tiles + DEPTH4);
      within('db', db, exactB, Sb, N * H * W + 1);
    });

    test(`conv3x3SameBackwardWinograd4: both gradients in one pass, the bits of the two calls, ${shape}`, () => {
      const r = rng(H * 47 + W + Cin + Cout + N);
      const [x, g, w] = [rand(N * H * W * Cin, r), rand(N * H * W * Cout, r), rand(9 * Cin * Cout, r)];
      const [dw0, db0, din0] = [rand(9 * Cin * Cout, r, -4, 4), rand(Cout, r, -4, 4), rand(N * H * W * Cin, r, -3, 3)];
      for (const accumulate of [false, true]) {
        const [dw, db] = [Float32Array.from(dw0), Float32Array.from(db0)];
        const din = accumulate ? Float32Array.from(din0) : new Float32Array(din0.length).fill(NaN);
        k.conv3x3SameBackwardWeightWinograd4(dw, db, g, x, sh, isa);
        k.conv3x3SameBackwardInputWinograd4(din, g, w, sh, isa, accumulate);
        const [dw2, db2] = [Float32Array.from(dw0), Float32Array.from(db0)];
        const din2 = accumulate ? Float32Array.from(din0) : new Float32Array(din0.length).fill(NaN);
        k.conv3x3SameBackwardWinograd4(dw2, db2, din2, g, x, w, sh, isa, accumulate);
        assert.deepEqual([dw2, db2, din2], [dw, db, din], `accumulate=${accumulate}`);
      }
    });
  }

// Every tile runs the same operations: a map's border tiles (which read zeros past its edge) give the bits of the
// same patch as an inside tile of a larger map that holds it in zeros. The map (8x8, 9x7: all border tiles, whole and
// ragged) sits at row 4, column 4 of a 16x16 one, whose tiles (1..2, 1..2) lie inside it and read the same values.
for (const isa of ISAS)
  for (const [H, W] of [[8, 8], [7, 9]]) {
    test(`F(4x4): border tiles compute as inside ones, forward and input gradient, ${isa} ${H}x${W}`, () => {
      const [C, B] = [16, 16];
      const r = rng(H * 53 + W);
      const small = rand(H * W * C, r);
      const big = new Float32Array(B * B * C);
      for (let y = 0; y < H; y++) big.set(small.subarray(y * W * C, (y + 1) * W * C), ((y + 4) * B + 4) * C);
      const [w, b] = [rand(9 * C * C, r), rand(C, r)];
      const inner = (out) => Float32Array.from({ length: H * W * C }, (_, i) => {
        const [p, c] = [Math.floor(i / C), i % C];
        return out[((Math.floor(p / W) + 4) * B + (p % W) + 4) * C + c];
      });
      const [outSmall, outBig] = [new Float32Array(H * W * C), new Float32Array(B * B * C)];
      k.conv3x3SameForwardWinograd4(outSmall, small, w, b, { N: 1, H, W, Cin: C, Cout: C }, false, isa);
      k.conv3x3SameForwardWinograd4(outBig, big, w, b, { N: 1, H: B, W: B, Cin: C, Cout: C }, false, isa);
      assert.deepEqual(inner(outBig), outSmall);
      const [dinSmall, dinBig] = [new Float32Array(H * W * C), new Float32Array(B * B * C)];
      k.conv3x3SameBackwardInputWinograd4(dinSmall, small, w, { N: 1, H, W, Cin: C, Cout: C }, isa);
      k.conv3x3SameBackwardInputWinograd4(dinBig, big, w, { N: 1, H: B, W: B, Cin: C, Cout: C }, isa);
      assert.deepEqual(inner(dinBig), dinSmall);
    });
  }

// The F(2x2) 'same' weight gradient sums about 48 tiles (several tile rows) in registers before adding them up:
// within gamma * S_w of the exact gradient, as the valid kernel's one row at a time
for (const isa of ISAS)
  for (const [N, H, W, Cin, Cout] of [[2, 28, 28, 16, 16], [3, 14, 14, 16, 32], [1, 8, 6, 32, 16], [2, 4, 4, 16, 48]]) {
    test(`conv3x3SameBackwardWeightWinograd accumulates within gamma * S_w of the exact weight gradient, ${isa} N=${N} ${H}x${W} Cin=${Cin} Cout=${Cout}`, () => {
      const r = rng(H * 43 + W + Cin + Cout + N);
      const x = rand(N * H * W * Cin, r);
      const g = rand(N * H * W * Cout, r);
      const dw0 = rand(9 * Cin * Cout, r, -4, 4);
      const db0 = rand(Cout, r, -4, 4);
      const sh = { N, H, W, Cin, Cout };
      const { exactW, exactB, S, tiles, Sb } = exactSameWeight(F2, x, g, dw0, db0, sh);
      const [dw, db] = [Float32Array.from(dw0), Float32Array.from(db0)];
      k.conv3x3SameBackwardWeightWinograd(dw, db, g, x, sh, isa);
      within('dw', dw, exactW, S, tiles + 12);
      within('db', db, exactB, Sb, N * H * W + 1);
    });
  }

/** which kernel a conv's steps run: forward, weight gradient, input gradient */
function kernels(spec, op, extra = {}) {
  const t = new native.Trainer(trainerConfig({ spec, seed: 1, batchSize: 4, ...extra }));
  const steps = t.plan().steps.filter((s) => s.op === op && s.kind === 'conv');
  const f = steps.find((s) => s.direction === 'forward');
  const b = steps.find((s) => s.direction === 'backward');
  return { forward: f.kernel, weight: b.kernel, input: b.inputGradient };
}

test('the plan: F(4x4) all three ways on every float32 "same" 3x3 convolution Winograd takes', { skip: cpuIsa !== 'avx512' && 'needs AVX-512' }, () => {
  const f4 = { forward: 'winograd4-avx512', weight: 'winograd4-avx512', input: 'winograd4-avx512' };
  // 7x7 (under F(2x2)'s 8x8), whole 4x4 tiles (28x28, 36x36) and not (14x14 computes 16x16), odd (11x11)
  for (const [size, cin, cout] of [[7, 64, 64], [28, 16, 16], [36, 32, 32], [14, 32, 32], [14, 16, 32], [11, 32, 32]])
    assert.deepEqual(kernels(sameConvNet(size, cin, cout), 'c'), f4, `${size}x${size} ${cin} -> ${cout}`);
  // --conv direct keeps them off (a bf16 network's plan: native-winograd-bf16.test.mjs)
  assert.notEqual(kernels(sameConvNet(7, 64, 64), 'c', { conv: 'direct' }).forward, 'winograd4-avx512');
  assert.notEqual(kernels(sameConvNet(28, 16, 16), 'c', { conv: 'direct' }).forward, 'winograd4-avx512');
});

// A float32 network whose steps run these kernels (28x28 16 -> 16 in bands of tile rows, 7x7 16 -> 64 and
// 64 -> 64 several images a product: F(4x4) all three ways) follows the float64 reference's gradients
const MIXED = {
  name: 'winograd4-net',
  input: [28, 28, 1],
  resize: 'none',
  head: 'softmax',
  layers: [
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'a' },
    { type: 'relu' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'b' },
    { type: 'relu' },
    { type: 'maxpool2x2' },
    { type: 'maxpool2x2' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 64, name: 'c' },
    { type: 'relu' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 64, name: 'd' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 3 },
  ],
};

test('float32 gradients of a network on F(4x4) steps within 1e-4 of the float64 reference', { skip: ISAS.length === 0 && 'needs AVX2' }, () => {
  const { images, labels } = randomBatch(MIXED, 6, 3, 3);
  const ref = new native.Trainer(trainerConfig({ spec: MIXED, seed: 4, threads: 2, dtype: 'float64' }));
  const want = ref.computeGradients(images, labels);
  for (const isa of ISAS) {
    const t = new native.Trainer(trainerConfig({ spec: MIXED, seed: 4, threads: 2, isa }));
    const kinds = t.plan().steps.filter((s) => s.kind === 'conv').map((s) => `${s.op} ${s.direction} ${s.kernel}`);
    assert.ok(kinds.includes(`b backward winograd4-${isa}`) && kinds.includes(`d forward winograd4-${isa}`), kinds.join(', '));
    const got = t.computeGradients(images, labels);
    assert.ok(Math.abs(got.loss - want.loss) < 1e-5 * Math.max(1, want.loss), `${isa}: loss ${got.loss} vs ${want.loss}`);
    for (const { name, rel } of relativeDifferences(got.gradients, want.gradients, t.paramLayout()))
      assert.ok(rel < 1e-4, `${isa} ${name}: ${rel} from float64`);
    t.dispose();
  }
  ref.dispose();
});

// F(4x4) all three ways on a 36x36 map of 32 channels between batch norms (face-res's first block), with no ReLU or max-pool: a float32 value a rounding away from a ReLU's 0 or a pool's tie takes the
// other branch than float64's now and then (with any kernel), and one such pixel moves a gradient by ~1e-3 of its
// norm
const BN36 = {
  name: 'winograd4-bn',
  input: [36, 36, 3],
  resize: 'none',
  layers: [
    { type: 'conv', kernel: 1, filters: 32, name: 'pre' },
    { type: 'batchnorm', name: 'bn0' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 32, name: 'a' },
    { type: 'batchnorm', name: 'bn1' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 32, name: 'b' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 1, name: 'head' },
  ],
};

test('float32 gradients of convolutions on F(4x4) between batch norms within 2e-5 of the float64 reference', { skip: ISAS.length === 0 && 'needs AVX2' }, () => {
  const { images, labels } = randomBatch(BN36, 16, 5);
  const ref = new native.Trainer(trainerConfig({ spec: BN36, seed: 4, threads: 2, dtype: 'float64' }));
  const want = ref.computeGradients(images, labels);
  for (const isa of ISAS) {
    const t = new native.Trainer(trainerConfig({ spec: BN36, seed: 4, threads: 2, isa }));
    const a = t.plan().steps.filter((s) => s.op === 'a' && s.kind === 'conv');
    assert.deepEqual(a.map((s) => [s.kernel, s.inputGradient ?? null]), [[`winograd4-${isa}`, null], [`winograd4-${isa}`, `winograd4-${isa}`]]);
    const got = t.computeGradients(images, labels);
    for (const { name, rel } of relativeDifferences(got.gradients, want.gradients, t.paramLayout().filter((q) => q.name.endsWith('kernel'))))
      assert.ok(rel < 2e-5, `${isa} ${name}: ${rel} from float64`);
    t.dispose();
  }
  ref.dispose();
});

// A residual net of fmnist-res's blocks (residualBlock) on 12x12 maps: an identity block, whose first convolution adds
// its input gradient into the one the add passed to the block's input, and a projection block, whose two batch
// norms read the add's gradient from one slot
const RES12 = {
  name: 'winograd4-res',
  input: [12, 12, 3],
  resize: 'none',
  head: 'softmax',
  layers: [
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'stem' },
    { type: 'batchnorm', name: 'stem.bn' },
    { type: 'relu', name: 'stem.relu' },
    ...residualBlock('a', 'stem.relu', 16),
    ...residualBlock('b', 'a.out', 32, { project: true }),
    { type: 'globalavgpool' },
    { type: 'dense', units: 3, name: 'head' },
  ],
};

test('residual blocks on F(4x4): the first convolution adds its input gradient in place of a grad-add, an add passes one slot to both its inputs, and the gradients stay within 2e-5 of float64', { skip: ISAS.length === 0 && 'needs AVX2' }, () => {
  const { images, labels } = randomBatch(RES12, 12, 7);
  const ref = new native.Trainer(trainerConfig({ spec: RES12, seed: 3, threads: 2, dtype: 'float64' }));
  const want = ref.computeGradients(images, labels);
  // the float64 network adds the gradients of a tensor read twice in a step of their own, and copies an add's
  assert.deepEqual(ref.plan().steps.filter((s) => s.kind === 'grad-add').map((s) => s.op), ['b.c1', 'a.c1']);
  for (const isa of ISAS) {
    const t = new native.Trainer(trainerConfig({ spec: RES12, seed: 3, threads: 2, isa }));
    const backward = t.plan().steps.filter((s) => s.direction === 'backward');
    const step = (op, kind) => backward.find((s) => s.op === op && s.kind === kind);
    assert.equal(backward.filter((s) => s.kind === 'grad-add').length, 0);
    for (const op of ['a.c1', 'b.c1']) {
      assert.equal(step(op, 'conv').inputGradient, `winograd4-${isa}`);
      assert.equal(step(op, 'conv').accumulates, true, op);
    }
    // a.c1 adds into the slot a.add passed to stem.relu; b.c1 into the one b.proj's input gradient formed
    const [aAdd, bAdd] = [step('a.add', 'add'), step('b.add', 'add')];
    assert.deepEqual(aAdd.gradientSlots.in, [aAdd.gradientSlots.out, aAdd.gradientSlots.out]);
    assert.deepEqual(bAdd.gradientSlots.in, [bAdd.gradientSlots.out, bAdd.gradientSlots.out]);
    assert.equal(step('a.c1', 'conv').gradientSlots.in[0], aAdd.gradientSlots.out);
    assert.equal(step('b.c1', 'conv').gradientSlots.in[0], step('b.proj', 'conv').gradientSlots.in[0]);
    for (const bn of ['a.bn2', 'b.bn2', 'b.bnp']) assert.equal(step(bn, 'batchnorm').gradientSlots.out, bn === 'a.bn2' ? aAdd.gradientSlots.out : bAdd.gradientSlots.out);
    const got = t.computeGradients(images, labels);
    for (const { name, rel } of relativeDifferences(got.gradients, want.gradients, t.paramLayout().filter((q) => q.name.endsWith('kernel'))))
      assert.ok(rel < 2e-5, `${isa} ${name}: ${rel} from float64`);
    t.dispose();
  }
  ref.dispose();
});
