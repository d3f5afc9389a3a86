// `engine import keras`: converts the seed's Keras HDF5 weights into an engine checkpoint.
import type { Argv } from 'yargs';
import { importKeras } from '../keras/import.js';
import { parseIntFlag } from './args.js';

export function importCommand(yargs: Argv) {
  return yargs.command('import', 'convert weights of another framework into an engine checkpoint', (y) =>
    y
      .command(
        'keras [weights]',
        "import Keras (2.x) HDF5 weights of the seed's model (seed7), e.g. weights70.h5",
        (k) =>
          k
            .positional('weights', { type: 'string', describe: 'a save_weights() file, e.g. weights70.h5 (a model.save() file works too)' })
            .option('model-h5', { type: 'string', describe: "a model.save() file: its architecture must be seed7; its weights are used when WEIGHTS is left out" })
            .option('out', { alias: 'o', type: 'string', describe: 'checkpoint to write, or a folder for it (default: <WEIGHTS name>.safetensors here)' })
            .option('epoch', {
              type: 'string',
              describe: "the epoch the weights are from (default: N for the seed's weights<N>.h5 names, else recorded as unknown)",
            })
            .option('json', { type: 'boolean', default: false, describe: 'print a machine-readable summary on stdout' }),
        async (argv) => {
          const { file, checkpoint } = await importKeras({
            weights: argv.weights,
            modelH5: argv['model-h5'],
            out: argv.out,
            epoch: parseIntFlag('epoch', argv.epoch),
          });
          const { config, epoch } = checkpoint.meta;
          if (argv.json) {
            process.stdout.write(JSON.stringify({ checkpoint: file, epoch: epoch ?? null, params: checkpoint.params.length, config }) + '\n');
            return;
          }
          const version = config.keras_version ? `Keras ${String(config.keras_version)}, ` : '';
          process.stdout.write(
            `imported ${String(config.file)} (${version}epoch ${epoch ?? 'unknown'}, ${checkpoint.params.length.toLocaleString('en-US')} parameters) -> ${file}\n`,
          );
        },
      )
      .demandCommand(1, 'name the format: engine import keras WEIGHTS.h5'),
  );
}
