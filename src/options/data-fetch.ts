// `engine data fetch`'s options: the table the command is generated from and the defaults fetchDataset() applies.
import { DEFAULT_DATA_DIR, jsonFlag } from './common.js';
import { withDefaults, type OptionTable } from './table.js';

/** The seed's repository as GitHub serves it: a tar.gz of its default branch (master). */
export const DEFAULT_DATA_URL = 'https://codeload.github.com/CZhihao/gender-prediction/tar.gz/refs/heads/master';

export const FETCH_OPTIONS: OptionTable = [
  { flag: 'dest', type: 'string', default: DEFAULT_DATA_DIR, description: 'folder to create (must not exist, or be empty)' },
  {
    flag: 'url',
    type: 'string',
    defaultText: `$ENGINE_DATA_URL, else ${DEFAULT_DATA_URL}`,
    description: 'tar.gz archive: an http(s) URL or a local file',
  },
  jsonFlag('print a machine-readable summary on stdout'),
];

/** fetchDataset()'s source and destination with the table's defaults (the URL from the environment, else GitHub's). */
export function resolveFetchOptions(opts: { dest?: string; url?: string }): { dest: string; url: string } {
  const { dest, url } = withDefaults(FETCH_OPTIONS, opts) as { dest: string; url?: string };
  return { dest, url: url ?? process.env.ENGINE_DATA_URL ?? DEFAULT_DATA_URL };
}
