// `engine predict <image...>`: one line per image (`<file>: woman (p = 0.9731)`), or JSON.
import type { Argv } from 'yargs';
import { PREDICT_OPTIONS } from '../options/predict.js';
import { predict, type PredictOptions } from '../predict/predict.js';
import { addOptions, readFlags } from './flags.js';

export function predictCommand(yargs: Argv) {
  return yargs.command(
    'predict <images..>',
    'classify images (EXIF orientation applied), optionally writing annotated copies',
    (y) => addOptions(y, PREDICT_OPTIONS).epilog('Without --model or --weights: the newest run under ./runs (as for engine eval).'),
    async (argv) => {
      const { json, ...options } = readFlags<PredictOptions & { json: boolean }>(PREDICT_OPTIONS, argv);
      const predictions = await predict(options);
      if (json) {
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
