// One entry point for "split X of the data folder", whichever of the two layouts the folder has: the seed's
// DIR/<split>/<class>/ folders, or CelebA's own img_align_celeba/ with its attribute and partition lists.
import { InputError } from '../errors.js';
import { isCelebaLayout, listCelebaSplit } from './celeba-layout.js';
import { listSplit, resolveSplitDir, type SplitListing } from './discover.js';

/** Lists `split` of `dataDir`; with `opts.classes` the split must have exactly those classes. */
export async function listDataSplit(dataDir: string, split: string, opts: { classes?: readonly string[] } = {}): Promise<SplitListing> {
  if (!(await isCelebaLayout(dataDir))) return listSplit(await resolveSplitDir(dataDir, split), opts);
  const listing = await listCelebaSplit(dataDir, split);
  if (opts.classes && opts.classes.join('/') !== listing.classes.join('/'))
    throw new InputError(`classes of ${dataDir} (${listing.classes.join(', ')}) do not match the expected ${opts.classes.join(', ')}`);
  return listing;
}
