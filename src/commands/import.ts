// `engine import keras`: converts the seed's Keras HDF5 weights into an engine checkpoint.
import type { Argv } from 'yargs';
import type { ImportKerasOptions } from '../keras/import.js';
import { IMPORT_KERAS_OPTIONS } from '../options/import-keras.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

export function importCommand(yargs: Argv) {
  return yargs.command('import', 'convert weights of another framework into an engine checkpoint', (y) =>
    y
      .command(
        'keras [weights]',
        "import Keras (2.x) HDF5 weights of the seed's model (seed7), e.g. weights70.h5",
        (k) =>
          addOptions(k, IMPORT_KERAS_OPTIONS).epilog(
            helpEpilog([
              ['engine import keras ../shared/seed/keras/weights70.h5 -o runs/seed70/weights70.safetensors', "the seed's published weights as a checkpoint (the folder is created)"],
              ['engine export onnx --weights runs/seed70/weights70.safetensors --data ../shared/data/celeba-575', 'then its ONNX model and model card'],
            ]),
          ),
        async (argv) => {
          const { json, ...options } = readFlags<ImportKerasOptions & { json: boolean }>(IMPORT_KERAS_OPTIONS, argv);
          const { importKeras } = await import('../keras/import.js');
          const { file, source, checkpoint } = await importKeras(options);
          const { config, epoch } = checkpoint.meta;
          if (json) {
            process.stdout.write(JSON.stringify({ checkpoint: file, epoch: epoch ?? null, params: checkpoint.params.length, config }) + '\n');
            return;
          }
          const version = config.keras_version ? `Keras ${String(config.keras_version)}, ` : '';
          process.stdout.write(
            `imported ${source} (${version}epoch ${epoch ?? 'unknown'}, ${checkpoint.params.length.toLocaleString('en-US')} parameters) -> ${file}\n`,
          );
        },
      )
      .demandCommand(1, 'name the format: engine import keras WEIGHTS.h5'),
  );
}
