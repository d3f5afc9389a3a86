// The seed's ground-truth tables (its dataset.py): label.txt and label.npy, one row per image, sorted by file
// name across the classes, reproduced byte for byte for the seed's man/woman folders, and the same tables for
// folders of any number of classes; label.csv and label.json are ours.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { listSplit } from '../data/discover.js';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { describeWriteError } from '../io/output.js';

export interface LabelRow {
  /** the image's base name */
  file: string;
  /** its class name (the folder it is in) */
  label: string;
  /** its class index, into the sorted class names */
  index: number;
}

export type LabelFormat = 'txt' | 'npy' | 'csv' | 'json';

/** Code-unit order, as Python's sorted() orders these names; ties (one name in two classes) keep class order. */
const byName = (a: LabelRow, b: LabelRow): number => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.index - b.index);

/** Centres `s` in `width` as Python's '{:^w}' does: an odd leftover space goes to the right. */
function centre(s: string, width: number): string {
  const pad = Math.max(0, width - [...s].length);
  const left = Math.floor(pad / 2);
  return ' '.repeat(left) + s + ' '.repeat(pad - left);
}

/** The seed's classes, whose label.txt column is headed 'gender'. */
const SEED_CLASSES = ['man', 'woman'];

/** label.txt's second header: the seed's 'gender' for its man/woman folders, 'class' for any other classes. */
export function labelColumn(classes: readonly string[]): string {
  return classes.length === SEED_CLASSES.length && classes.every((c, i) => c === SEED_CLASSES[i]) ? 'gender' : 'class';
}

/**
 * label.txt: a header `  image     gender`, then `<file>  <class>` per row. Reverse-engineered from the seed's
 * file (dataset.py is not in the seed): both columns are centred in the width of their longest entry, header
 * included, joined by two spaces, with trailing spaces cut ("woman" follows two spaces, "man" three). Classes
 * other than the seed's head their column `class` (labelColumn).
 */
export function labelTableText(rows: readonly Pick<LabelRow, 'file' | 'label'>[], column = 'gender'): string {
  const table = [['image', column], ...rows.map((r) => [r.file, r.label])];
  const widths = [0, 1].map((c) => Math.max(...table.map((r) => [...r[c]].length)));
  return table.map((r) => r.map((cell, c) => centre(cell, widths[c])).join('  ').trimEnd() + '\n').join('');
}

/**
 * label.npy: NumPy format 1.0 holding an (N, 2) array of '<U{w}' strings, rows [file, class index]. '<U' is
 * UTF-32LE, w code points per cell, NUL-padded. The seed's is '<U10' (its names are 10 characters); a longer
 * name would not fit, so w is the longest cell when that exceeds 10, and the table stays readable by numpy.
 */
export function labelTableNpy(rows: readonly Pick<LabelRow, 'file' | 'index'>[]): Uint8Array {
  const cells = rows.flatMap((r) => [[...r.file], [...String(r.index)]]);
  const width = Math.max(10, ...cells.map((c) => c.length));
  // The header dict as numpy writes it (keys sorted, a trailing ", "), then numpy's padding: 1 to 64 spaces and
  // '\n', so that the data starts at a multiple of 64 bytes after the magic, the version and the header length.
  const dict = `{'descr': '<U${width}', 'fortran_order': False, 'shape': (${rows.length}, 2), }`;
  const header = dict + ' '.repeat(64 - ((10 + dict.length + 1) % 64)) + '\n';
  const out = Buffer.alloc(10 + header.length + cells.length * width * 4);
  Buffer.from([0x93, ...Buffer.from('NUMPY', 'latin1'), 1, 0]).copy(out, 0);
  out.writeUInt16LE(header.length, 8);
  out.write(header, 10, 'latin1');
  let pos = 10 + header.length;
  for (const cell of cells) {
    cell.forEach((ch, i) => out.writeUInt32LE(ch.codePointAt(0)!, pos + 4 * i));
    pos += width * 4;
  }
  return out;
}

const csvCell = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** label.csv: `file,class,label`, label being the class index. */
export function labelTableCsv(rows: readonly LabelRow[]): string {
  return ['file,class,label', ...rows.map((r) => `${csvCell(r.file)},${csvCell(r.label)},${r.index}`)].join('\n') + '\n';
}

/** label.json: [{file, class, label}], label being the class index. */
export function labelTableJson(rows: readonly LabelRow[]): string {
  return JSON.stringify(rows.map((r) => ({ file: r.file, class: r.label, label: r.index }))) + '\n';
}

const WRITERS: Record<LabelFormat, (rows: readonly LabelRow[], classes: readonly string[]) => string | Uint8Array> = {
  txt: (rows, classes) => labelTableText(rows, labelColumn(classes)),
  npy: labelTableNpy,
  csv: labelTableCsv,
  json: labelTableJson,
};

/** The rows of a split folder `<dir>/<class>/<image>`, sorted by file name. */
export async function labelRows(dir: string): Promise<{ classes: string[]; rows: LabelRow[] }> {
  const listing = await listSplit(dir);
  // label.txt is one row per line, columns split by spaces: a name with a newline or a tab would break its rows
  const broken = listing.files.find((f) => /[\u0000-\u001f\u007f]/.test(path.basename(f)));
  if (broken !== undefined)
    throw new InputError(`${JSON.stringify(broken)}: the file name holds a control character (a newline or tab?), which would break label.txt's rows; rename it`);
  const rows = listing.files.map((f, i) => ({ file: path.basename(f), label: listing.classes[listing.labels[i]], index: listing.labels[i] }));
  return { classes: listing.classes, rows: rows.sort(byName) };
}

/** Writes label.<format> for each format into `out` (default: `dir`, where the seed wrote them). */
export async function writeLabels(opts: { dir: string; out?: string; formats: LabelFormat[] }): Promise<{
  out: string;
  files: string[];
  classes: string[];
  rows: LabelRow[];
}> {
  const { classes, rows } = await labelRows(opts.dir);
  const out = path.resolve(opts.out ?? opts.dir);
  const files: string[] = [];
  try {
    await fs.mkdir(out, { recursive: true });
    for (const format of new Set(opts.formats)) {
      const file = path.join(out, `label.${format}`);
      await writeFileAtomic(file, WRITERS[format](rows, classes));
      files.push(file);
    }
  } catch (err) {
    throw new InputError(`cannot write the label files to ${out}: ${describeWriteError(err)} (choose another folder with --out)`);
  }
  return { out, files, classes, rows };
}
