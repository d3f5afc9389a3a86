// A command's flags from its option table (src/options/): the yargs options, then the parsed flags as typed
// values. Numbers arrive from yargs as strings so that an error can quote what the user typed; yargs gets no
// defaults, so a flag it parsed is one that was typed (what a resumed run compares with its recorded config).
import type { Argv, Options, PositionalOptions } from 'yargs';
import { UsageError } from '../errors.js';
import { helpText, keyOf, type OptionSpec, type OptionTable } from '../options/table.js';

/** Registers the table's flags and positionals (all but the library-only rows) on a yargs command. */
export function addOptions(y: Argv, table: OptionTable): Argv {
  for (const o of table) {
    if (o.only === 'library') continue;
    const common = {
      describe: helpText(o),
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
    }
  }
  return y;
}

function parseNumber(o: OptionSpec, raw: unknown): number {
  const s = String(raw).trim();
  if (o.type === 'integer') {
    if (!/^[+]?\d+$/.test(s)) throw new UsageError(`--${o.flag} expects a whole number, got '${raw}'`);
    return Number(s);
  }
  const n = Number(s);
  if (s === '' || !Number.isFinite(n)) throw new UsageError(`--${o.flag} expects a number, got '${raw}'`);
  return n;
}

/**
 * The parsed flags by camelCase key, numbers as numbers. A flag that was not typed is undefined, except the
 * command-only ones (--json, --quiet, --fetch...), which get their default here: no library function resolves them.
 */
export function readFlags<T>(table: OptionTable, argv: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const o of table) {
    if (o.only === 'library') continue;
    const raw = argv[o.flag];
    const key = keyOf(o);
    if (raw === undefined) out[key] = o.only === 'cli' ? o.default : undefined;
    else if (o.type === 'integer' || o.type === 'number') out[key] = parseNumber(o, raw);
    else if (o.array) out[key] = (raw as unknown[]).map(String);
    else out[key] = raw;
  }
  // T is the caller's name for the table's rows (the table and T are written side by side in src/options/)
  return out as T;
}
