// `engine cv`'s options: train's (the data, the architecture and its recipe, the kernels) less what belongs to one
// run (--out, --resume, --val, --save-every, --html), plus the folds, the seeds and test-time augmentation; and
// resolveCvOptions, their one check.
import { UsageError } from '../errors.js';
import { integerIn, oneOf } from './checks.js';
import { jsonFlag, TTA_CHOICES, TTA_OPTION, type Tta } from './common.js';
import { withDefaults, type OptionTable } from './table.js';
import { resolveTrainOptions, TRAIN_OPTIONS, type TrainConfig, type TrainOptions } from './train.js';

const NOT_FOR_CV = new Set(['out', 'resume', 'val', 'save-every', 'html', 'json']);

export const CV_OPTIONS: OptionTable = [
  ...TRAIN_OPTIONS.filter((o) => !NOT_FOR_CV.has(o.flag)),
  { flag: 'folds', type: 'integer', default: 5, description: "K: folds of the data's train and val images (stratified, seeded); K models are trained" },
  { flag: 'seeds', type: 'string', description: 'SEED,SEED,...: the whole cross-validation once per seed (its folds and its training); instead of --seed' },
  { ...TTA_OPTION, description: `${TTA_OPTION.description}, when scoring each fold` },
  { flag: 'out', type: 'string', defaultText: 'runs/cv-<date>-<time>', description: "folder for the folds' runs and cv.json; must be new or empty" },
  jsonFlag('print the summary as one JSON object on stdout'),
];

export interface CvOptions extends Omit<TrainOptions, 'out' | 'resume' | 'val' | 'saveEvery'> {
  /** K (default 5) */
  folds?: number;
  /** one cross-validation per seed (a list, or its 'a,b,c' text); default: `seed` (random when absent, recorded) */
  seeds?: number[] | string;
  /** score each fold's images and their mirror images (default none) */
  tta?: Tta;
  /** the cv folder (default runs/cv-<date>-<time>) */
  out?: string;
}

export interface CvConfig {
  /** the training config of every fold's run (its seed and out set per fold) */
  train: TrainConfig;
  folds: number;
  seeds: number[];
  tta: Tta;
  out?: string;
}

function seedsOf(value: unknown): number[] {
  const parts = typeof value === 'string' ? value.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN)) : Array.isArray(value) ? value : [NaN];
  if (parts.length === 0) throw new UsageError(`--seeds must be a list of seeds, SEED,SEED,..., got ${JSON.stringify(value)}`);
  const seeds = parts.map((s) => {
    if (!Number.isInteger(s) || s < 0 || s > 2 ** 32 - 1) throw new UsageError(`--seeds must be whole numbers in [0, ${2 ** 32 - 1}] separated by commas, got ${JSON.stringify(value)}`);
    return s as number;
  });
  if (new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds names a seed twice: ${JSON.stringify(value)}`);
  return seeds;
}

/** crossValidate()'s options with the defaults, checked. */
export function resolveCvOptions(opts: CvOptions = {}): CvConfig {
  const { folds, seeds, tta, out, ...train } = withDefaults(CV_OPTIONS, opts) as CvOptions & { folds: number; tta: Tta };
  if (seeds !== undefined && train.seed !== undefined) throw new UsageError('--seed and --seeds both given: give one (--seeds a,b,c runs the whole cross-validation per seed)');
  if (out !== undefined && (typeof out !== 'string' || out === '')) throw new UsageError(`--out must be a folder path, got ${JSON.stringify(out)}`);
  const config = resolveTrainOptions({ ...train, saveEvery: 0 });
  return {
    train: config,
    folds: integerIn('folds', folds, 2, 100),
    seeds: seeds === undefined ? [config.seed] : seedsOf(seeds),
    tta: oneOf('tta', tta, TTA_CHOICES),
    ...(out !== undefined ? { out } : {}),
  };
}
