// `engine export onnx`'s options: the table the command is generated from and the defaults exportOnnx() applies.
import { oneOf } from './checks.js';
import { jsonFlag, TTA_CHOICES, TTA_OPTION, type Tta } from './common.js';
import { withDefaults, type OptionTable } from './table.js';

export const EXPORT_OPTIONS: OptionTable = [
  { flag: 'format', type: 'string', positional: true, required: true, choices: ['onnx'], yargsChoices: true, description: 'output format' },
  { flag: 'weights', type: 'string', defaultText: 'best.safetensors of the newest run under runs/', description: 'checkpoint' },
  { flag: 'out', alias: 'o', type: 'string', defaultText: 'model.onnx beside the weights', description: 'model file to write' },
  {
    flag: 'embed-preprocessing',
    type: 'boolean',
    default: false,
    description: 'take raw uint8 NHWC pixels and do the /255 scaling and NCHW transpose inside the graph',
  },
  {
    flag: 'data',
    type: 'string',
    defaultText: "the checkpoint's training data, else ./data",
    description: 'dataset folder whose val/ MODEL_CARD.md is measured on',
  },
  { ...TTA_OPTION, description: 'flip: a graph that averages the probabilities of each image and of its left-right mirror (no logit output)' },
  { flag: 'card', key: 'modelCard', type: 'boolean', default: true, description: 'write MODEL_CARD.md beside the model (--no-card: do not)' },
  jsonFlag('print a machine-readable summary on stdout'),
];

/** exportOnnx()'s switches with the table's defaults. */
export function resolveExportOptions(opts: { embedPreprocessing?: boolean; modelCard?: boolean; tta?: Tta }): { embedPreprocessing: boolean; modelCard: boolean; tta: Tta } {
  const o = withDefaults(EXPORT_OPTIONS, opts) as { embedPreprocessing: boolean; modelCard: boolean; tta: Tta };
  return { embedPreprocessing: o.embedPreprocessing === true, modelCard: o.modelCard !== false, tta: oneOf('tta', o.tta, TTA_CHOICES) };
}
