// `engine info`'s options: the table the command is generated from. With --plan it prints the kernel plan a
// training run of a model would get here, so the model and kernel options are training's own rows.
import { jsonFlag } from './common.js';
import type { OptionTable } from './table.js';
import { TRAIN_OPTIONS } from './train.js';

const trainRow = (flag: string) => TRAIN_OPTIONS.find((o) => o.flag === flag)!;

export const INFO_OPTIONS: OptionTable = [
  { flag: 'plan', type: 'boolean', default: false, only: 'cli', description: 'print which kernel runs every layer, forward and backward, for --arch (--model) with these options' },
  ...['arch', 'precision', 'conv', 'isa', 'threads'].map((f) => ({ ...trainRow(f), only: 'cli' as const })),
  jsonFlag('print it as JSON'),
];
