// `engine labels`' options: the table the command is generated from (its defaults are folders derived from
// the others, decided by the command: DIR is <data>/all, --out is DIR).
import { DEFAULT_DATA_DIR, jsonFlag } from './common.js';
import type { OptionTable } from './table.js';

export const LABELS_OPTIONS: OptionTable = [
  { flag: 'dir', type: 'string', positional: true, defaultText: '<data>/all', description: 'folder with one subfolder per class' },
  { flag: 'data', type: 'string', default: DEFAULT_DATA_DIR, only: 'cli', description: 'dataset folder whose all/ is DIR by default' },
  { flag: 'out', type: 'string', defaultText: 'DIR', description: 'folder to write into' },
  { flag: 'csv', type: 'boolean', default: false, only: 'cli', description: 'also write label.csv (file,class,label)' },
  jsonFlag('print the table as JSON on stdout'),
];
