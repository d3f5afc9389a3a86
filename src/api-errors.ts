// The library's errors name options as its API spells them: `options.out`, not the CLI's `--out`. Messages are
// written once, in the CLI's words; a library call rewrites the flags of its own option table in them.
import { EngineError } from './errors.js';
import { keyOf, type OptionTable } from './options/table.js';

/** Text that names a command to run ('engine data fetch --url <archive>') keeps its flags. */
const COMMAND = /\bengine [a-z][^;)\n]*/g;

/** `message` with every --flag (and --no-flag) of `table` written as options.<key>, except inside commands. */
export function apiWording(message: string, table: OptionTable): string {
  const keys = new Map<string, string>();
  for (const o of table) {
    if (o.only === 'cli') continue;
    keys.set(o.flag, keyOf(o));
    if (o.alias) keys.set(o.alias, o.alias);
  }
  const rewrite = (text: string) =>
    text.replace(/--(no-)?([a-z][a-z0-9-]*)/g, (whole, no: string | undefined, flag: string) => {
      const key = keys.get(flag);
      if (key === undefined) return whole;
      return no ? `options.${key} = false` : `options.${key}`;
    });
  let out = '';
  let last = 0;
  for (const m of message.matchAll(COMMAND)) {
    out += rewrite(message.slice(last, m.index)) + m[0];
    last = m.index! + m[0].length;
  }
  return out + rewrite(message.slice(last));
}

/** `fn` whose EngineErrors (bad input) name the options of `table` as the library spells them. */
export function withApiErrors<F extends (...args: never[]) => Promise<unknown>>(fn: F, table: OptionTable): F {
  const wrapped = async (...args: Parameters<F>) => {
    try {
      return await fn(...args);
    } catch (err) {
      if (err instanceof EngineError) err.message = apiWording(err.message, table);
      throw err;
    }
  };
  Object.defineProperty(wrapped, 'name', { value: fn.name });
  return wrapped as F;
}
