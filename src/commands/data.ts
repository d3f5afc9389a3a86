// `engine data fetch`: download and verify the seed's dataset into ./data (or --dest).
import type { Argv } from 'yargs';
import { DEFAULT_DATA_URL, fetchDataset } from '../data/fetch.js';

export function dataCommand(yargs: Argv) {
  return yargs.command('data', 'get datasets', (y) =>
    y
      .command(
        'fetch',
        "download the seed's 575 CelebA images, verify each against the committed SHA-256 manifest, lay them out as DEST/{all,train,val}",
        (f) =>
          f
            .option('dest', { type: 'string', default: './data', describe: 'folder to create (must not exist, or be empty)' })
            .option('url', {
              type: 'string',
              describe: `tar.gz archive: an http(s) URL or a local file (default: $ENGINE_DATA_URL, else ${DEFAULT_DATA_URL})`,
            })
            .option('json', { type: 'boolean', default: false, describe: 'print a machine-readable summary on stdout' }),
        async (argv) => {
          const human = argv.json ? process.stderr : process.stdout;
          const result = await fetchDataset({ dest: argv.dest, url: argv.url, onLog: (line) => human.write(line + '\n') });
          if (argv.json) process.stdout.write(JSON.stringify(result) + '\n');
        },
      )
      .demandCommand(1, 'name the action: engine data fetch'),
  );
}
