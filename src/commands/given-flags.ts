// Which flags the user actually typed: yargs fills in defaults, but a resumed run must tell "--lr 0.001 given"
// (checked against the recorded config) from "--lr not given" (the recorded value is used).
import { Parser, hideBin } from 'yargs/helpers';

/** Flag names (as typed, kebab-case, without dashes) present in `args`; `--no-x` counts as giving `x`. */
export function givenFlags(args: string[] = hideBin(process.argv), booleans: string[] = []): Set<string> {
  const parsed = Parser(args, { boolean: booleans, configuration: { 'camel-case-expansion': false } });
  return new Set(Object.keys(parsed).filter((k) => k !== '_' && k !== '--'));
}

/** `options` without the entries whose flag (camelCase key -> kebab-case) was not typed. */
export function onlyGiven<T extends object>(options: T, given: Set<string>): Partial<T> {
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return Object.fromEntries(Object.entries(options).filter(([k]) => given.has(kebab(k)))) as Partial<T>;
}
