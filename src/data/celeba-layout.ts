// CelebA as distributed: img_align_celeba/*.jpg, list_attr_celeba.txt (the Male column gives the class) and
// list_eval_partition.txt (0 train, 1 val, 2 test). Listed as the seed's folders would be: classes 'man' (Male
// = 1, label 0) and 'woman' (Male = -1, label 1), class by class, files sorted by name, so a model trained on
// either layout has the same classes in the same order.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { READ_LIMITS, readInputText } from '../io/read.js';
import type { SplitListing } from './discover.js';

export const CELEBA_IMAGES = 'img_align_celeba';
export const CELEBA_ATTRIBUTES = 'list_attr_celeba.txt';
export const CELEBA_PARTITION = 'list_eval_partition.txt';
/** The seed's class folders, in label order. */
export const CELEBA_CLASSES = ['man', 'woman'] as const;
/** Split names and their partition numbers; 'all' takes every listed image. */
export const CELEBA_SPLITS: Readonly<Record<string, number | null>> = { train: 0, val: 1, test: 2, all: null };

/** Does `dir` hold CelebA's own layout (the two list files and the image folder)? */
export async function isCelebaLayout(dir: string): Promise<boolean> {
  const [attr, part, imgs] = await Promise.all(
    [CELEBA_ATTRIBUTES, CELEBA_PARTITION, CELEBA_IMAGES].map((n) => fs.stat(path.join(dir, n)).catch(() => null)),
  );
  return Boolean(attr?.isFile() && part?.isFile() && imgs?.isDirectory());
}

async function readLines(file: string): Promise<string[]> {
  const text = await readInputText(file, 'CelebA list', READ_LIMITS.data);
  return text.split(/\r?\n/);
}

/** image name -> partition number, from list_eval_partition.txt ("000001.jpg 0" per line). */
export async function readCelebaPartition(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  (await readLines(file)).forEach((line, i) => {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '') return;
    const part = Number(fields[1]);
    if (fields.length !== 2 || ![0, 1, 2].includes(part))
      throw new InputError(`${file} line ${i + 1}: expected '<image> <0|1|2>', got '${line.trim()}'`);
    out.set(fields[0], part);
  });
  return out;
}

/**
 * image name -> Male attribute (1 or -1), from list_attr_celeba.txt: a count line, a line of attribute names,
 * then '<image> <40 values of 1 or -1>'.
 */
export async function readCelebaMale(file: string): Promise<Map<string, 1 | -1>> {
  const lines = await readLines(file);
  const names = (lines[1] ?? '').trim().split(/\s+/);
  const column = names.indexOf('Male');
  if (column < 0) throw new InputError(`${file} line 2: no 'Male' column among the attribute names (${names.slice(0, 5).join(' ')} ...)`);
  const out = new Map<string, 1 | -1>();
  for (let i = 2; i < lines.length; i++) {
    const fields = lines[i].trim().split(/\s+/);
    if (fields[0] === '') continue;
    const male = fields[column + 1];
    if (fields.length !== names.length + 1 || (male !== '1' && male !== '-1'))
      throw new InputError(`${file} line ${i + 1}: expected an image name and ${names.length} values of 1 or -1, got '${lines[i].trim().slice(0, 80)}'`);
    out.set(fields[0], male === '1' ? 1 : -1);
  }
  return out;
}

/** The images of one split (train, val, test or all) of a CelebA-layout folder, as a SplitListing. */
export async function listCelebaSplit(dataDir: string, split: string): Promise<SplitListing> {
  const root = path.resolve(dataDir);
  if (!Object.hasOwn(CELEBA_SPLITS, split))
    throw new InputError(`no split '${split}' in the CelebA layout of ${root}: expected ${Object.keys(CELEBA_SPLITS).join(', ')}`);
  const want = CELEBA_SPLITS[split];
  const partition = await readCelebaPartition(path.join(root, CELEBA_PARTITION));
  const male = await readCelebaMale(path.join(root, CELEBA_ATTRIBUTES));
  const byClass: string[][] = [[], []];
  for (const [name, part] of partition) {
    if (want !== null && part !== want) continue;
    const m = male.get(name);
    if (m === undefined) throw new InputError(`${name} is in ${CELEBA_PARTITION} but not in ${CELEBA_ATTRIBUTES} (${root})`);
    byClass[m === 1 ? 0 : 1].push(name);
  }
  for (const names of byClass) names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (byClass[0].length + byClass[1].length === 0) throw new InputError(`the '${split}' split of ${root} (${CELEBA_PARTITION}) lists no images`);
  const dir = path.join(root, CELEBA_IMAGES);
  return {
    dir,
    classes: [...CELEBA_CLASSES],
    files: byClass.flatMap((names) => names.map((n) => path.join(dir, n))),
    labels: Uint8Array.from(byClass.flatMap((names, label) => names.map(() => label))),
  };
}
