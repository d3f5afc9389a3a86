// The training recipe's options (`engine train` and `engine cv`): the rows of the table (each default is the
// preset's) and resolveRecipe, the one check of a recipe's values and of the flags that go together (a flag that
// only one optimizer, augmentation or schedule reads is refused with another, where it would change nothing).
import { UsageError } from '../errors.js';
import {
  AUGMENT_KINDS,
  MONITORS,
  NORMALIZE_CHOICES,
  OPTIMIZERS,
  PRESETS,
  SCHEDULES,
  type AugmentKind,
  type Preset,
  type Recipe,
} from '../model/spec.js';
import { integerIn, oneOf, orList, positiveNumber } from './checks.js';
import type { OptionSpec } from './table.js';

/** "70 for seed7 and seed5, 15 for fmnist-cnn": what `show` says of every preset, grouped by value */
export function perPreset(show: (p: Readonly<Preset>) => string): string {
  const groups = new Map<string, string[]>();
  for (const [name, p] of Object.entries(PRESETS)) groups.set(show(p), [...(groups.get(show(p)) ?? []), name]);
  return [...groups].map(([v, names]) => `${v} for ${orList(names).replace(/ or /, ' and ')}`).join(', ');
}
const byPreset = (key: keyof Recipe, show: (v: unknown) => string = String) => `the preset's (${perPreset((p) => show(p.recipe[key]))})`;
const onOff = (v: unknown) => (v ? 'on' : 'off');
const pair = (v: unknown) => (v as number[]).join(',');

/** The recipe's rows, in the order `engine train --help` shows them. */
export const RECIPE_OPTIONS: readonly OptionSpec[] = [
  { flag: 'epochs', type: 'integer', defaultText: byPreset('epochs'), description: 'epochs (full passes over train)' },
  { flag: 'batch-size', type: 'integer', defaultText: byPreset('batchSize'), description: 'images per step; the last batch may be smaller' },
  { flag: 'optimizer', type: 'string', choices: OPTIMIZERS, defaultText: byPreset('optimizer'), description: 'rmsprop (the seed\'s), sgd (with --momentum, --nesterov) or adamw' },
  { flag: 'lr', type: 'number', defaultText: byPreset('lr'), description: "learning rate (the schedule's peak)" },
  { flag: 'rho', type: 'number', defaultText: byPreset('rho'), only: 'library', description: "RMSprop decay (Keras' rho)" },
  { flag: 'epsilon', type: 'number', defaultText: byPreset('epsilon'), only: 'library', description: "RMSprop's and AdamW's epsilon" },
  { flag: 'momentum', type: 'number', defaultText: byPreset('momentum'), description: "SGD's momentum" },
  { flag: 'nesterov', type: 'boolean', defaultText: byPreset('nesterov', onOff), description: "SGD: Nesterov's momentum (--no-nesterov: plain)" },
  { flag: 'beta1', type: 'number', defaultText: byPreset('beta1'), only: 'library', description: "AdamW's first moment decay" },
  { flag: 'beta2', type: 'number', defaultText: byPreset('beta2'), only: 'library', description: "AdamW's second moment decay" },
  { flag: 'weight-decay', type: 'number', defaultText: byPreset('weightDecay'), description: 'weight decay on the kernels (not biases or batch norm): coupled for rmsprop and sgd, decoupled for adamw' },
  { flag: 'clip-norm', type: 'number', defaultText: byPreset('clipNorm'), description: "scale the gradient down to this global L2 norm where it is larger (0: don't)" },
  { flag: 'label-smoothing', type: 'number', defaultText: byPreset('labelSmoothing'), description: 'targets (1 - e) one-hot + e / classes' },
  { flag: 'ema', type: 'number', defaultText: byPreset('ema'), description: 'keep a moving average of the weights keeping this share each step (e.g. 0.999; 0: none); validation, best.* and export use it' },
  { flag: 'normalize', type: 'string', choices: NORMALIZE_CHOICES, defaultText: byPreset('normalize'), description: 'auto: inputs (pixels/255 - mean) / std per channel, from the training split (recorded, folded into the export); none: pixels/255' },
  { flag: 'augment', type: 'string', choices: AUGMENT_KINDS, negated: 'none', defaultText: byPreset('augment'), description: "keras (the seed's shear/zoom/flip), crop (--shift, --flip, --rotate, --erase) or none (--no-augment)" },
  { flag: 'shift', type: 'integer', defaultText: byPreset('shift'), description: 'crop: shift up to N pixels each way (a random crop of the image zero-padded by N)' },
  { flag: 'flip', type: 'boolean', defaultText: byPreset('flip', onOff), description: 'crop: mirror half the images left-right (--no-flip: never)' },
  { flag: 'rotate', type: 'number', defaultText: byPreset('rotate'), description: 'crop: rotate by up to this many degrees either way' },
  { flag: 'erase', type: 'number', defaultText: byPreset('erase'), description: "crop: the probability of erasing a random rectangle to the channels' mean" },
  { flag: 'erase-area', type: 'string', defaultText: byPreset('eraseArea', pair), description: "crop: LO,HI, the erased rectangle's share of the image" },
  { flag: 'erase-aspect', type: 'string', defaultText: byPreset('eraseAspect', pair), description: "crop: LO,HI, the erased rectangle's height / width (log-uniform)" },
  { flag: 'schedule', type: 'string', choices: SCHEDULES, defaultText: byPreset('schedule'), description: 'learning rate per step: constant, step (--step-size, --step-gamma), cosine (to 0) or onecycle' },
  { flag: 'warmup', type: 'number', defaultText: byPreset('warmup'), description: "epochs of linear warm-up to --lr (onecycle: its rising phase, else 30% of the steps)" },
  { flag: 'step-size', type: 'integer', defaultText: 'a third of the epochs', description: 'step schedule: multiply the lr by --step-gamma every N epochs' },
  { flag: 'step-gamma', type: 'number', defaultText: byPreset('stepGamma'), description: 'step schedule: the factor of each drop' },
  { flag: 'monitor', type: 'string', choices: MONITORS, defaultText: byPreset('monitor'), description: 'the validation figure that picks best.safetensors and drives --patience' },
  { flag: 'patience', type: 'integer', defaultText: byPreset('patience'), description: 'stop after N epochs without a better --monitor figure (0: never)' },
];

/** LO,HI as a pair of numbers: an array of two, or their text ('0.02,0.33'). */
function rangeOf(name: string, value: unknown, max: number): [number, number] {
  const parts = typeof value === 'string' ? value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s))) : Array.isArray(value) ? value : [];
  const [lo, hi] = parts as number[];
  if (parts.length !== 2 || typeof lo !== 'number' || typeof hi !== 'number' || !(lo > 0 && lo <= hi && hi <= max))
    throw new UsageError(`--${name} must be LO,HI with 0 < LO <= HI <= ${max}, got ${JSON.stringify(value)}`);
  return [lo, hi];
}

function numberIn(name: string, value: unknown, lo: number, hi: number, hiOpen = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || (hiOpen ? value >= hi : value > hi))
    throw new UsageError(`--${name} must be a number in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${JSON.stringify(value)}`);
  return value;
}

function bool(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new UsageError(`--${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** --augment: one of AUGMENT_KINDS; a boolean is the flag's former sense (on: the seed's warp; --no-augment: none). */
function augmentOf(value: unknown): AugmentKind {
  if (value === true) return 'keras';
  if (value === false) return 'none';
  return oneOf('augment', value, AUGMENT_KINDS);
}

const FLAG: Partial<Record<keyof Recipe, string>> = {
  batchSize: 'batch-size',
  weightDecay: 'weight-decay',
  clipNorm: 'clip-norm',
  labelSmoothing: 'label-smoothing',
  eraseArea: 'erase-area',
  eraseAspect: 'erase-aspect',
  stepSize: 'step-size',
  stepGamma: 'step-gamma',
};
const flagOf = (key: keyof Recipe) => `--${FLAG[key] ?? key}`;

/** The settings that only one choice reads: given with another (and not the preset's value), they are refused. */
const APPLIES: { keys: (keyof Recipe)[]; when: (r: Recipe) => boolean; needs: string; has: (r: Recipe) => string }[] = [
  { keys: ['rho'], when: (r) => r.optimizer === 'rmsprop', needs: '--optimizer rmsprop', has: (r) => `--optimizer ${r.optimizer}` },
  { keys: ['momentum', 'nesterov'], when: (r) => r.optimizer === 'sgd', needs: '--optimizer sgd', has: (r) => `--optimizer ${r.optimizer}` },
  { keys: ['beta1', 'beta2'], when: (r) => r.optimizer === 'adamw', needs: '--optimizer adamw', has: (r) => `--optimizer ${r.optimizer}` },
  { keys: ['epsilon'], when: (r) => r.optimizer !== 'sgd', needs: '--optimizer rmsprop or adamw', has: (r) => `--optimizer ${r.optimizer}` },
  {
    keys: ['shift', 'flip', 'rotate', 'erase', 'eraseArea', 'eraseAspect'],
    when: (r) => r.augment === 'crop',
    needs: '--augment crop',
    has: (r) => `--augment ${r.augment}`,
  },
  { keys: ['stepSize', 'stepGamma'], when: (r) => r.schedule === 'step', needs: '--schedule step', has: (r) => `--schedule ${r.schedule}` },
];

/**
 * A recipe checked: `recipe` is the preset's with the given values on top, `base` the preset's own. Every value
 * is range-checked; a value that differs from the preset's and that the chosen optimizer, augmentation or
 * schedule would not read is refused, naming what it needs (a recorded config resolves the same way: its values
 * were either the preset's or applied when given).
 */
export function resolveRecipe(recipe: Record<keyof Recipe, unknown>, base: Readonly<Recipe>): Recipe {
  const r: Recipe = {
    epochs: integerIn('epochs', recipe.epochs, 1, 100000),
    batchSize: integerIn('batch-size', recipe.batchSize, 1, 65536),
    optimizer: oneOf('optimizer', recipe.optimizer, OPTIMIZERS),
    lr: positiveNumber('lr', recipe.lr, 1e6),
    rho: numberIn('rho', recipe.rho, 0, 1, true),
    epsilon: positiveNumber('epsilon', recipe.epsilon, 1),
    momentum: numberIn('momentum', recipe.momentum, 0, 1, true),
    nesterov: bool('nesterov', recipe.nesterov),
    beta1: numberIn('beta1', recipe.beta1, 0, 1, true),
    beta2: numberIn('beta2', recipe.beta2, 0, 1, true),
    weightDecay: numberIn('weight-decay', recipe.weightDecay, 0, 1),
    clipNorm: numberIn('clip-norm', recipe.clipNorm, 0, 1e6),
    labelSmoothing: numberIn('label-smoothing', recipe.labelSmoothing, 0, 1, true),
    ema: numberIn('ema', recipe.ema, 0, 1, true),
    normalize: oneOf('normalize', recipe.normalize, NORMALIZE_CHOICES),
    augment: augmentOf(recipe.augment),
    shift: integerIn('shift', recipe.shift, 0, 64),
    flip: bool('flip', recipe.flip),
    rotate: numberIn('rotate', recipe.rotate, 0, 180),
    erase: numberIn('erase', recipe.erase, 0, 1),
    eraseArea: rangeOf('erase-area', recipe.eraseArea, 1),
    eraseAspect: rangeOf('erase-aspect', recipe.eraseAspect, 100),
    schedule: oneOf('schedule', recipe.schedule, SCHEDULES),
    warmup: numberIn('warmup', recipe.warmup, 0, 100000),
    stepSize: integerIn('step-size', recipe.stepSize, 0, 100000),
    stepGamma: numberIn('step-gamma', recipe.stepGamma, 0, 1),
    monitor: oneOf('monitor', recipe.monitor, MONITORS),
    patience: integerIn('patience', recipe.patience, 0, 100000),
  };
  if (r.stepGamma === 0) throw new UsageError('--step-gamma must be a number in (0, 1], got 0');
  for (const rule of APPLIES) {
    if (rule.when(r)) continue;
    const stray = rule.keys.filter((k) => JSON.stringify(r[k]) !== JSON.stringify(base[k]));
    if (stray.length)
      throw new UsageError(`${stray.map(flagOf).join(' and ')} ${stray.length > 1 ? 'apply' : 'applies'} to ${rule.needs} only; this run has ${rule.has(r)}`);
  }
  if (r.nesterov && r.optimizer === 'sgd' && r.momentum === 0) throw new UsageError('--nesterov needs a --momentum above 0');
  // (a preset's warm-up may outlast a run shortened with --epochs: the whole run then warms up)
  if (r.warmup > 0 && r.warmup >= r.epochs && r.warmup !== base.warmup)
    throw new UsageError(`--warmup ${r.warmup} must be shorter than the run's ${r.epochs} epochs (--epochs)`);
  return r;
}

/** The recipe keys that `r` does not read (its optimizer's, augmentation's or schedule's others): what a model card leaves out. */
export function unreadRecipeKeys(r: Readonly<Recipe>): (keyof Recipe)[] {
  return APPLIES.filter((rule) => !rule.when(r)).flatMap((rule) => rule.keys);
}

/**
 * A recipe value in the form resolveRecipe gives it (augment's former booleans as kinds, 'LO,HI' text as a pair),
 * for comparing what was typed with what a run recorded; anything else as it is.
 */
export function recipeValue(key: keyof Recipe, value: unknown): unknown {
  if (key === 'augment' && typeof value === 'boolean') return augmentOf(value);
  if ((key === 'eraseArea' || key === 'eraseAspect') && typeof value === 'string') {
    const parts = value.split(',').map(Number);
    return parts.length === 2 && parts.every(Number.isFinite) ? parts : value;
  }
  return value;
}

/** Does the learning rate of a step depend on the number of epochs (so that a resumed run may not change it)? */
export const scheduleSpansEpochs = (r: Pick<Recipe, 'schedule' | 'stepSize'>): boolean =>
  r.schedule === 'cosine' || r.schedule === 'onecycle' || (r.schedule === 'step' && r.stepSize === 0);
