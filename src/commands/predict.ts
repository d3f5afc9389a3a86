// `engine predict <image...>`: one line per image (`<file>: woman (p = 0.9731)`), or JSON.
import type { Argv } from 'yargs';
import { predict } from '../predict/predict.js';
import { parseIntFlag, parseNumberFlag } from './args.js';

export function predictCommand(yargs: Argv) {
  return yargs.command(
    'predict <images..>',
    'classify images (EXIF orientation applied), optionally writing annotated copies',
    (y) =>
      y
        .positional('images', { type: 'string', array: true, demandOption: true, describe: 'image files' })
        .option('model', { type: 'string', describe: 'an exported .onnx model' })
        .option('weights', { type: 'string', describe: 'a checkpoint (.safetensors), exported in memory' })
        .option('annotate', {
          type: 'string',
          describe: 'write a copy with the label drawn on it: a file for one image, a folder (<base>.annotated.<ext>) for several',
        })
        .option('threshold', { type: 'string', default: '0.5', describe: 'predict the positive class iff P > threshold' })
        .option('gpu', { type: 'boolean', default: false, describe: "run on onnxruntime's CUDA provider (fails if it is missing)" })
        .option('threads', { type: 'string', describe: 'onnxruntime threads (default: all cores)' })
        .option('json', { type: 'boolean', default: false, describe: 'print the predictions as one JSON array' })
        .epilog('Without --model or --weights: the newest run under ./runs (as for engine eval).'),
    async (argv) => {
      const predictions = await predict({
        images: argv.images.map(String),
        model: argv.model,
        weights: argv.weights,
        annotate: argv.annotate,
        threshold: parseNumberFlag('threshold', argv.threshold),
        gpu: argv.gpu,
        threads: parseIntFlag('threads', argv.threads),
      });
      if (argv.json) {
        process.stdout.write(JSON.stringify(predictions) + '\n');
        return;
      }
      for (const p of predictions) {
        process.stdout.write(`${p.file}: ${p.class} (p = ${p.probability.toFixed(4)})\n`);
        if (p.annotated) process.stderr.write(`annotated: ${p.annotated}\n`);
      }
    },
  );
}
