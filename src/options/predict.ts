// `engine predict`'s options: the table the command is generated from and the defaults and checks predict() applies.
import { MODEL_CHOICE_OPTIONS, RUNTIME_OPTIONS, THRESHOLD_OPTION, TTA_CHOICES, TTA_OPTION, checkModelChoice, checkThreshold, jsonFlag, type Tta } from './common.js';
import { oneOf } from './checks.js';
import { UsageError } from '../errors.js';
import { withDefaults, type OptionTable } from './table.js';

export const PREDICT_OPTIONS: OptionTable = [
  { flag: 'images', type: 'string', positional: true, array: true, required: true, description: 'image files' },
  ...MODEL_CHOICE_OPTIONS,
  {
    flag: 'annotate',
    type: 'string',
    description: 'write a copy with the label drawn on it: a file for one image, a folder (<base>.annotated.<ext>) for several',
  },
  THRESHOLD_OPTION,
  TTA_OPTION,
  ...RUNTIME_OPTIONS,
  jsonFlag('print the predictions as one JSON array'),
];

/** predict()'s options with the table's defaults, checked. */
export function resolvePredictOptions(opts: { images: unknown; threshold?: number; tta?: Tta; gpu?: boolean; model?: string; weights?: string; threads?: number }): {
  threshold: number;
  tta: Tta;
  gpu: boolean;
} {
  if (!Array.isArray(opts.images)) throw new UsageError(`--images must be a list of images (files or their bytes), got ${typeof opts.images}`);
  if (opts.images.length === 0) throw new UsageError('name at least one image to classify');
  const o = withDefaults(PREDICT_OPTIONS, opts) as { threshold: number; tta: Tta; gpu: boolean };
  checkThreshold(o.threshold);
  checkModelChoice(opts);
  return { threshold: o.threshold, tta: oneOf('tta', o.tta, TTA_CHOICES), gpu: o.gpu };
}
