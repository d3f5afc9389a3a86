// `engine data fetch`: download and verify the seed's dataset into ./data (or --dest).
import type { Argv } from 'yargs';
import type { FetchOptions } from '../data/fetch.js';
import { FETCH_OPTIONS } from '../options/data-fetch.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

export function dataCommand(yargs: Argv) {
  return yargs.command('data', 'get datasets', (y) =>
    y
      .command(
        'fetch',
        "download the seed's 575 CelebA images, verify each against the committed SHA-256 manifest, lay them out as DEST/{all,train,val}",
        (f) =>
          addOptions(f, FETCH_OPTIONS).epilog(
            helpEpilog([
              ['engine data fetch --dest ./data', "download the seed's images into ./data and check them"],
              ['engine data fetch --url ~/Downloads/gender-prediction.tar.gz --dest ./data', 'the same from an archive downloaded elsewhere (no network)'],
            ]),
          ),
        async (argv) => {
          const { json, ...options } = readFlags<FetchOptions & { json: boolean }>(FETCH_OPTIONS, argv);
          const { fetchDataset } = await import('../data/fetch.js');
          const human = json ? process.stderr : process.stdout;
          const result = await fetchDataset({ ...options, onLog: (line) => human.write(line + '\n') });
          if (json) process.stdout.write(JSON.stringify(result) + '\n');
        },
      )
      .demandCommand(1, 'name the action: engine data fetch'),
  );
}
