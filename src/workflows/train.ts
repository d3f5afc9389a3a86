// `engine train` as a library function: load and check the data, then one native call per batch, with
// validation, history, plots, checkpoints and run.json after each epoch. Data order and augmentation are drawn
// here from a seeded RNG; the native engine owns the weights, the optimizer state and the dropout masks.
import os from 'node:os';
import path from 'node:path';
import { EngineError, InputError, Interrupted } from '../errors.js';
import { describeValidation, listTrainingSplits, type Validation } from '../data/dataset.js';
import { openTrainingSplit } from '../data/cache.js';
import { preprocessOf } from '../data/preprocess.js';
import { Rng } from '../data/random.js';
import { trainingSpec, type ModelSpec } from '../model/spec.js';
import { resolveArch, resolveTrainOptions, type TrainConfig, type TrainOptions } from '../options/train.js';
import { writeHistoryPlot } from '../report/plot.js';
import { classNamesProblem, saveCheckpoint, type CheckpointMeta } from '../store/checkpoint.js';
import { epochFigures, HISTORY_CSV, seedHistoryFiles, writeHistory, type EpochFigures, type EpochRecord } from '../store/history.js';
import type { RunLock } from '../store/lock.js';
import { checkRunDirTarget, createRunDir, existingRunFiles, RUN_FILES, weightsName, writeRunJson, type RunStatus } from '../store/run-dir.js';
import { evaluateSplit } from '../train/epoch.js';
import { openTrainer, resolveDevice } from '../train/device.js';
import { native } from '../native.js';
import { checkSameData, openResume, restoreResumePoint, type ResumePoint } from '../train/resume.js';
import { TrainingDiverged } from '../train/diverged.js';
import { versions } from '../version.js';

export interface TrainEvents {
  /** one line of news (data loaded, files written, warnings) */
  onLog?(line: string): void;
  onDecodeProgress?(split: string, done: number, total: number): void;
  onEpochStart?(epoch: number, epochs: number, batches: number): void;
  onBatch?(epoch: number, batch: number, batches: number, loss: number): void;
  onEpoch?(figures: EpochFigures): void;
  /**
   * Aborting it (the CLI does on SIGINT/SIGTERM, with the signal's name as the reason) stops the run at the next
   * image decoded or batch trained: the run keeps its last checkpoint and run.json says 'interrupted'.
   */
  signal?: AbortSignal;
}

export interface TrainSummary {
  runDir: string;
  config: TrainConfig;
  /** the model trained: the preset's (or given) spec shaped for the data's classes */
  spec: ModelSpec;
  classes: string[];
  trainImages: number;
  valImages: number;
  /** where the validation images came from (the val split, the test split, or held out of train) */
  validation: Validation;
  skippedImages: string[];
  history: EpochFigures[];
  final: EpochFigures;
  /** the epoch with the lowest validation loss (saved as best.safetensors) */
  best: EpochFigures;
  /** mean validation accuracy over the last min(20, epochs) epochs */
  meanValAccLast20: number;
  /** median seconds of the training part of an epoch (augmentation + steps, no validation) */
  medianTrainSeconds: number;
  trainImagesPerSecond: number;
  files: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * The training config as a checkpoint (and so a model and its card) records it: no path of this machine. The
 * data folder is relative to the run folder (posix separators; what resume needs is in run.json, which keeps it
 * absolute), and the output and cache folders are left out.
 */
export function portableConfig(config: TrainConfig, runDir: string, validation: Validation): Record<string, unknown> {
  const { out: _o, cacheDir: _c, ...rest } = config;
  const data = path.relative(runDir, path.resolve(config.data)).split(path.sep).join('/') || '.';
  return { ...rest, data, validation };
}

/** Trains with `options` (resolved by resolveTrainOptions), or continues the run `options.resume`. */
export async function train(options: TrainOptions = {}, events: TrainEvents = {}): Promise<TrainSummary> {
  if (options.resume === undefined) return runTraining(resolveTrainOptions(options), events);
  const resume = await openResume(options.resume, options);
  return runTraining(resume.config, events, resume);
}

/** A run of a resolved config: a new run directory, or the one of `resume` continued. The run folder's lock is held until it ends. */
export async function runTraining(config: TrainConfig, events: TrainEvents = {}, resume?: ResumePoint): Promise<TrainSummary> {
  let lock = resume?.lock;
  try {
    return await trainLocked(config, events, resume, (l) => (lock = l));
  } finally {
    await lock?.release();
  }
}

/** The signal's reason as a name ('SIGINT'), for the message of an interrupted run. */
const reasonOf = (signal: AbortSignal) => (typeof signal.reason === 'string' ? signal.reason : 'an abort');

async function trainLocked(config: TrainConfig, events: TrainEvents, resume: ResumePoint | undefined, locked: (lock: RunLock) => void): Promise<TrainSummary> {
  const log = (line: string) => events.onLog?.(line);
  const arch = resolveArch(config.arch);
  const device = resolveDevice(config.device); // a CUDA request that cannot run fails here, before anything is read
  const stopIfAborted = () => {
    if (events.signal?.aborted) throw new Interrupted(`interrupted by ${reasonOf(events.signal)} while reading the data; nothing was written`, events.signal.reason);
  };

  // Everything that can be wrong with the run folder (--out, or runs/ here: a file, a read-only or full disk) and
  // the data is found before the run directory exists. A resumed run's folder is locked, so it is writable.
  if (!resume) await checkRunDirTarget(config.out);
  const { train: trainList, val: valList, validation } = await listTrainingSplits(config.data, config.val, config.seed);
  const classProblem = classNamesProblem(trainList.classes);
  if (classProblem) throw new InputError(`the classes of ${config.data}: ${classProblem}; rename the folders`);
  // the preset's spec with an output for the data's classes: the model this run trains
  const spec = trainingSpec(arch.spec, { classes: trainList.classes.length, head: config.head, resize: config.resize });
  const preprocess = preprocessOf(spec);
  const load = (list: typeof trainList, split: string) =>
    openTrainingSplit(list, {
      cache: config.cache,
      cacheDir: config.cacheDir,
      skipBadImages: config.skipBadImages,
      onProgress: (d, t) => {
        stopIfAborted();
        events.onDecodeProgress?.(split, d, t);
      },
      onLog: log,
      preprocess,
    });
  const trainSet = await load(trainList, 'train');
  const valSet = await load(valList, 'val');
  const skipped = [...trainSet.skipped, ...valSet.skipped];
  for (const why of [...trainSet.skipReasons, ...valSet.skipReasons]) log(`warning: skipped ${why}`);
  for (const [name, set, list] of [['train', trainSet, trainList], ['val', valSet, valList]] as const) {
    if (set.size === 0) throw new EngineError(`no usable images in the ${name} split`);
    // With --skip-bad-images a class can lose every image: the run would learn (or measure) one class only.
    const empty = list.classes.findIndex((_, c) => !set.labels.includes(c));
    if (empty >= 0) {
      const listed = list.labels.filter((l) => l === empty).length;
      throw new InputError(
        `no usable ${name === 'train' ? 'training' : 'validation'} image of class '${list.classes[empty]}': ` +
          `all ${listed} of its images in the ${name} split are unreadable and were skipped (--skip-bad-images); every class needs images`,
      );
    }
  }
  log(`data: ${trainSet.size} train and ${valSet.size} val images, classes ${trainList.classes.map((c, i) => `${i}=${c}`).join(' ')}`);
  if (validation.source === 'holdout') log(`validation: ${describeValidation(validation)}`);
  if (validation.source === 'test') log(`validation: the test split (--val test: best.safetensors is chosen on it, so test figures of it are optimistic)`);

  if (resume) checkSameData(resume.record, trainSet.size, valSet.size, trainList.classes, validation);
  const { trainer, runEpoch, describe } = await openTrainer(
    device,
    { spec, seed: config.seed, threads: config.threads, isa: config.isa, precision: config.precision, conv: config.conv },
    trainSet,
  );
  log(device.note);
  let runDir: string;
  try {
    stopIfAborted();
    if (resume) runDir = resume.runDir;
    else {
      const created = await createRunDir(config.out);
      locked(created.lock);
      runDir = created.dir;
    }
  } catch (err) {
    trainer.dispose();
    throw err;
  }
  const started = new Date();
  const files = new Set<string>(resume ? await existingRunFiles(runDir) : []);
  const history: EpochRecord[] = resume ? [...resume.history] : [];
  let best: EpochRecord | undefined = resume?.best;
  let newestSaved = resume?.checkpointFile ? { name: path.basename(resume.checkpointFile), epoch: resume.history.length } : undefined;
  const resumes = resume ? [...((resume.record.resumes as unknown[]) ?? []), { at: started.toISOString(), fromEpoch: history.length }] : undefined;
  const runRecord = (status: RunStatus, extra: Record<string, unknown> = {}) => ({
    status,
    pid: process.pid,
    host: os.hostname(),
    started: resume ? String(resume.record.started) : started.toISOString(),
    ...(resumes ? { resumes } : {}),
    updated: new Date().toISOString(),
    model: spec.name,
    config: { ...config, data: path.resolve(config.data) },
    seed: config.seed,
    classes: trainList.classes,
    spec,
    validation,
    dataset: { train: trainSet.size, val: valSet.size, skipped },
    engine: { ...versions(), ...trainer.info() },
    plan: trainer.plan(),
    epochsDone: history.length,
    ...extra,
  });
  const write = async (name: string, fn: (file: string) => Promise<void>) => {
    await fn(path.join(runDir, name));
    files.add(name);
  };

  try {
    await writeRunJson(runDir, runRecord('running'));
    log(`run directory: ${runDir} (seed ${config.seed}, ${describe})`);

    const rng = new Rng(config.seed);
    if (resume) restoreResumePoint(resume, trainer, rng, log);
    const epochConfig = {
      batchSize: config.batchSize,
      augment: config.augment,
      optimizer: { lr: config.lr, rho: config.rho, epsilon: config.epsilon },
    };
    const batches = Math.ceil(trainSet.size / config.batchSize);
    const trainSeconds: number[] = [];

    type EpochMeta = CheckpointMeta & { epoch: number };
    const ckptConfig = portableConfig(config, runDir, validation);
    const checkpointMeta = (epoch: number, record: EpochRecord): EpochMeta => ({
      spec,
      config: ckptConfig,
      classes: trainList.classes,
      epoch,
      step: trainer.getState().step,
      rngState: rng.getState(),
      metrics: { loss: record.loss, acc: record.acc, val_loss: record.val_loss, val_acc: record.val_acc },
    });
    const save = async (name: string, meta: EpochMeta) => {
      await write(name, (file) =>
        saveCheckpoint(file, {
          meta,
          layout: trainer.paramLayout(),
          params: trainer.getParams() as Float32Array,
          accumulators: trainer.getState().accumulators as Float32Array,
          stateLayout: native.layout(spec).state,
          state: trainer.getState().state as Float32Array,
        }),
      );
      newestSaved = { name, epoch: meta.epoch };
    };

    for (let epoch = history.length + 1; epoch <= config.epochs; epoch++) {
      events.onEpochStart?.(epoch, config.epochs, batches);
      const t0 = performance.now();
      const epochResult = await runEpoch(trainSet, rng, epochConfig, epoch, (b, n, loss) => {
        if (events.signal?.aborted) throw new Interrupted(`interrupted by ${reasonOf(events.signal)} in epoch ${epoch}`, events.signal.reason);
        events.onBatch?.(epoch, b, n, loss);
      });
      trainSeconds.push(epochResult.seconds);
      const val = await evaluateSplit(trainer, valSet);
      const record: EpochRecord = {
        epoch,
        loss: epochResult.loss,
        acc: epochResult.acc,
        val_loss: val.loss,
        val_acc: val.acc,
        seconds: (performance.now() - t0) / 1000,
      };
      history.push(record);
      events.onEpoch?.(epochFigures(record));

      await write(HISTORY_CSV, () => writeHistory(runDir, history));
      for (const f of seedHistoryFiles()) files.add(f);
      const meta = checkpointMeta(epoch, record);
      if (!best || record.val_loss < best.val_loss) {
        best = record;
        await save(RUN_FILES.best, meta);
      }
      const last = epoch === config.epochs;
      if ((config.saveEvery > 0 && epoch % config.saveEvery === 0) || last) {
        if (config.saveEvery > 0 && epoch % config.saveEvery === 0) await save(weightsName(epoch), meta);
        await save(RUN_FILES.last, meta);
        await write(RUN_FILES.plot, (file) => writeHistoryPlot(file, history, { title: `${spec.name}, seed ${config.seed}` }));
        await writeRunJson(runDir, runRecord('running'));
      }
    }

    // A resumed run that had every epoch checkpointed trained nothing now: redo the last save point's plot (the
    // kill may have come before it) and take the epoch times from the history.
    if (trainSeconds.length === 0) {
      trainSeconds.push(...history.map((r) => r.seconds));
      // The kill may also have come between best.safetensors and last (or weights<N>) of the last epoch: the
      // trainer holds the checkpoint it resumed from, which is that epoch's state, so write them from it.
      const resumed = resume?.checkpoint?.meta;
      if (resumed) {
        const meta = { ...resumed, epoch: resumed.epoch ?? history.length }; // openResume checked they are equal
        if (config.saveEvery > 0 && meta.epoch % config.saveEvery === 0) await save(weightsName(meta.epoch), meta);
        await save(RUN_FILES.last, meta);
      }
      await write(RUN_FILES.plot, (file) => writeHistoryPlot(file, history, { title: `${spec.name}, seed ${config.seed}` }));
    }
    const final = history[history.length - 1];
    const tail = history.slice(-20);
    const figures = {
      classes: trainList.classes,
      trainImages: trainSet.size,
      valImages: valSet.size,
      skippedImages: skipped,
      meanValAccLast20: tail.reduce((s, r) => s + r.val_acc, 0) / tail.length,
      medianTrainSeconds: median(trainSeconds),
      trainImagesPerSecond: trainSet.size / median(trainSeconds),
      files: [...files, RUN_FILES.record].sort(),
    };
    // run.json keeps history.csv's column names (a file format); the library's figures are camelCase
    await writeRunJson(runDir, runRecord('finished', { finished: new Date().toISOString(), results: { ...figures, final, best } }));
    return {
      runDir,
      config,
      spec,
      validation,
      ...figures,
      history: history.map(epochFigures),
      final: epochFigures(final),
      best: epochFigures(best!),
    };
  } catch (err) {
    if (err instanceof TrainingDiverged) {
      err.message += newestSaved
        ? `; the newest good checkpoint is ${path.join(runDir, newestSaved.name)} (epoch ${newestSaved.epoch})`
        : '; no checkpoint was written';
    }
    if (err instanceof Interrupted) {
      const kept = newestSaved ? `its newest checkpoint is ${newestSaved.name} (epoch ${newestSaved.epoch})` : 'it has no checkpoint yet';
      err.message += `; the run is marked interrupted and ${kept}: continue it with engine train --resume ${runDir}`;
      await writeRunJson(runDir, runRecord('interrupted', { interrupted: new Date().toISOString() })).catch(() => undefined);
    } else await writeRunJson(runDir, runRecord('failed', { error: (err as Error).message })).catch(() => undefined);
    throw err;
  } finally {
    trainer.dispose();
    await Promise.all([trainSet.close(), valSet.close()]);
  }
}

