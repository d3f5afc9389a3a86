// Rows and checks that several commands share: the dataset folder, the model a command runs (--model,
// --weights) and where onnxruntime runs it (--gpu, --threads), the decision threshold, --json.
import { UsageError } from '../errors.js';
import { threadsOption } from './checks.js';
import type { OptionSpec, OptionTable } from './table.js';

/** The dataset folder when none is given, for every command that reads one. */
export const DEFAULT_DATA_DIR = './data';

export const jsonFlag = (description: string): OptionSpec => ({ flag: 'json', type: 'boolean', default: false, only: 'cli', description });

/** Which model eval, predict and serve-demo run; without either, the newest run's (see eval/model-source.ts). */
export const MODEL_CHOICE_OPTIONS: OptionTable = [
  { flag: 'model', type: 'string', description: 'an exported .onnx model' },
  { flag: 'weights', type: 'string', description: 'a checkpoint (.safetensors), exported in memory' },
];

/** Where onnxruntime runs the model (eval, predict). */
export const RUNTIME_OPTIONS: OptionTable = [
  { flag: 'gpu', type: 'boolean', default: false, description: "run on onnxruntime's CUDA provider (fails if it is missing)" },
  { flag: 'threads', type: 'integer', defaultText: 'all cores', description: 'onnxruntime threads' },
];

export const THRESHOLD_OPTION: OptionSpec = {
  flag: 'threshold',
  type: 'number',
  default: 0.5,
  description: '2-class models: predict the second class iff its probability > threshold (more classes: the most probable)',
};

/** --threshold: a probability. */
export function checkThreshold(threshold: number): number {
  if (!(threshold >= 0 && threshold <= 1)) throw new UsageError(`--threshold must lie in [0, 1]; got ${threshold}`);
  return threshold;
}

/** --threshold belongs to 2-class models: refused for a model of more classes, which predicts the most probable. */
export function refuseThreshold(classes: number, threshold: number | undefined, source: string): void {
  if (classes > 2 && threshold !== undefined)
    throw new UsageError(`--threshold applies to 2-class models; ${source} has ${classes} classes and predicts the most probable`);
}

/** Checks a model choice's flags (not its files): cheap, so callers run it before any work. */
export function checkModelChoice(choice: { model?: string; weights?: string; threads?: number }): void {
  threadsOption(choice.threads, 1);
  if (choice.model !== undefined && choice.weights !== undefined)
    throw new UsageError('give either --model (an .onnx file) or --weights (a checkpoint), not both');
}

/** Test-time augmentation: none, or flip (the average of the scores of each image and of its mirror image). */
export type Tta = 'none' | 'flip';
export const TTA_CHOICES: readonly Tta[] = ['none', 'flip'];

export const TTA_OPTION: OptionSpec = {
  flag: 'tta',
  type: 'string',
  choices: TTA_CHOICES,
  default: 'none',
  description: 'test-time augmentation: flip averages the scores of each image and of its left-right mirror',
};
