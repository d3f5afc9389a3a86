/**
 * numpy.savetxt's default number format, '%.18e', reproduced exactly as C printf (glibc) writes it.
 * Number#toExponential is not enough: besides the one-digit exponent, it rounds exact ties away
 * from zero where printf rounds them to even (1 + 2**-19 -> ...813 vs printf's ...812), so this
 * rounds the double's exact decimal expansion itself.
 */

const SIG_DIGITS = 19; // one before the point, 18 after

/** Formats `x` like printf("%.18e") / Python's '%.18e' % x (nan, inf, -inf for non-finite values). */
export function formatE18(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  if (x === 0) return `${sign}0.${'0'.repeat(SIG_DIGITS - 1)}e+00`;

  const [digits, exp10] = exactDecimal(Math.abs(x));
  let head = BigInt(digits.slice(0, SIG_DIGITS).padEnd(SIG_DIGITS, '0'));
  let exponent = exp10;
  if (digits.length > SIG_DIGITS && roundsUp(digits.slice(SIG_DIGITS), head)) {
    head += 1n;
    if (head === 10n ** BigInt(SIG_DIGITS)) {
      head /= 10n;
      exponent += 1;
    }
  }
  const s = head.toString();
  const expSign = exponent < 0 ? '-' : '+';
  return `${sign}${s[0]}.${s.slice(1)}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/** Round half to even on the dropped digits `rest`. */
function roundsUp(rest: string, head: bigint): boolean {
  if (rest[0] !== '5') return rest[0] > '5';
  if (/[1-9]/.test(rest.slice(1))) return true;
  return head % 2n === 1n;
}

/**
 * The exact decimal digits of a positive finite double (no leading zeros) and the power of ten
 * of the first digit: x = 0.d1d2d3... * 10^(exp10 + 1).
 */
function exactDecimal(x: number): [string, number] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  // x = mantissa * 2^exp2 (subnormals have no implicit leading bit)
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exp2 = (biased === 0 ? 1 : biased) - 1075;
  if (exp2 >= 0) {
    const digits = (mantissa << BigInt(exp2)).toString();
    return [digits, digits.length - 1];
  }
  // m / 2^k = m * 5^k / 10^k
  const k = -exp2;
  const digits = (mantissa * 5n ** BigInt(k)).toString();
  return [digits, digits.length - 1 - k];
}
