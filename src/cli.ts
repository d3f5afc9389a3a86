#!/usr/bin/env node
// The `engine` command line. Exit codes: 0 success, 2 bad input (flags, files, folders), 1 internal error.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EngineError } from './errors.js';
import { asWriteError } from './io/atomic.js';
import { trainCommand } from './commands/train.js';
import { cvCommand } from './commands/cv.js';
import { importCommand } from './commands/import.js';
import { labelsCommand } from './commands/labels.js';
import { exportCommand } from './commands/export.js';
import { evalCommand } from './commands/eval.js';
import { predictCommand } from './commands/predict.js';
import { dataCommand } from './commands/data.js';
import { serveDemoCommand } from './commands/serve-demo.js';
import { infoCommand } from './commands/info.js';
import { helpEpilog } from './commands/flags.js';
import { installSignalHandlers } from './commands/signals.js';
import { ENGINE_VERSION } from './version.js';

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
    .wrap(Math.min(110, process.stdout.columns || 110))
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
  cli = trainCommand(cli);
  cli = cvCommand(cli);
  cli = importCommand(cli);
  cli = labelsCommand(cli);
  cli = exportCommand(cli);
  cli = evalCommand(cli);
  cli = predictCommand(cli);
  cli = dataCommand(cli);
  cli = serveDemoCommand(cli);
  cli = infoCommand(cli);
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
