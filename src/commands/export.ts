// `engine export onnx`: a checkpoint -> an ONNX model, then what a consumer must feed it.
import { promises as fs } from 'node:fs';
import type { Argv } from 'yargs';
import { exportOnnx } from '../onnx/export.js';

const formatBytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`);

export function exportCommand(yargs: Argv) {
  return yargs.command(
    'export <format>',
    'export trained weights for inference elsewhere (onnx)',
    (y) =>
      y
        .positional('format', { type: 'string', choices: ['onnx'], describe: 'output format', demandOption: true })
        .option('weights', { type: 'string', describe: 'checkpoint (default: best.safetensors of the newest run under runs/)' })
        .option('out', { alias: 'o', type: 'string', describe: 'model file to write (default: model.onnx beside the weights)' })
        .option('embed-preprocessing', {
          type: 'boolean',
          default: false,
          describe: 'take raw uint8 NHWC pixels and do the /255 scaling and NCHW transpose inside the graph',
        })
        .option('data', { type: 'string', describe: "dataset folder whose val/ MODEL_CARD.md is measured on (default: the checkpoint's training data, else ./data)" })
        .option('card', { type: 'boolean', default: true, describe: 'write MODEL_CARD.md beside the model (--no-card: do not)' })
        .option('json', { type: 'boolean', default: false, describe: 'print a machine-readable summary on stdout' }),
    async (argv) => {
      const { file, info, card } = await exportOnnx({
        weights: argv.weights,
        out: argv.out,
        embedPreprocessing: argv['embed-preprocessing'],
        modelCard: argv.card,
        data: argv.data,
      });
      const bytes = (await fs.stat(file)).size;
      const input = { name: info.inputName, dtype: info.dtype, shape: info.inputShape, layout: info.layout };
      const output = { name: info.outputName, dtype: 'float32', shape: info.outputShape };
      if (argv.json) {
        const modelCard = card && { file: card.file, accuracy: card.report?.accuracy ?? null, images: card.report?.images ?? 0, note: card.missingReason };
        const summary = { file, bytes, input, output, classes: info.classes, scale: info.scale, resize: info.resize, opset: info.opset, irVersion: info.irVersion, modelCard };
        process.stdout.write(JSON.stringify(summary) + '\n');
        return;
      }
      const scaling = info.scale === 1 ? 'raw 0..255 pixels' : `pixels x ${info.scale}`;
      process.stdout.write(
        `wrote ${file} (${formatBytes(bytes)}, ONNX IR ${info.irVersion}, opset ${info.opset})\n` +
          `  input  ${input.name} ${input.dtype} [${input.shape}] ${input.layout} ${info.metadata.channel_order ?? 'RGB'}, ${scaling}, ` +
          `${info.resize} resize to ${info.width}x${info.height}\n` +
          `  output ${output.name} ${output.dtype} [${output.shape}] = P(${info.classes[1]}), classes ${info.classes.map((c, i) => `${i}=${c}`).join(' ')}\n`,
      );
      if (card) {
        const r = card.report;
        const figures = r
          ? `val accuracy ${(r.accuracy * 100).toFixed(2)}% (${r.correct}/${r.images}), ROC AUC ${r.rocAuc.toFixed(4)}`
          : `no metrics: ${card.missingReason}`;
        process.stdout.write(`wrote ${card.file} (${figures})\n`);
      }
    },
  );
}
