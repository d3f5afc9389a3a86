// `engine data fetch`: download and verify the seed's dataset into ./data (or --dest).
import type { Argv } from 'yargs';
import { fetchDataset, type FetchOptions } from '../data/fetch.js';
import { FETCH_OPTIONS } from '../options/data-fetch.js';
import { addOptions, readFlags } from './flags.js';

export function dataCommand(yargs: Argv) {
  return yargs.command('data', 'get datasets', (y) =>
    y
      .command(
        'fetch',
        "download the seed's 575 CelebA images, verify each against the committed SHA-256 manifest, lay them out as DEST/{all,train,val}",
        (f) => addOptions(f, FETCH_OPTIONS),
        async (argv) => {
          const { json, ...options } = readFlags<FetchOptions & { json: boolean }>(FETCH_OPTIONS, argv);
          const human = json ? process.stderr : process.stdout;
          const result = await fetchDataset({ ...options, onLog: (line) => human.write(line + '\n') });
          if (json) process.stdout.write(JSON.stringify(result) + '\n');
        },
      )
      .demandCommand(1, 'name the action: engine data fetch'),
  );
}
