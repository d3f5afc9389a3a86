// Flag parsing shared by the commands: numbers arrive as strings so an error can quote what the user typed.
import { UsageError } from '../errors.js';

export function parseIntFlag(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  if (!/^[+]?\d+$/.test(s)) throw new UsageError(`--${name} expects a whole number, got '${raw}'`);
  return Number(s);
}

export function parseNumberFlag(name: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  const n = Number(s);
  if (s === '' || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${raw}'`);
  return n;
}
