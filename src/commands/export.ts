// `engine export onnx`: a checkpoint -> an ONNX model and its model card, then what a consumer must feed it.
import { promises as fs } from 'node:fs';
import type { Argv } from 'yargs';
import { EXPORT_OPTIONS } from '../options/export.js';
import type { ExportOptions } from '../workflows/export.js';
import { addOptions, helpEpilog, readFlags } from './flags.js';

const formatBytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`);

export function exportCommand(yargs: Argv) {
  return yargs.command(
    'export <format>',
    'export trained weights for inference elsewhere (onnx)',
    (y) =>
      addOptions(y, EXPORT_OPTIONS).epilog(
        helpEpilog([
          ['engine export onnx --weights runs/seed1/best.safetensors --data ../shared/data/celeba-575', 'runs/seed1/model.onnx and MODEL_CARD.md, measured on the val split'],
          ['engine export onnx --embed-preprocessing -o model-uint8.onnx', 'the newest run, as a model that takes raw uint8 pixels [N,H,W,C]'],
        ]),
      ),
    async (argv) => {
      const { format: _f, json, ...options } = readFlags<ExportOptions & { format: 'onnx'; json: boolean }>(EXPORT_OPTIONS, argv);
      const { exportOnnx } = await import('../workflows/export.js');
      const { file, info, card } = await exportOnnx(options);
      const bytes = (await fs.stat(file)).size;
      const input = { name: info.inputName, dtype: info.dtype, shape: info.inputShape, layout: info.layout };
      const output = { name: info.outputName, dtype: 'float32', shape: info.outputShape };
      if (json) {
        const modelCard = card && { file: card.file, accuracy: card.report?.accuracy ?? null, images: card.report?.images ?? 0, note: card.missingReason };
        const summary = { file, bytes, input, output, classes: info.classes, scale: info.scale, resize: info.resize, opset: info.opset, irVersion: info.irVersion, modelCard };
        process.stdout.write(JSON.stringify(summary) + '\n');
        return;
      }
      const scaling = info.scale === 1 ? 'raw 0..255 pixels' : `pixels x ${info.scale}`;
      process.stdout.write(
        `wrote ${file} (${formatBytes(bytes)}, ONNX IR ${info.irVersion}, opset ${info.opset})\n` +
          `  input  ${input.name} ${input.dtype} [${input.shape}] ${input.layout} ${info.metadata.channel_order ?? 'RGB'}, ${scaling}, ` +
          `${info.resize === 'none' ? `images of ${info.width}x${info.height} (no resize)` : `${info.resize} resize to ${info.width}x${info.height}`}\n` +
          `  output ${output.name} ${output.dtype} [${output.shape}] = ${info.head === 'softmax' ? 'the probability of each class' : `P(${info.classes[1]})`}, classes ${info.classes.map((c, i) => `${i}=${c}`).join(' ')}\n`,
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
