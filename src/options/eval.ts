// `engine eval`'s options: the table the command is generated from and the defaults and checks evaluate() applies.
import { DEFAULT_DATA_DIR, MODEL_CHOICE_OPTIONS, RUNTIME_OPTIONS, THRESHOLD_OPTION, TTA_CHOICES, TTA_OPTION, checkModelChoice, checkThreshold, jsonFlag, type Tta } from './common.js';
import { oneOf } from './checks.js';
import { UsageError } from '../errors.js';
import { withDefaults, type OptionTable } from './table.js';

/**
 * Images per onnxruntime call. On the CPU the per-image cost is flat from 4 to 64, but the first calls pay
 * for the memory of the batch, so a small batch is cheaper overall.
 */
export const DEFAULT_BATCH = 8;

export const EVAL_OPTIONS: OptionTable = [
  { flag: 'target', type: 'string', positional: true, required: true, description: "split name under --data (e.g. 'val') or a folder" },
  { flag: 'data', type: 'string', default: DEFAULT_DATA_DIR, description: 'dataset folder that holds the splits' },
  ...MODEL_CHOICE_OPTIONS,
  { flag: 'batch-size', type: 'integer', default: DEFAULT_BATCH, description: 'images per onnxruntime call' },
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
  batchSize: number;
  threshold: number;
  tta: Tta;
  gpu: boolean;
}

/** evaluate()'s options with the table's defaults, checked. */
export function resolveEvalOptions(opts: { data?: string; batchSize?: number; threshold?: number; tta?: Tta; gpu?: boolean; model?: string; weights?: string; threads?: number }): EvalSettings {
  const o = withDefaults(EVAL_OPTIONS, opts) as Required<Pick<typeof opts, 'data' | 'batchSize' | 'threshold' | 'tta' | 'gpu'>>;
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new UsageError(`--batch-size must be a positive whole number; got ${o.batchSize}`);
  checkThreshold(o.threshold);
  checkModelChoice(opts);
  return { data: o.data, batchSize: o.batchSize, threshold: o.threshold, tta: oneOf('tta', o.tta, TTA_CHOICES), gpu: o.gpu };
}
