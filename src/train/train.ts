// `engine train` as a library function: load and check the data, then one native call per batch, with
// validation, history, plots, checkpoints and run.json after each epoch. Data order and augmentation are drawn
// here from a seeded RNG; the native engine owns the weights, the optimizer state and the dropout masks.
import path from 'node:path';
import { EngineError } from '../errors.js';
import { listSplit, resolveSplitDir } from '../data/discover.js';
import { IMAGE_SIZE, loadSplit, type ImageSet } from '../data/decode.js';
import { AUGMENT_STRIDE, drawAugmentation, permutation, Rng } from '../data/random.js';
import { modelSpec } from '../model/spec.js';
import { native, type NativeTrainer } from '../native.js';
import { writeHistory, type EpochRecord } from '../report/history.js';
import { writeHistoryPlot } from '../report/plot.js';
import { versions } from '../version.js';
import { saveCheckpoint, type CheckpointMeta } from './checkpoint.js';
import { resolveTrainOptions, type TrainConfig, type TrainOptions } from './options.js';
import { createRunDir, writeRunJson, type RunStatus } from './run-dir.js';

export interface TrainEvents {
  /** one line of news (data loaded, files written, warnings) */
  onLog?(line: string): void;
  onDecodeProgress?(split: string, done: number, total: number): void;
  onEpochStart?(epoch: number, epochs: number, batches: number): void;
  onBatch?(epoch: number, batch: number, batches: number, loss: number): void;
  onEpoch?(record: EpochRecord): void;
}

export interface TrainSummary {
  runDir: string;
  config: TrainConfig;
  classes: string[];
  trainImages: number;
  valImages: number;
  skippedImages: string[];
  history: EpochRecord[];
  final: EpochRecord;
  /** the epoch with the lowest validation loss (saved as best.safetensors) */
  best: EpochRecord;
  /** mean validation accuracy over the last min(20, epochs) epochs */
  meanValAccLast20: number;
  /** median seconds of the training part of an epoch (augmentation + steps, no validation) */
  medianTrainSeconds: number;
  trainImagesPerSecond: number;
  files: string[];
}

/** Mean loss and accuracy of the current weights on a whole split, in chunks (no augmentation, no dropout). */
export async function evaluateSplit(trainer: NativeTrainer, set: ImageSet, chunk = 256): Promise<{ loss: number; acc: number }> {
  const bytes = IMAGE_SIZE * IMAGE_SIZE * 3;
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < set.size; i += chunk) {
    const n = Math.min(chunk, set.size - i);
    const r = await trainer.evaluate(set.images.subarray(i * bytes, (i + n) * bytes), set.labels.subarray(i, i + n));
    loss += r.loss * n;
    correct += r.correct;
  }
  return { loss: loss / set.size, acc: correct / set.size };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function train(options: TrainOptions = {}, events: TrainEvents = {}): Promise<TrainSummary> {
  const config = resolveTrainOptions(options);
  const log = (line: string) => events.onLog?.(line);
  const spec = modelSpec(config.model);

  // Everything that can be wrong with the data is found before the run directory exists.
  const trainList = await listSplit(await resolveSplitDir(config.data, 'train'));
  const valList = await listSplit(await resolveSplitDir(config.data, 'val'), { classes: trainList.classes });
  if (trainList.classes.length !== 2)
    throw new EngineError(`the model is a binary classifier: expected 2 class folders, found ${trainList.classes.length} (${trainList.classes.join(', ')})`);
  const load = (list: typeof trainList, split: string) =>
    loadSplit(list, { skipBadImages: config.skipBadImages, onProgress: (d, t) => events.onDecodeProgress?.(split, d, t) });
  const trainSet = await load(trainList, 'train');
  const valSet = await load(valList, 'val');
  const skipped = [...trainSet.skipped, ...valSet.skipped];
  for (const f of skipped) log(`warning: skipped unreadable image ${f}`);
  for (const [name, set] of [['train', trainSet], ['val', valSet]] as const)
    if (set.size === 0) throw new EngineError(`no usable images in the ${name} split`);
  log(`data: ${trainSet.size} train and ${valSet.size} val images, classes ${trainList.classes.map((c, i) => `${i}=${c}`).join(' ')}`);

  const runDir = await createRunDir(config.out);
  const trainer = new native.Trainer({ spec, seed: config.seed, threads: config.threads, isa: config.isa });
  const started = new Date();
  const files = new Set<string>();
  const history: EpochRecord[] = [];
  let best: EpochRecord | undefined;
  const runRecord = (status: RunStatus, extra: Record<string, unknown> = {}) => ({
    status,
    started: started.toISOString(),
    updated: new Date().toISOString(),
    model: spec.name,
    config: { ...config, data: path.resolve(config.data) },
    seed: config.seed,
    classes: trainList.classes,
    dataset: { train: trainSet.size, val: valSet.size, skipped },
    engine: { ...versions(), ...trainer.info() },
    epochsDone: history.length,
    ...extra,
  });
  const write = async (name: string, fn: (file: string) => Promise<void>) => {
    await fn(path.join(runDir, name));
    files.add(name);
  };

  try {
    await writeRunJson(runDir, runRecord('running'));
    log(`run directory: ${runDir} (seed ${config.seed}, ${trainer.info().threads} threads, ${trainer.info().isa})`);

    const rng = new Rng(config.seed);
    const optimizer = { lr: config.lr, rho: config.rho, epsilon: config.epsilon };
    const bytes = IMAGE_SIZE * IMAGE_SIZE * 3;
    const batches = Math.ceil(trainSet.size / config.batchSize);
    const batchImages = new Uint8Array(config.batchSize * bytes);
    const batchLabels = new Uint8Array(config.batchSize);
    const augment = new Float64Array(config.batchSize * AUGMENT_STRIDE);
    const trainSeconds: number[] = [];

    const checkpointMeta = (epoch: number, record: EpochRecord): CheckpointMeta => ({
      spec,
      config: { ...config },
      classes: trainList.classes,
      epoch,
      step: trainer.getState().step,
      rngState: rng.getState(),
      metrics: { loss: record.loss, acc: record.acc, val_loss: record.val_loss, val_acc: record.val_acc },
    });
    const save = (name: string, meta: CheckpointMeta) =>
      write(name, (file) =>
        saveCheckpoint(file, {
          meta,
          layout: trainer.paramLayout(),
          params: trainer.getParams() as Float32Array,
          accumulators: trainer.getState().accumulators as Float32Array,
        }),
      );

    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      events.onEpochStart?.(epoch, config.epochs, batches);
      const t0 = performance.now();
      const order = permutation(trainSet.size, rng);
      let lossSum = 0;
      let correct = 0;
      for (let b = 0; b < batches; b++) {
        const start = b * config.batchSize;
        const n = Math.min(config.batchSize, trainSet.size - start);
        for (let i = 0; i < n; i++) {
          const src = order[start + i];
          batchImages.set(trainSet.images.subarray(src * bytes, (src + 1) * bytes), i * bytes);
          batchLabels[i] = trainSet.labels[src];
        }
        if (config.augment) drawAugmentation(augment, n, rng);
        const aug = config.augment ? augment.subarray(0, n * AUGMENT_STRIDE) : null;
        const r = await trainer.trainStep(batchImages.subarray(0, n * bytes), batchLabels.subarray(0, n), aug, optimizer);
        if (!Number.isFinite(r.loss))
          throw new EngineError(`training diverged: the loss is ${r.loss} at epoch ${epoch}, step ${b + 1}/${batches} (try a smaller --lr)`, 1);
        lossSum += r.loss * n;
        correct += r.correct;
        events.onBatch?.(epoch, b + 1, batches, lossSum / (start + n));
      }
      trainSeconds.push((performance.now() - t0) / 1000);
      const val = await evaluateSplit(trainer, valSet);
      const record: EpochRecord = {
        epoch,
        loss: lossSum / trainSet.size,
        acc: correct / trainSet.size,
        val_loss: val.loss,
        val_acc: val.acc,
        seconds: (performance.now() - t0) / 1000,
      };
      history.push(record);
      events.onEpoch?.(record);

      await write('history.csv', () => writeHistory(runDir, history));
      for (const f of ['loss', 'acc', 'val_loss', 'val_acc']) files.add(`history/${f}_history.txt`);
      const meta = checkpointMeta(epoch, record);
      if (!best || record.val_loss < best.val_loss) {
        best = record;
        await save('best.safetensors', meta);
      }
      const last = epoch === config.epochs;
      if ((config.saveEvery > 0 && epoch % config.saveEvery === 0) || last) {
        if (config.saveEvery > 0 && epoch % config.saveEvery === 0) await save(`weights${epoch}.safetensors`, meta);
        await save('last.safetensors', meta);
        await write('history.png', (file) => writeHistoryPlot(file, history, { title: `${spec.name}, seed ${config.seed}` }));
        await writeRunJson(runDir, runRecord('running'));
      }
    }

    const final = history[history.length - 1];
    const tail = history.slice(-20);
    const summary: TrainSummary = {
      runDir,
      config,
      classes: trainList.classes,
      trainImages: trainSet.size,
      valImages: valSet.size,
      skippedImages: skipped,
      history,
      final,
      best: best!,
      meanValAccLast20: tail.reduce((s, r) => s + r.val_acc, 0) / tail.length,
      medianTrainSeconds: median(trainSeconds),
      trainImagesPerSecond: trainSet.size / median(trainSeconds),
      files: [...files, 'run.json'].sort(),
    };
    const { history: _h, config: _c, runDir: _r, ...figures } = summary;
    await writeRunJson(runDir, runRecord('finished', { finished: new Date().toISOString(), results: figures }));
    return summary;
  } catch (err) {
    await writeRunJson(runDir, runRecord('failed', { error: (err as Error).message })).catch(() => undefined);
    throw err;
  } finally {
    trainer.dispose();
  }
}
