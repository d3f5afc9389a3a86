// `engine eval`'s options: the table the command is generated from and the defaults and checks evaluate() applies.
import { DEFAULT_DATA_DIR, MODEL_CHOICE_OPTIONS, RUNTIME_OPTIONS, THRESHOLD_OPTION, TTA_CHOICES, TTA_OPTION, checkModelChoice, checkThreshold, jsonFlag, type Tta } from './common.js';
import { oneOf } from './checks.js';
import { UsageError } from '../errors.js';
import { withDefaults, type OptionTable } from './table.js';

/** Input values (pixels times channels) per onnxruntime call that the default batch size aims at. */
const BATCH_INPUT_VALUES = 2 ** 18;
const MAX_AUTO_BATCH = 64;

/**
 * Images per onnxruntime call when --batch-size is not given: as many as hold about 256k input values, between
 * 1 and 64 (4 of the seed's 150x150 RGB faces, 64 of 28x28 grey images). On the CPU a batch whose activations
 * outgrow the caches runs slower per image (the seed's net: 8 faces a call ~20% slower than 4; 28x28 nets: 8 a
 * call ~40% slower than 64; docs/benchmarks.md).
 */
export function autoBatchSize(input: { height: number; width: number; channels: number }): number {
  const values = input.height * input.width * input.channels;
  return Math.max(1, Math.min(MAX_AUTO_BATCH, Math.round(BATCH_INPUT_VALUES / values)));
}

export const EVAL_OPTIONS: OptionTable = [
  { flag: 'target', type: 'string', positional: true, required: true, description: "split name under --data (e.g. 'val') or a folder" },
  { flag: 'data', type: 'string', default: DEFAULT_DATA_DIR, description: 'dataset folder that holds the splits' },
  ...MODEL_CHOICE_OPTIONS,
  {
    flag: 'batch-size',
    type: 'integer',
    defaultText: "by the model's input size: about 256k input values a call, at most 64 images (4 of 150x150 RGB, 64 of 28x28 grey)",
    description: 'images per onnxruntime call',
  },
  THRESHOLD_OPTION,
  TTA_OPTION,
  ...RUNTIME_OPTIONS,
  jsonFlag('print the report as one JSON object'),
  {
    flag: 'seed-report',
    type: 'boolean',
    default: false,
    only: 'cli',
    description: "start with the seed's own report lines ('mAP report' ... 'mAP(%)', which is the accuracy), unchanged",
  },
  { flag: 'curves', type: 'boolean', default: false, only: 'cli', description: 'with --json: include the ROC and PR curve points' },
  {
    flag: 'html',
    type: 'string',
    only: 'cli',
    description: 'also write a self-contained HTML page: figures, confusion matrix, curves, misclassified images',
  },
];

export interface EvalSettings {
  data: string;
  /** undefined: autoBatchSize of the model's input */
  batchSize: number | undefined;
  threshold: number;
  tta: Tta;
  gpu: boolean;
}

/** evaluate()'s options with the table's defaults, checked. */
export function resolveEvalOptions(opts: { data?: string; batchSize?: number; threshold?: number; tta?: Tta; gpu?: boolean; model?: string; weights?: string; threads?: number }): EvalSettings {
  const o = withDefaults(EVAL_OPTIONS, opts) as Required<Pick<typeof opts, 'data' | 'threshold' | 'tta' | 'gpu'>> & Pick<typeof opts, 'batchSize'>;
  if (o.batchSize !== undefined && (!Number.isInteger(o.batchSize) || o.batchSize < 1)) throw new UsageError(`--batch-size must be a positive whole number; got ${o.batchSize}`);
  checkThreshold(o.threshold);
  checkModelChoice(opts);
  return { data: o.data, batchSize: o.batchSize, threshold: o.threshold, tta: oneOf('tta', o.tta, TTA_CHOICES), gpu: o.gpu };
}
