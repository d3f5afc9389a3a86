// A command's flags from its option table (src/options/): the yargs options, then the parsed flags as typed
// values. Numbers arrive from yargs as strings so that an error can quote what the user typed; yargs gets no
// defaults, so a flag it parsed is one that was typed (what a resumed run compares with its recorded config).
import os from 'node:os';
import type { Argv, Options, PositionalOptions } from 'yargs';
import { UsageError } from '../errors.js';
import { MAX_THREADS } from '../options/checks.js';
import { helpText, keyOf, type OptionSpec, type OptionTable } from '../options/table.js';

/** ' [choices: winograd, direct]': the values of a flag whose check is ours (yargs shows its own for the others) */
const choicesText = (o: OptionSpec): string => (o.choices && !o.yargsChoices ? ` [choices: ${o.choices.join(', ')}]` : '');

/** Registers the table's flags and positionals (all but the library-only rows) on a yargs command. */
export function addOptions(y: Argv, table: OptionTable): Argv {
  for (const o of table) {
    if (o.only === 'library') continue;
    const common = {
      describe: helpText(o) + choicesText(o),
      ...(o.choices && o.yargsChoices ? { choices: [...o.choices] } : {}),
      ...(o.alias ? { alias: o.alias } : {}),
    };
    if (o.positional) {
      const type = o.type === 'boolean' ? 'boolean' : 'string';
      // an array positional: yargs would add an empty default of its own
      const array = o.array ? { array: true, default: undefined } : {};
      y = y.positional(o.flag, { ...common, type, ...array, ...(o.required ? { demandOption: true } : {}) } as PositionalOptions);
    } else {
      y = y.option(o.flag, { ...common, type: o.type === 'boolean' ? 'boolean' : 'string' } as Options);
      // --help shows [number] for a number; parsed, it stays the text typed (yargs-parser converts only the flags
      // that are not also strings), so that parseNumber can quote it
      if (o.type === 'integer' || o.type === 'number') y = y.number(o.flag);
    }
  }
  return y;
}

/**
 * The end of a command's --help: `notes` (a paragraph), then its examples, each a comment line and the command
 * (yargs' own examples would come before the epilog, and in two columns too narrow for these commands).
 */
export function helpEpilog(examples: readonly [command: string, what: string][], notes?: string): string {
  const lines = examples.flatMap(([command, what]) => [`  # ${what}`, `  ${command}`]);
  return [...(notes ? [notes, ''] : []), 'Examples:', ...lines].join('\n');
}

/** A decimal number as people type it: 12, -0.5, .5, 1e-3 (no hex, octal, binary, Infinity or NaN). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function parseNumber(o: OptionSpec, raw: string): number {
  const s = raw.trim();
  if (o.type === 'integer') {
    if (!/^[+]?\d+$/.test(s)) throw new UsageError(`--${o.flag} expects a whole number, got '${raw}'`);
    return Number(s);
  }
  const n = Number(s);
  if (!DECIMAL.test(s) || !Number.isFinite(n)) throw new UsageError(`--${o.flag} expects a decimal number, got '${raw}'`);
  return n;
}

/**
 * The one rule for every flag of every command: a single-valued flag is given once, and with a value. yargs
 * gathers a repeated flag into an array (`--out a --out b`), gives '' for one typed without a value, and an
 * object for dotted names (`--out.x`); each is a usage error naming the flag.
 */
function singleValue(o: OptionSpec, raw: unknown): unknown {
  const name = o.positional ? o.flag.toUpperCase() : `--${o.flag}`;
  if (Array.isArray(raw)) {
    if (o.array) {
      if (raw.some((v) => String(v).trim() === '')) throw new UsageError(`${name}: an empty name among ${raw.map((v) => JSON.stringify(String(v))).join(', ')}`);
      return raw;
    }
    throw new UsageError(`${name} was given ${raw.length} times (${raw.map((v) => JSON.stringify(v)).join(', ')}): give it once`);
  }
  if (raw !== null && typeof raw === 'object') throw new UsageError(`${name} was given with a dotted name (${name}.${Object.keys(raw).join(', .')}): no such flag`);
  if (o.type === 'boolean') {
    if (typeof raw !== 'boolean') throw new UsageError(`${name} is a switch (--${o.flag} or --no-${o.flag}), got ${JSON.stringify(raw)}`);
    return raw;
  }
  if (typeof raw === 'number') return String(raw);
  if (raw === false && o.negated !== undefined) return o.negated;
  if (typeof raw !== 'string') throw new UsageError(`${name} expects a value, got ${JSON.stringify(raw)}`);
  if (raw.trim() === '') throw new UsageError(`${name} was given without a value: give ${o.positional ? 'one' : `--${o.flag} VALUE`}`);
  return raw;
}

/** --threads above the cores here costs memory (a workspace per thread) and start-up, and buys no speed. */
function warnThreads(value: unknown): void {
  const cores = os.availableParallelism();
  if (typeof value === 'number' && value > cores && value <= MAX_THREADS)
    process.stderr.write(`warning: --threads ${value} is more than the ${cores} cores here: each thread takes memory and none adds speed\n`);
}

/**
 * The parsed flags by camelCase key, numbers as numbers. A flag that was not typed is undefined, except the
 * command-only ones (--json, --quiet, --fetch...), which get their default here: no library function resolves them.
 */
export function readFlags<T>(table: OptionTable, argv: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const o of table) {
    if (o.only === 'library') continue;
    const key = keyOf(o);
    const raw = argv[o.flag];
    if (raw === undefined) {
      out[key] = o.only === 'cli' ? o.default : undefined;
      continue;
    }
    const value = singleValue(o, raw);
    if (o.type === 'integer' || o.type === 'number') out[key] = parseNumber(o, value as string);
    else if (o.array) out[key] = (value as unknown[]).map(String);
    else out[key] = value;
  }
  if (table.some((o) => o.flag === 'threads')) warnThreads(out.threads);
  // T is the caller's name for the table's rows (the table and T are written side by side in src/options/)
  return out as T;
}
