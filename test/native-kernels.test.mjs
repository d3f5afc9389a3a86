// Fast (AVX2 / AVX-512) fp32 3x3 convolution kernels against the reference kernels, on random inputs at shapes
// that hit every register tile and its tails, plus the argument checks of the raw-kernel boundary.
//
// Tile widths (native/conv_simd.inc: tile_for(NV) = (registers - NV - 2) / NV pixels or input taps):
//   avx512 (16 lanes, 32 regs): Cout % 64 == 0 -> 4 vectors, 6 px; Cout % 32 -> 2 vectors, 14 px; else 1 vector, 29 px
//   avx2   ( 8 lanes, 16 regs): Cout % 16 == 0 -> 2 vectors, 6 px; else 1 vector, 13 px
// The forward tile runs along the output width W-2, the input-gradient tile along W (it is a forward pass over
// the output gradient padded by 2) and the weight-gradient tile along the 3*Cin taps of a kernel row, so the
// shapes below make W-2, W and 3*Cin hit whole tiles plus ragged tails (and widths below one tile).
// Cout = 8 or 24 under avx512 take the avx2 kernel (Cout not a multiple of 16), Cout = 12 and Cin = 3 (input
// gradient) take the reference: both still have to agree.
//
// Tolerance (rigorous, not empirical): each output is a sum of K products (plus the bias or the accumulated
// value). Any evaluation order in float32, with or without FMA, satisfies |computed - exact| <= gamma_K * S with
// gamma_K = K*u / (1 - K*u), u = 2^-24 and S = the same sum over absolute values (Higham, Accuracy and
// Stability, 3.1). Fast and reference both obey it, so |fast - ref| <= 2 * gamma_K * S, where S is computed in
// double from |inputs|. K is 9*Cin + 1 (forward), 9*Cout (input gradient), N*(H-2)*(W-2) + N + 1 (weight and
// bias gradient: the fast kernel sums per image and then adds to the accumulator). The shapes keep K small
// enough that one wrong, missing or doubled product (about S/K) is well above 2 * gamma_K * S (K^2 * u << 1).
// The fast result is also checked against the double-precision reference on the same (float32-exact) inputs:
// |fast - double| <= gamma_K * S + 1e-12 * S (the second term covers the double evaluation's own rounding).
// Measured: the actual differences are ~1e-3 of the bound at K = 577 and ~4e-2 at K = 28, i.e. about
// 1e-5 * (1 + |ref|) or less, so the bound is safe but still tight enough to see a single missing term.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { native, trainerConfig } from '../dist/src/native.js';
import { rng } from './helpers.mjs';

const k = native.kernels;
const U = 2 ** -24;
const gamma = (K) => (K * U) / (1 - K * U);

const randArray = (Ctor, n, r, lo = -1, hi = 1) => {
  const a = new Ctor(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
};
const abs64 = (a) => Float64Array.from(a, Math.abs);
const to64 = (a) => Float64Array.from(a);

const cpuIsa = native.buildInfo().cpuIsa;
const ISAS = ['avx2', 'avx512'];
const supported = (isa) => ISAS.indexOf(isa) <= ISAS.indexOf(cpuIsa) && cpuIsa !== 'scalar';

// [N, H, W, Cin, Cout]
const SHAPES = [
  [1, 3, 3, 3, 16], //   1x1 output: only tails
  [2, 5, 33, 3, 16], //  Wo = 31, W = 33; 3*Cin = 9 taps
  [1, 4, 32, 16, 32], // Wo = 30, W = 32; 48 taps
  [2, 4, 9, 32, 48], //  Wo = 7: below the 13/14/29 tiles, 6 + 1; Cout = 48 = 3 vectors of 16 (1-vector blocks)
  [1, 5, 37, 64, 64], // Wo = 35 = 29 + 6 = 2*14 + 7 = 5*6 + 5; 192 taps
  [2, 3, 20, 32, 64], // Wo = 18 (whole 6-px tiles), W = 20
  [1, 4, 16, 16, 8], //  Cout = 8: the avx2 kernel even under avx512
  [1, 4, 10, 8, 24], //  Cout = 24: avx2 kernel with 1-vector blocks; input gradient with Cin = 8
  [2, 4, 11, 16, 12], // Cout = 12: reference fallback for forward and weight gradient
];

function check(name, fast, ref, exact, S, K) {
  const g = gamma(K);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < fast.length; i++) {
    assert.ok(Number.isFinite(fast[i]), `${name}[${i}] is not finite`);
    const bound = 2 * g * S[i];
    const e = Math.abs(fast[i] - ref[i]) / (bound || 1e-300);
    if (e > worst) {
      worst = e;
      at = i;
    }
    // against double precision: the fp32 result's own error plus the double evaluation's (negligible)
    assert.ok(Math.abs(fast[i] - exact[i]) <= g * S[i] + 1e-12 * S[i], `${name}[${i}]: fast ${fast[i]} vs double ${exact[i]} (S ${S[i]}, K ${K})`);
  }
  assert.ok(worst <= 1, `${name}[${at}]: fast ${fast[at]} vs reference ${ref[at]} exceeds 2*gamma_${K}*S = ${2 * g * S[at]}`);
}

// The fast kernel must differ from the float reference somewhere (another summation order, FMA): otherwise
// the dispatcher silently ran the reference and the comparison proved nothing.
function assertFastPathRan(name, fast, ref) {
  let differ = 0;
  for (let i = 0; i < fast.length; i++) if (fast[i] !== ref[i]) differ++;
  assert.ok(differ > 0, `${name}: bit-identical to the reference on ${fast.length} values, the fast kernel did not run`);
}

for (const isa of ISAS) {
  const skip = supported(isa) ? false : `this CPU's best ISA is '${cpuIsa}'`;
  if (skip) console.log(`# skipping ${isa} kernels: ${skip}`);

  for (const [N, H, W, Cin, Cout] of SHAPES) {
    const Ho = H - 2;
    const Wo = W - 2;
    const shape = `N=${N} H=${H} W=${W} Cin=${Cin} Cout=${Cout}`;
    // Which kernel the dispatcher picks (kernels.cpp): the float reference when the channel count does not fit
    // any vector; avx2 (8 lanes) when it does not fit 16 lanes.
    const fwdFast = Cout % 8 === 0;
    const dinFast = Cin % 8 === 0;

    test(`${isa} conv3x3Forward ${shape}`, { skip }, () => {
      const r = rng(1000 + N * 7 + H * 31 + W * 131 + Cin * 17 + Cout);
      const x = randArray(Float32Array, N * H * W * Cin, r);
      const w = randArray(Float32Array, 9 * Cin * Cout, r, -0.5, 0.5);
      const b = randArray(Float32Array, Cout, r);
      const fast = new Float32Array(N * Ho * Wo * Cout).fill(NaN);
      const ref = new Float32Array(fast.length).fill(NaN);
      k.conv3x3Forward(fast, x, w, b, { N, H, W, Cin, Cout }, isa);
      k.conv3x3Forward(ref, x, w, b, { N, H, W, Cin, Cout }, 'scalar');
      const exact = new Float64Array(fast.length);
      k.conv3x3Forward(exact, to64(x), to64(w), to64(b), { N, H, W, Cin, Cout });
      const S = new Float64Array(fast.length);
      k.conv3x3Forward(S, abs64(x), abs64(w), abs64(b), { N, H, W, Cin, Cout });
      check('out', fast, ref, exact, S, 9 * Cin + 1);
      if (fwdFast && fast.length >= 16) assertFastPathRan('out', fast, ref);
      if (!fwdFast) assert.deepEqual(fast, ref, 'the reference fallback must be the reference');
    });

    test(`${isa} conv3x3BackwardInput ${shape}`, { skip }, () => {
      const r = rng(2000 + N * 7 + H * 31 + W * 131 + Cin * 17 + Cout);
      const dout = randArray(Float32Array, N * Ho * Wo * Cout, r);
      const w = randArray(Float32Array, 9 * Cin * Cout, r, -0.5, 0.5);
      // start from garbage: the input gradient overwrites
      const fast = randArray(Float32Array, N * H * W * Cin, r, 100, 200);
      const ref = randArray(Float32Array, fast.length, r, -200, -100);
      k.conv3x3BackwardInput(fast, dout, w, { N, H, W, Cin, Cout }, isa);
      k.conv3x3BackwardInput(ref, dout, w, { N, H, W, Cin, Cout }, 'scalar');
      const exact = new Float64Array(fast.length);
      k.conv3x3BackwardInput(exact, to64(dout), to64(w), { N, H, W, Cin, Cout });
      const S = new Float64Array(fast.length);
      k.conv3x3BackwardInput(S, abs64(dout), abs64(w), { N, H, W, Cin, Cout });
      check('din', fast, ref, exact, S, 9 * Cout);
      if (dinFast) assertFastPathRan('din', fast, ref);
      else assert.deepEqual(fast, ref, 'the reference fallback must be the reference');
    });

    test(`${isa} conv3x3BackwardWeight accumulates ${shape}`, { skip }, () => {
      const r = rng(3000 + N * 7 + H * 31 + W * 131 + Cin * 17 + Cout);
      const dout = randArray(Float32Array, N * Ho * Wo * Cout, r);
      const x = randArray(Float32Array, N * H * W * Cin, r, 0, 1);
      // non-zero starting gradients: the kernel adds to them
      const dw0 = randArray(Float32Array, 9 * Cin * Cout, r, -4, 4);
      const db0 = randArray(Float32Array, Cout, r, -4, 4);
      const dw = Float32Array.from(dw0);
      const db = Float32Array.from(db0);
      const dwRef = Float32Array.from(dw0);
      const dbRef = Float32Array.from(db0);
      k.conv3x3BackwardWeight(dw, db, dout, x, { N, H, W, Cin, Cout }, isa);
      k.conv3x3BackwardWeight(dwRef, dbRef, dout, x, { N, H, W, Cin, Cout }, 'scalar');
      const dwExact = to64(dw0);
      const dbExact = to64(db0);
      k.conv3x3BackwardWeight(dwExact, dbExact, to64(dout), to64(x), { N, H, W, Cin, Cout });
      const dwS = abs64(dw0);
      const dbS = abs64(db0);
      k.conv3x3BackwardWeight(dwS, dbS, abs64(dout), abs64(x), { N, H, W, Cin, Cout });
      const K = N * Ho * Wo + N + 1;
      check('dw', dw, dwRef, dwExact, dwS, K);
      check('db', db, dbRef, dbExact, dbS, K);
      if (fwdFast && N * Ho * Wo > 4) assertFastPathRan('dw', dw, dwRef);
      // a kernel that overwrote instead of accumulating would be off by dw0 (|dw0| up to 4, far above the bound)
      let moved = 0;
      for (let i = 0; i < dw.length; i++) if (Math.abs(dw[i] - dwExact[i]) > 1e-2) moved++;
      assert.equal(moved, 0);
    });
  }
}

// Independent JS evaluation of the reference forward in double, in the reference's exact order (bias first,
// then ky, kx, ci): a Float64Array call must run the reference whatever isa says, so it matches bit for bit.
function jsConvForward(x, w, b, N, H, W, Cin, Cout) {
  const Ho = H - 2;
  const Wo = W - 2;
  const out = new Float64Array(N * Ho * Wo * Cout);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < Ho; y++)
      for (let xx = 0; xx < Wo; xx++)
        for (let co = 0; co < Cout; co++) {
          let s = b[co];
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++)
              for (let ci = 0; ci < Cin; ci++)
                s += x[((n * H + y + ky) * W + xx + kx) * Cin + ci] * w[((ky * 3 + kx) * Cin + ci) * Cout + co];
          out[((n * Ho + y) * Wo + xx) * Cout + co] = s;
        }
  return out;
}

test('a Float64Array call runs the double reference, whatever the isa', () => {
  const [N, H, W, Cin, Cout] = [2, 5, 9, 16, 32];
  const r = rng(5);
  const x = randArray(Float64Array, N * H * W * Cin, r);
  const w = randArray(Float64Array, 9 * Cin * Cout, r);
  const b = randArray(Float64Array, Cout, r);
  const expected = jsConvForward(x, w, b, N, H, W, Cin, Cout);
  for (const isa of [undefined, 'scalar', ...ISAS.filter(supported)]) {
    const out = new Float64Array(expected.length);
    k.conv3x3Forward(out, x, w, b, { N, H, W, Cin, Cout }, isa);
    assert.deepEqual(out, expected, `isa ${isa}`);
  }
  // and its output is not a float32 result: some values are not representable in float32
  const out = new Float64Array(expected.length);
  k.conv3x3Forward(out, x, w, b, { N, H, W, Cin, Cout });
  assert.ok(out.some((v) => Math.fround(v) !== v));
});

test('isa names: unknown names are RangeErrors, ISAs the CPU lacks are RangeErrors', (t) => {
  const [N, H, W, Cin, Cout] = [1, 3, 3, 1, 16];
  const args = () => [new Float32Array(Cout), new Float32Array(9 * Cin), new Float32Array(9 * Cin * Cout), new Float32Array(Cout), { N, H, W, Cin, Cout }];
  assert.throws(() => k.conv3x3Forward(...args(), 'avx1024'), (e) => e instanceof RangeError && /isa/.test(e.message) && /avx1024/.test(e.message));
  assert.throws(() => k.conv3x3Forward(...args(), 7), (e) => e instanceof TypeError && /isa/.test(e.message));
  const lacking = ISAS.filter((isa) => !supported(isa));
  if (lacking.length === 0) {
    t.diagnostic(`the CPU supports every ISA (cpuIsa '${cpuIsa}'): nothing to reject`);
    console.log(`# no lacking ISA to test: cpuIsa is '${cpuIsa}' (ENGINE_ISA does not change what the CPU supports)`);
  }
  for (const isa of lacking) {
    assert.throws(() => k.conv3x3Forward(...args(), isa), (e) => e instanceof RangeError && e.message.includes(isa) && /not supported/.test(e.message));
    const tr = () => new native.Trainer(trainerConfig({ spec: { input: [4, 4, 1], layers: [{ type: 'flatten' }, { type: 'dense', units: 1 }] }, isa }));
    assert.throws(tr, (e) => e instanceof RangeError && e.message.includes(isa));
  }
});

test('wrong-length and wrong-type arrays are rejected, naming the argument', () => {
  const [N, H, W, Cin, Cout] = [1, 5, 6, 3, 16];
  const Ho = H - 2;
  const Wo = W - 2;
  const good = () => ({
    out: new Float32Array(N * Ho * Wo * Cout),
    x: new Float32Array(N * H * W * Cin),
    w: new Float32Array(9 * Cin * Cout),
    b: new Float32Array(Cout),
    dout: new Float32Array(N * Ho * Wo * Cout),
  });
  const range = (name) => (e) => e instanceof RangeError && new RegExp(`^${name} must have \\d+ elements`).test(e.message);
  const type = (name) => (e) => e instanceof TypeError && new RegExp(`^${name} must be a Float32Array`).test(e.message);
  let g = good();
  k.conv3x3Forward(g.out, g.x, g.w, g.b, { N, H, W, Cin, Cout }); // the good call works
  assert.throws(() => k.conv3x3Forward(new Float32Array(1), g.x, g.w, g.b, { N, H, W, Cin, Cout }), range('out'));
  assert.throws(() => k.conv3x3Forward(g.out, new Float32Array(g.x.length + 1), g.w, g.b, { N, H, W, Cin, Cout }), range('in'));
  assert.throws(() => k.conv3x3Forward(g.out, g.x, new Float32Array(9 * Cin * Cout - 1), g.b, { N, H, W, Cin, Cout }), range('w'));
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, new Float32Array(Cout + 1), { N, H, W, Cin, Cout }), range('b'));
  // a shape that disagrees with the arrays is a length error too (not a buffer overrun); which of the two
  // arrays is named first is up to the addon
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, g.b, { N, H: H + 1, W, Cin, Cout }), range('(out|in)'));
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, g.b, { N, H, W, Cin, Cout: 0 }), (e) => e instanceof RangeError && /^shape\.Cout must be an integer in \[1, 4096\], got 0$/.test(e.message));
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, g.b, { N, H: 2, W, Cin, Cout }), (e) => e instanceof RangeError && /^shape\.H must be an integer in \[3, 65536\], got 2$/.test(e.message));
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, g.b, { N: 1.5, H, W, Cin, Cout }), (e) => e instanceof RangeError && /^shape\.N must be an integer in \[1, 65536\], got 1\.5$/.test(e.message));
  // the sizes are one object: a missing field or a non-object shape is a TypeError naming it
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, g.b, { N, H, W, Cin }), (e) => e instanceof TypeError && /^shape\.Cout must be a number/.test(e.message));
  assert.throws(() => k.conv3x3Forward(g.out, g.x, g.w, g.b, N, H, W, Cin, Cout), (e) => e instanceof TypeError && /^shape must be an object \{N, H, W, Cin, Cout\}/.test(e.message));
  // mixed element types
  assert.throws(() => k.conv3x3Forward(g.out, g.x, new Float64Array(g.w.length), g.b, { N, H, W, Cin, Cout }), type('w'));
  assert.throws(() => k.conv3x3Forward(g.out, Array.from(g.x), g.w, g.b, { N, H, W, Cin, Cout }), type('in'));

  g = good();
  assert.throws(() => k.conv3x3BackwardInput(new Float32Array(g.x.length - 1), g.dout, g.w, { N, H, W, Cin, Cout }), range('din'));
  assert.throws(() => k.conv3x3BackwardInput(g.x, new Float32Array(3), g.w, { N, H, W, Cin, Cout }), range('dout'));
  assert.throws(() => k.conv3x3BackwardInput(g.x, g.dout, new Float32Array(1), { N, H, W, Cin, Cout }), range('w'));
  assert.throws(() => k.conv3x3BackwardWeight(new Float32Array(1), g.b, g.dout, g.x, { N, H, W, Cin, Cout }), range('dw'));
  assert.throws(() => k.conv3x3BackwardWeight(g.w, new Float32Array(Cout - 1), g.dout, g.x, { N, H, W, Cin, Cout }), range('db'));
  assert.throws(() => k.conv3x3BackwardWeight(g.w, g.b, new Float32Array(1), g.x, { N, H, W, Cin, Cout }), range('dout'));
  assert.throws(() => k.conv3x3BackwardWeight(g.w, g.b, g.dout, new Float32Array(1), { N, H, W, Cin, Cout }), range('in'));
  // the rejected calls wrote nothing
  assert.ok(g.w.every((v) => v === 0) && g.b.every((v) => v === 0));

  // the other kernels check their lengths the same way
  assert.throws(() => k.maxpool2x2Forward(new Float32Array(3), new Float32Array(16), { N: 1, H: 4, W: 4, C: 1 }), range('out'));
  assert.throws(() => k.denseForward(new Float32Array(2), new Float32Array(3), new Float32Array(5), new Float32Array(2), { N: 1, I: 3, O: 2 }), range('w'));
  assert.throws(() => k.reluBackward(new Float32Array(3), new Float32Array(4), new Float32Array(4)), range('din'));
  assert.throws(() => k.sigmoidBce(null, new Float64Array(3), new Float64Array(2), 1), (e) => e instanceof RangeError && /^label must have/.test(e.message));
  assert.throws(() => k.augmentWarp(new Float32Array(11), new Uint8Array(12), { H: 2, W: 2, C: 3 }, 0, 1, 1, false, 1), range('out'));
  assert.throws(() => k.augmentWarp(new Float32Array(12), new Float32Array(12), { H: 2, W: 2, C: 3 }, 0, 1, 1, false, 1), (e) => e instanceof TypeError && /^in must be a Uint8Array/.test(e.message));
});
