// @ts-check
// The library in a few lines: train, export (with its model card), evaluate on val, classify an image.
//   node examples/library.mjs [DATA=./data] [EPOCHS=3] [OUT=runs/run-<date>-<time>]
// Run from the project folder (or anywhere `engine` is installed); tests run it on a small dataset.
// examples/library.ts is the same in TypeScript.
import { train, exportOnnx, evaluate, formatReport, predict, listSplit, EngineError } from 'small-cnn-engine';

const [data = './data', epochs = '3', out] = process.argv.slice(2);

try {
  const run = await train(
    { data, epochs: Number(epochs), seed: 1, out, saveEvery: 0 },
    { onEpoch: (r) => console.log(`epoch ${r.epoch}: val_acc ${r.valAcc.toFixed(4)}`) },
  );
  const { file, card } = await exportOnnx({ weights: `${run.runDir}/best.safetensors`, data });
  console.log(`exported ${file}; model card ${card?.file}`);

  const onProgress = (done, total) => process.stderr.write(`\rclassified ${done}/${total}`);
  const report = await evaluate({ target: 'val', data, model: file, onProgress });
  process.stderr.write('\n');
  console.log(formatReport(report));

  const { files } = await listSplit(report.dir);
  const [p] = await predict({ images: [files[0]], model: file });
  console.log(`${p.file}: ${p.class} (p = ${p.probability.toFixed(4)})`);
} catch (err) {
  // bad input (a missing folder, an option out of range) is one line; anything else is a bug: its stack
  if (!(err instanceof EngineError)) throw err;
  console.error(`library example: ${err.message}`);
  process.exitCode = err.exitCode;
}
