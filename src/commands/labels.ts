// `engine labels`: the seed's ground-truth tables (label.txt, label.npy) of a folder <dir>/<class>/<image>.
import path from 'node:path';
import type { Argv } from 'yargs';
import { labelTableJson, writeLabels, type LabelFormat } from '../labels/labels.js';

export function labelsCommand(yargs: Argv) {
  return yargs.command(
    'labels [dir]',
    "write the seed's ground-truth tables label.txt and label.npy for DIR/<class>/<image>",
    (y) =>
      y
        .positional('dir', { type: 'string', describe: 'folder with one subfolder per class (default: <data>/all)' })
        .option('data', { type: 'string', default: './data', describe: 'dataset folder whose all/ is DIR by default' })
        .option('out', { type: 'string', describe: 'folder to write into (default: DIR)' })
        .option('csv', { type: 'boolean', default: false, describe: 'also write label.csv (file,class,label)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the table as JSON on stdout' }),
    async (argv) => {
      const dir = argv.dir ?? path.join(argv.data, 'all');
      const formats: LabelFormat[] = argv.csv ? ['txt', 'npy', 'csv'] : ['txt', 'npy'];
      const { out, files, classes, rows } = await writeLabels({ dir, out: argv.out, formats });
      // With --json, stdout carries only the table.
      if (argv.json) process.stdout.write(labelTableJson(rows));
      const counts = classes.map((c, i) => `${rows.filter((r) => r.index === i).length} ${c}`).join(', ');
      (argv.json ? process.stderr : process.stdout).write(
        `wrote ${files.map((f) => path.basename(f)).join(', ')} to ${out} (${rows.length} images: ${counts})\n`,
      );
    },
  );
}
