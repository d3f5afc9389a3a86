// A command's flags from its option table (src/options/): the yargs options, then the parsed flags as typed
// values. Numbers arrive from yargs as strings so that an error can quote what the user typed; yargs gets no
// defaults, so a flag it parsed is one that was typed (what a resumed run compares with its recorded config).
import type { Argv, Options, PositionalOptions } from 'yargs';
import { UsageError } from '../errors.js';
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
