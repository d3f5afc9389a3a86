#!/usr/bin/env node
// The `engine` command line. Exit codes: 0 success, 2 bad input (flags, files, folders), 1 internal error.
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EngineError } from './errors.js';
import { asWriteError } from './io/atomic.js';
import { helpEpilog } from './commands/flags.js';
import { installSignalHandlers } from './commands/signals.js';
import { ENGINE_VERSION } from './version.js';

type Registrar = (y: Argv) => Argv;
/** Each command's module, loaded on demand: a command's run loads its own module only (start-up time). */
const COMMANDS: Record<string, () => Promise<Registrar>> = {
  train: async () => (await import('./commands/train.js')).trainCommand as Registrar,
  cv: async () => (await import('./commands/cv.js')).cvCommand as Registrar,
  import: async () => (await import('./commands/import.js')).importCommand as Registrar,
  labels: async () => (await import('./commands/labels.js')).labelsCommand as Registrar,
  export: async () => (await import('./commands/export.js')).exportCommand as Registrar,
  eval: async () => (await import('./commands/eval.js')).evalCommand as Registrar,
  predict: async () => (await import('./commands/predict.js')).predictCommand as Registrar,
  data: async () => (await import('./commands/data.js')).dataCommand as Registrar,
  'serve-demo': async () => (await import('./commands/serve-demo.js')).serveDemoCommand as Registrar,
  info: async () => (await import('./commands/info.js')).infoCommand as Registrar,
};

function fail(message: string, code: number): never {
  process.stderr.write(`engine: ${message}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  installSignalHandlers();
  let cli = yargs(hideBin(process.argv))
    .scriptName('engine')
    .version(ENGINE_VERSION)
    .strict()
    .demandCommand(1, 'name a command: engine train --help')
    .recommendCommands()
    // yargs renders the help text before every command's run, in case the command shows it; wrapping it to the
    // terminal is a visible part of start-up, so it is wrapped only where it is printed (--help)
    .wrap(process.argv.includes('--help') ? Math.min(110, process.stdout.columns || 110) : null)
    .epilog(
      helpEpilog([
        ['engine train --data ../shared/data/celeba-575 --seed 1 --out runs/seed1', "train the seed's model on the seed's faces"],
        ['engine export onnx && engine eval val --data ../shared/data/celeba-575', "export the newest run's model, then its report on val"],
        ['engine predict face.jpg', "classify an image with the newest run's model"],
      ]),
    )
    .fail((msg, err) => {
      if (err) throw err;
      fail(msg, 2);
    });
  // `engine eval ...` registers eval alone; anything else (no command, --help, a typo) all of them, in this order
  const named = process.argv[2];
  const chosen = Object.hasOwn(COMMANDS, named ?? '') ? [COMMANDS[named]] : Object.values(COMMANDS);
  for (const register of await Promise.all(chosen.map((load) => load()))) cli = register(cli);
  await cli.parseAsync();
}

main().catch((err: unknown) => {
  // a full, read-only or forbidden disk met where no writer named its file: still the user's to act on
  const path = (err as NodeJS.ErrnoException)?.path;
  const disk = typeof path === 'string' ? asWriteError(path, err) : err;
  if (disk instanceof EngineError) fail(disk.message, disk.exitCode);
  // TypeError/RangeError from the addon name the argument: they are still bugs of the caller (us).
  fail(`internal error: ${(err as Error)?.stack ?? String(err)}`, 1);
});
