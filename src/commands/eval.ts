// `engine eval <split|dir>`: the seed's "mAP report" and the real figures, or the report as JSON.
import type { Argv } from 'yargs';
import { evaluate, formatReport } from '../eval/evaluate.js';
import { DEFAULT_BATCH } from '../eval/session.js';
import { parseIntFlag, parseNumberFlag } from './args.js';
import { checkHtmlTarget, writeHtmlReport } from '../report/html.js';

export function evalCommand(yargs: Argv) {
  return yargs.command(
    'eval <target>',
    'evaluate a model on a split (DATA/<target>) or a folder of class subfolders',
    (y) =>
      y
        .positional('target', { type: 'string', demandOption: true, describe: "split name under --data (e.g. 'val') or a folder" })
        .option('data', { type: 'string', default: './data', describe: 'dataset folder that holds the splits' })
        .option('model', { type: 'string', describe: 'an exported .onnx model' })
        .option('weights', { type: 'string', describe: 'a checkpoint (.safetensors), exported in memory' })
        .option('batch-size', { type: 'string', default: String(DEFAULT_BATCH), describe: 'images per onnxruntime call' })
        .option('threshold', { type: 'string', default: '0.5', describe: 'predict the positive class iff P > threshold' })
        .option('gpu', { type: 'boolean', default: false, describe: "run on onnxruntime's CUDA provider (fails if it is missing)" })
        .option('threads', { type: 'string', describe: 'onnxruntime threads (default: all cores)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as one JSON object' })
        .option('curves', { type: 'boolean', default: false, describe: 'with --json: include the ROC and PR curve points' })
        .option('html', { type: 'string', describe: 'also write a self-contained HTML page: figures, confusion matrix, curves, misclassified images' })
        .epilog(
          'Without --model or --weights: the newest run under ./runs, its model.onnx (unless best.safetensors is newer) else best.safetensors.',
        ),
    async (argv) => {
      // An --html page that cannot be written is refused before the evaluation, not after it.
      if (argv.html !== undefined) await checkHtmlTarget(argv.html);
      const report = await evaluate({
        target: argv.target,
        data: argv.data,
        model: argv.model,
        weights: argv.weights,
        batchSize: parseIntFlag('batch-size', argv['batch-size']),
        threshold: parseNumberFlag('threshold', argv.threshold),
        gpu: argv.gpu,
        threads: parseIntFlag('threads', argv.threads),
        outputs: argv.html !== undefined ? [{ name: '--html', file: argv.html }] : undefined,
      });
      const page = argv.html !== undefined ? await writeHtmlReport(argv.html, report) : undefined;
      if (argv.json) {
        const { curves, ...rest } = report;
        process.stdout.write(JSON.stringify(argv.curves ? report : rest) + '\n');
      } else {
        process.stdout.write(formatReport(report));
      }
      if (page) (argv.json ? process.stderr : process.stdout).write(`wrote ${page}\n`);
    },
  );
}
