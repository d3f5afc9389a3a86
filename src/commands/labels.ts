// `engine labels`: the seed's ground-truth tables (label.txt, label.npy) of a folder <dir>/<class>/<image>, of
// any number of classes.
import path from 'node:path';
import type { Argv } from 'yargs';
import type { LabelFormat } from '../labels/labels.js';
import { LABELS_OPTIONS } from '../options/labels.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

export function labelsCommand(yargs: Argv) {
  return yargs.command(
    'labels [dir]',
    "write the seed's ground-truth tables label.txt and label.npy for DIR/<class>/<image>",
    (y) =>
      addOptions(y, LABELS_OPTIONS).epilog(
        helpEpilog([
          ['engine labels --data ../shared/data/celeba-575', "label.txt and label.npy of its all/ folder, as the seed's"],
          ['engine labels ./photos --out tables --csv', 'the tables of another folder, with a CSV too'],
        ]),
      ),
    async (argv) => {
      const flags = readFlags<{ dir?: string; data: string; out?: string; csv: boolean; json: boolean }>(LABELS_OPTIONS, argv);
      const { labelTableJson, writeLabels } = await import('../labels/labels.js');
      const dir = flags.dir ?? path.join(flags.data, 'all');
      const formats: LabelFormat[] = flags.csv ? ['txt', 'npy', 'csv'] : ['txt', 'npy'];
      const { out, files, classes, rows } = await writeLabels({ dir, out: flags.out, formats });
      // With --json, stdout carries only the table.
      if (flags.json) process.stdout.write(labelTableJson(rows));
      // the label of a row is its class's index in this list (label.npy holds only the index)
      const counts = classes.map((c, i) => `${rows.filter((r) => r.index === i).length} ${c}`).join(', ');
      const indices = classes.length > 2 ? `; labels ${classes.map((c, i) => `${i}=${c}`).join(' ')}` : '';
      (flags.json ? process.stderr : process.stdout).write(
        `wrote ${files.map((f) => path.basename(f)).join(', ')} to ${out} (${rows.length} images: ${counts}${indices})\n`,
      );
    },
  );
}
