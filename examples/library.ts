// The library from TypeScript, with the types it ships (dist/src/index.d.ts): train with typed events and an
// AbortSignal (Ctrl-C stops at the next step; `train({ resume })` continues), export, then one model loaded
// once for an evaluation and a prediction from bytes in memory.
//   npx tsc examples/library.ts ... (test/library-types.test.mjs compiles it with --strict)
import { readFile } from 'node:fs/promises';
import { EngineError, evaluate, exportOnnx, listSplit, loadModel, predict, train, type EpochFigures, type EvalReport, type Prediction, type TrainSummary } from 'small-cnn-engine';

async function main(data: string): Promise<void> {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const run: TrainSummary = await train(
    { data, epochs: 3, seed: 1, saveEvery: 0 },
    { signal: stop.signal, onEpoch: (e: EpochFigures) => console.log(`epoch ${e.epoch}: val_acc ${e.valAcc.toFixed(4)}`) },
  );
  const { file } = await exportOnnx({ weights: `${run.runDir}/best.safetensors`, data });
  const model = await loadModel({ model: file });
  try {
    const report: EvalReport = await evaluate({ target: 'val', data, model });
    console.log(`val accuracy ${(100 * report.accuracy).toFixed(2)}% of ${report.images} images`);
    const { files } = await listSplit(report.dir);
    const bytes: Buffer = await readFile(files[0]);
    const [p]: Prediction[] = await predict({ images: [bytes], model });
    console.log(`${p.class} (p = ${p.probability.toFixed(4)})`);
  } finally {
    await model.close();
  }
}

main(process.argv[2] ?? './data').catch((err: unknown) => {
  if (!(err instanceof EngineError)) throw err;
  console.error(err.message);
  process.exitCode = err.exitCode;
});
