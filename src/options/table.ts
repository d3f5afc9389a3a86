// An option table: every flag of one command, with its type, default, choices and description, written once.
// The yargs command is generated from it (commands/flags.ts) and the library function resolves its options
// with the same defaults (table rows for library keys). yargs gets no defaults: an option it parsed is one the
// user typed, which is what a resumed run needs to know.

export type OptionType = 'string' | 'integer' | 'number' | 'boolean';

export interface OptionSpec {
  /** the flag as typed, without dashes ('batch-size'); its library key is the camelCase form ('batchSize') */
  flag: string;
  /** the library's name for it, when that is not the flag's camelCase form (--card is `modelCard`) */
  key?: string;
  type: OptionType;
  description: string;
  /** the default, when it is a constant; the only place it is written down */
  default?: string | number | boolean;
  /** the default in words, when it is computed where the option is resolved ('all cores', 'random, recorded') */
  defaultText?: string;
  /** the allowed values, shown in --help and checked where the options are resolved */
  choices?: readonly string[];
  /** yargs refuses other values too, with its own message (the flags whose message has always been yargs') */
  yargsChoices?: boolean;
  alias?: string;
  /**
   * 'cli': a flag of the command only (how it prints, whether it fetches); 'library': an option of the library
   * function that has no flag. Absent: both.
   */
  only?: 'cli' | 'library';
  /** a positional argument */
  positional?: boolean;
  /** a positional that takes the rest of the words */
  array?: boolean;
  /** a positional that must be given */
  required?: boolean;
  /** a valued flag whose --no-FLAG form means this value (--no-augment: 'none') */
  negated?: string;
}

export type OptionTable = readonly OptionSpec[];

/** 'batch-size' -> 'batchSize' */
export const camelKey = (flag: string): string => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The library key of a row. */
export const keyOf = (o: OptionSpec): string => o.key ?? camelKey(o.flag);

/** 'batchSize' -> 'batch-size' */
export const kebabFlag = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The constant defaults of the table's library options, by camelCase key. */
export function defaultsOf(table: OptionTable): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const o of table) if (o.default !== undefined && o.only !== 'cli') out[keyOf(o)] = o.default;
  return out;
}

/** The defaults of `table` with the options of `given` that are not undefined on top. */
export function withDefaults<T extends object>(table: OptionTable, given: T): T {
  const set = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  return { ...defaultsOf(table), ...set } as T;
}

/** The row of `flag` (a table's own lookup: a missing row is a bug, not bad input). */
export function optionOf(table: OptionTable, flag: string): OptionSpec {
  const spec = table.find((o) => o.flag === flag);
  if (!spec) throw new Error(`no option --${flag} in this table`);
  return spec;
}

/** The help text of a flag: its description and its default (numbers as numbers, words as words). */
export function helpText(o: OptionSpec): string {
  const shown = o.type === 'boolean' ? (o.default === true ? 'on' : undefined) : o.default === undefined ? undefined : String(o.default);
  const dflt = o.defaultText ?? shown;
  return dflt === undefined ? o.description : `${o.description} (default: ${dflt})`;
}
