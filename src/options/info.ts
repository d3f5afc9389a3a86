// `engine info`'s options: the table the command is generated from.
import { jsonFlag } from './common.js';
import type { OptionTable } from './table.js';

export const INFO_OPTIONS: OptionTable = [jsonFlag('print it as JSON')];
