// `engine import keras`' options: the table the command is generated from (the defaults are derived from the
// weights file's name by importKeras: the checkpoint's name, the epoch of the seed's weights<N>.h5).
import { jsonFlag } from './common.js';
import type { OptionTable } from './table.js';

export const IMPORT_KERAS_OPTIONS: OptionTable = [
  { flag: 'weights', type: 'string', positional: true, description: 'a save_weights() file, e.g. weights70.h5 (a model.save() file works too)' },
  { flag: 'model-h5', type: 'string', description: "a model.save() file: its architecture must be seed7; its weights are used when WEIGHTS is left out" },
  { flag: 'out', alias: 'o', type: 'string', defaultText: '<WEIGHTS name>.safetensors here', description: 'checkpoint to write, or a folder for it' },
  {
    flag: 'epoch',
    type: 'integer',
    defaultText: "N for the seed's weights<N>.h5 names, else recorded as unknown",
    description: 'the epoch the weights are from',
  },
  jsonFlag('print a machine-readable summary on stdout'),
];
