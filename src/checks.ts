// Range checks shared by the library's entry points (training, evaluation, prediction): one wording everywhere.
import { UsageError } from './errors.js';

/** Threads of the native engine and of onnxruntime: at most this many (more only costs memory and start-up). */
export const MAX_THREADS = 256;

export function integerIn(name: string, value: unknown, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi)
    throw new UsageError(`--${name} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(value)}`);
  return value;
}

export function positiveNumber(name: string, value: unknown, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max)
    throw new UsageError(`--${name} must be a number in (0, ${max}], got ${JSON.stringify(value)}`);
  return value;
}

/** `--threads`: absent means `fallback` (all cores); else a whole number in [1, MAX_THREADS]. */
export function threadsOption(value: unknown, fallback: number): number {
  return value === undefined ? fallback : integerIn('threads', value, 1, MAX_THREADS);
}
