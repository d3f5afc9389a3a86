// `engine predict <image...>`: one line per image, or JSON. A 2-class model's line is the seed's
// (`<file>: woman (p = 0.9731)`); more classes give the most probable three (`<file>: Sneaker 0.9731, Sandal 0.0182, ...`).
import type { Argv } from 'yargs';
import { PREDICT_OPTIONS } from '../options/predict.js';
import type { Prediction, PredictOptions } from '../predict/predict.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

/** Classes shown per image for models of more than 2 classes, most probable first. */
export const SHOWN_CLASSES = 3;

export function predictCommand(yargs: Argv) {
  return yargs.command(
    'predict <images..>',
    'classify images (EXIF orientation applied), optionally writing annotated copies',
    (y) =>
      addOptions(y, PREDICT_OPTIONS).epilog(
        helpEpilog(
          [
            ['engine predict face.jpg --model runs/seed1/model.onnx', 'the class and its probability: face.jpg: woman (p = 0.7424)'],
            ['engine predict photos/*.jpg --json', 'every class\'s probability for each image, with the newest run\'s model'],
            ['engine predict face.jpg --annotate face.annotated.jpg', 'also a copy of the image with the class drawn on it'],
          ],
          'Without --model or --weights: the newest run under ./runs (as for engine eval), named on stderr.',
        ),
      ),
    async (argv) => {
      const { json, ...options } = readFlags<PredictOptions & { json: boolean; images: string[] }>(PREDICT_OPTIONS, argv);
      const { predict } = await import('../predict/predict.js');
      // Without --model or --weights the model is the newest run's: say which.
      const chosen = options.model === undefined && options.weights === undefined;
      const onModel = ({ source }: { source: string }) => chosen && process.stderr.write(`model: ${source} (the newest run under ./runs)\n`);
      const predictions = await predict({ ...options, onModel });
      if (json) {
        process.stdout.write(JSON.stringify(predictions) + '\n');
        return;
      }
      for (const p of predictions) {
        process.stdout.write(`${predictionLine(p)}\n`);
        if (p.annotated) process.stderr.write(`annotated: ${p.annotated}\n`);
      }
    },
  );
}

/** `<file>: woman (p = 0.7096)` for 2 classes; `<file>: Sneaker 0.9731, Sandal 0.0182, Ankle boot 0.0050` for more. */
export function predictionLine(p: Prediction): string {
  const name = p.file ?? `images[${p.index}]`;
  if (p.ranked.length === 2) return `${name}: ${p.class} (p = ${p.probability.toFixed(4)})`;
  return `${name}: ${p.ranked.slice(0, SHOWN_CLASSES).map((r) => `${r.class} ${r.probability.toFixed(4)}`).join(', ')}`;
}
