// Winograd F(2x2, 3x3) 'same' convolutions with bf16 products (native/kernels/bf16/winograd_bf16_avx512.cpp) and the
// plan that gives them a bf16 network's 'same' convolutions. Against the double reference: the transforms run in
// fp32 (gamma_n * S_w, as in native-winograd4.test.mjs), and the transformed input and kernel are rounded to bf16
// (relative 2^-8 each), so a computed output is within ((1 + 2^-8)^2 (1 + gamma_n) - 1) * S_w of the exact one, S_w
// the Winograd on absolute values (winograd-bounds.mjs), n the channel sum plus the transforms' roundings (12).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { rand, randomBatch, rng, sameConvNet, withEnv } from './helpers.mjs';
import { gamma, relativeDifferences } from './numerics.mjs';
import { F2, randomSameForward, randomSameInput } from './winograd-bounds.mjs';

const k = native.kernels;
const skip = native.buildInfo().bf16 ? false : 'this CPU has no AVX512-BF16';
const DEPTH = 12;

/** |got - exact| within the bound above; and the largest |got - exact| / S_w, which shows the bf16 rounding */
function withinBf16(name, got, exact, S, K) {
  const factor = (1 + 2 ** -8) ** 2 * (1 + gamma(K)) - 1 + 1e-12;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - exact[i]);
    assert.ok(err <= factor * S[i], `${name}[${i}]: ${got[i]} vs exact ${exact[i]} (S ${S[i]}, K ${K})`);
    if (S[i] > 0) worst = Math.max(worst, err / S[i]);
  }
  return worst;
}

// [N, H, W, Cin, Cout]: fmnist-res's 28x28 16-channel and 14x14 32-channel convolutions; 4, 1 and 3 vectors of
// output channels; maps of a few tiles, taller than wide and wider than tall
const SHAPES = [[2, 28, 28, 16, 16], [3, 14, 14, 32, 32], [2, 8, 6, 16, 64], [1, 4, 10, 64, 16], [2, 6, 4, 32, 48]];

for (const [N, H, W, Cin, Cout] of SHAPES) {
  const shape = `N=${N} ${H}x${W} Cin=${Cin} Cout=${Cout}`;
  const sh = { N, H, W, Cin, Cout };

  test(`conv3x3SameForwardWinogradBf16, with and without ReLU, within the bf16 bound of the exact convolution, ${shape}`, { skip }, () => {
    const { x, w, b, exact, Sw } = randomSameForward(F2, sh, rng(H * 53 + W + Cin + Cout + N));
    for (const relu of [false, true]) {
      const out = new Float32Array(exact.length).fill(NaN);
      k.conv3x3SameForwardWinogradBf16(out, x, w, b, sh, relu);
      const worst = withinBf16(`out relu=${relu}`, out, relu ? exact.map((v) => Math.max(v, 0)) : exact, Sw, Cin + DEPTH);
      // float32 products would stay within gamma_n * S_w: under 5e-6 here
      if (!relu) assert.ok(worst > 2 ** -16, `no bf16 rounding seen: worst |err| / S_w ${worst}`);
    }
  });

  test(`conv3x3SameBackwardInputWinogradBf16 within the bf16 bound of the exact input gradient, ${shape}`, { skip }, () => {
    const { g, w, exact, Sw } = randomSameInput(F2, sh, rng(H * 59 + W + Cin + Cout + N));
    const din = new Float32Array(N * H * W * Cin).fill(NaN);
    k.conv3x3SameBackwardInputWinogradBf16(din, g, w, sh);
    withinBf16('din', din, exact, Sw, Cout + DEPTH);
  });
}

test('conv3x3SameForwardWinogradBf16: a NaN in the input (any payload) gives NaN outputs around it, not numbers', { skip }, () => {
  const [N, H, W, C] = [1, 8, 8, 16];
  const w = rand(9 * C * C, rng(5), -0.5, 0.5);
  for (const bits of [0x7fffffff, 0x7f800001, 0xffc00000]) {
    const x = new Float32Array(N * H * W * C).fill(0.25);
    new Uint32Array(x.buffer)[(3 * W + 4) * C + 5] = bits; // pixel (3, 4), channel 5
    const out = new Float32Array(N * H * W * C);
    k.conv3x3SameForwardWinogradBf16(out, x, w, new Float32Array(C), { N, H, W, Cin: C, Cout: C }, false);
    for (let c = 0; c < C; c++) assert.ok(Number.isNaN(out[(3 * W + 4) * C + c]), `0x${bits.toString(16)}: out[3, 4, ${c}] = ${out[(3 * W + 4) * C + c]}`);
    assert.ok(Number.isFinite(out[0]), 'a tile the NaN does not reach');
  }
});

test('conv3x3SameForwardWinogradBf16 refuses shapes it does not take (RangeError)', { skip }, () => {
  const out = new Float32Array(1000);
  assert.throws(() => k.conv3x3SameForwardWinogradBf16(out, new Float32Array(5 * 5 * 16), new Float32Array(9 * 256), new Float32Array(16), { N: 1, H: 5, W: 5, Cin: 16, Cout: 16 }, false), RangeError);
  assert.throws(() => k.conv3x3SameForwardWinogradBf16(out, new Float32Array(4 * 4 * 8), new Float32Array(9 * 128), new Float32Array(16), { N: 1, H: 4, W: 4, Cin: 8, Cout: 16 }, false), RangeError);
});

/** a bf16 Trainer of `options` created with ENGINE_BF16 set to `bf16` (the plan reads it once, at creation) */
function bf16Trainer(options, bf16 = 'avx512-bf16') {
  return withEnv({ ENGINE_BF16: bf16 }, () => new native.Trainer(trainerConfig({ ...options, precision: 'bf16' })));
}

/** a bf16 Trainer's kernels for conv `op` (forward, weight gradient, input gradient) */
function kernels(spec, op, extra = {}, bf16 = 'avx512-bf16') {
  const t = bf16Trainer({ spec, seed: 1, batchSize: 4, ...extra }, bf16);
  const steps = t.plan().steps.filter((s) => s.op === op && s.kind === 'conv');
  t.dispose();
  const f = steps.find((s) => s.direction === 'forward');
  const b = steps.find((s) => s.direction === 'backward');
  return { forward: f.kernel, weight: b.kernel, input: b.inputGradient, copy: f.workspaceBytes > 0 };
}

test('the plan in bf16 (AVX512-BF16): even "same" maps of 8x8 and more take bf16-product Winograd forward and back, fp32 F(4x4) weight gradients; 7x7 maps fp32 F(4x4)', { skip }, () => {
  assert.deepEqual(kernels(sameConvNet(14, 32, 32), 'c'), { forward: 'winograd-bf16', weight: 'winograd4-avx512', input: 'winograd-bf16', copy: false });
  assert.deepEqual(kernels(sameConvNet(28, 16, 16), 'c'), { forward: 'winograd-bf16', weight: 'winograd4-avx512', input: 'winograd-bf16', copy: false });
  // a 7x7 map (odd, under 8x8) runs fp32 F(4x4) all three ways (faster than the direct bf16 kernels there), and
  // --conv direct keeps the direct bf16 kernels
  assert.deepEqual(kernels(sameConvNet(7, 64, 64), 'c'), { forward: 'winograd4-avx512', weight: 'winograd4-avx512', input: 'winograd4-avx512', copy: false });
  assert.deepEqual(kernels(sameConvNet(7, 64, 64), 'c', { conv: 'direct' }), { forward: 'avx512-bf16', weight: 'avx512-bf16', input: 'avx512-bf16', copy: true });
  assert.equal(kernels(sameConvNet(14, 32, 32), 'c', { conv: 'direct' }).forward, 'avx512-bf16');
  // AMX tiles run the direct convolution (here their C++ model)
  assert.equal(kernels(sameConvNet(14, 32, 32), 'c', {}, 'amx-emulated').forward, 'amx-emulated');
  assert.equal(kernels(sameConvNet(7, 64, 64), 'c', {}, 'amx-emulated').forward, 'amx-emulated');
});

// A bf16 network on these steps (28x28 16 -> 16, 14x14 16 -> 32 and 32 -> 32) follows the float64 reference's
// kernel gradients as closely as bf16 operands allow: here 0.3-5% off (the direct bf16 kernels, --conv direct:
// 0.3-4%); a wrong tile or pair is ~100% off. (The biases before batch norm have no gradient, so no relative one.)
const NET = {
  name: 'winograd-bf16-net',
  input: [28, 28, 1],
  resize: 'none',
  head: 'softmax',
  layers: [
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'a' },
    { type: 'batchnorm', name: 'bna' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 16, name: 'b' },
    { type: 'batchnorm', name: 'bnb' },
    { type: 'maxpool2x2' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 32, name: 'c' },
    { type: 'batchnorm', name: 'bnc' },
    { type: 'conv', kernel: 3, padding: 'same', filters: 32, name: 'd' },
    { type: 'globalavgpool' },
    { type: 'dense', units: 3 },
  ],
};

test('bf16 kernel gradients of a network on the bf16-product Winograd steps within 10% of the float64 reference', { skip }, () => {
  const { images, labels } = randomBatch(NET, 8, 7, 3);
  const ref = new native.Trainer(trainerConfig({ spec: NET, seed: 4, threads: 2, dtype: 'float64' }));
  const want = ref.computeGradients(images, labels);
  ref.dispose();
  const t = bf16Trainer({ spec: NET, seed: 4, threads: 2 });
  const kinds = t.plan().steps.filter((s) => s.kind === 'conv' && s.direction === 'forward').map((s) => `${s.op} ${s.kernel}`);
  for (const op of ['b', 'c', 'd']) assert.ok(kinds.includes(`${op} winograd-bf16`), kinds.join(', '));
  const got = t.computeGradients(images, labels);
  assert.ok(Math.abs(got.loss - want.loss) < 1e-2 * Math.max(1, want.loss), `loss ${got.loss} vs ${want.loss}`);
  for (const { name, rel } of relativeDifferences(got.gradients, want.gradients, t.paramLayout().filter((p) => p.name.endsWith('kernel'))))
    assert.ok(rel < 0.1, `${name}: ${rel} from float64`);
  t.dispose();
});
