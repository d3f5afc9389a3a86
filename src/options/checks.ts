// Range checks shared by the library's entry points (training, evaluation, prediction): one wording everywhere.
import { UsageError } from '../errors.js';

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

/** "a, b or c" */
export const orList = (choices: readonly string[]): string =>
  choices.length < 2 ? choices.join('') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;

/** `value` if it is one of `choices`, else a UsageError saying which were expected and what came. */
export function oneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) throw new UsageError(`--${name} must be ${orList(choices)}, got ${JSON.stringify(value)}`);
  return value as T;
}
