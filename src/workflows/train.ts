// `engine train` as a library function: load and check the data, then one native call per batch, with
// validation, history, plots, checkpoints and run.json after each epoch. Data order and augmentation are drawn
// here from a seeded RNG; the native engine owns the weights, the optimizer state and the dropout masks.
import os from 'node:os';
import path from 'node:path';
import { EngineError, InputError, Interrupted } from '../errors.js';
import { describeValidation, listTrainingSplits, type Validation } from '../data/dataset.js';
import { openTrainingSplit, type LoadedSplit } from '../data/cache.js';
import { channelStats, type ChannelStats } from '../data/channel-stats.js';
import { preprocessOf, type Preprocess } from '../data/preprocess.js';
import type { SplitListing } from '../data/discover.js';
import { Rng } from '../data/random.js';
import { trainingSpec, type Monitor, type ModelSpec } from '../model/spec.js';
import { resolveArch, resolveTrainOptions, type TrainConfig, type TrainOptions } from '../options/train.js';
import { writeHistoryPlot } from '../report/plot.js';
import { classNamesProblem, saveCheckpoint, type CheckpointMeta } from '../store/checkpoint.js';
import { epochFigures, HISTORY_CSV, improves, seedHistoryFiles, writeHistory, type EpochFigures, type EpochRecord } from '../store/history.js';
import type { RunLock } from '../store/lock.js';
import { checkRunDirTarget, createRunDir, existingRunFiles, RUN_FILES, weightsName, writeRunJson, type RunStatus } from '../store/run-dir.js';
import { evaluateSplit, predictSplit, type EpochConfig } from '../train/epoch.js';
import { openTrainer, resolveDevice, type TrainerRecipe } from '../train/device.js';
import { learningRate } from '../train/schedule.js';
import { native, type OptimizerConfig } from '../native.js';
import { checkSameData, checkSameNormalization, openResume, restoreResumePoint, type ResumePoint } from '../train/resume.js';
import { TrainingDiverged } from '../train/diverged.js';
import { versions } from '../version.js';

export interface TrainEvents {
  /** one line of news (data loaded, files written, warnings) */
  onLog?(line: string): void;
  onDecodeProgress?(split: string, done: number, total: number): void;
  onEpochStart?(epoch: number, epochs: number, batches: number): void;
  onBatch?(epoch: number, batch: number, batches: number, loss: number): void;
  /** an epoch's figures; `best`: its monitored figure is the best so far (best.safetensors now holds it) */
  onEpoch?(figures: EpochFigures, mark: { best: boolean; monitor: Monitor }): void;
  /**
   * Aborting it (the CLI does on SIGINT/SIGTERM, with the signal's name as the reason) stops the run at the next
   * image decoded or batch trained: train() rejects with an Interrupted error, the run keeps its last checkpoint,
   * run.json says 'interrupted', and `train({ resume: runDir })` continues it.
   */
  signal?: AbortSignal;
}

/** Why a run ended before its last epoch: --patience epochs without a better monitored figure. */
export interface EarlyStop {
  epoch: number;
  bestEpoch: number;
  monitor: Monitor;
  patience: number;
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
  /** the epoch with the best monitored figure (config.monitor; saved as best.safetensors) */
  best: EpochFigures;
  /** where --patience stopped the run, if it did */
  stoppedEarly?: EarlyStop;
  /** --normalize auto: the training split's per-channel mean and std of pixels / 255 */
  normalization?: ChannelStats;
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

/**
 * The data of a run prepared by the caller (`engine cv`: a fold of images already in memory) instead of read from
 * config.data: the training and validation images, their classes and what the validation is.
 */
export interface PreparedData {
  trainSet: LoadedSplit;
  valSet: LoadedSplit;
  classes: string[];
  validation: Validation;
}

/** What runTraining does besides a run (for `engine cv`). */
export interface RunExtras {
  /** train on these images instead of reading config.data */
  data?: PreparedData;
  /** at the end, the final weights' scores on the validation images ([n, columns], as the model's output) */
  scoreVal?: { tta?: 'flip' };
}

/** The optimizer settings of a step, the schedule's lr aside: only what the recipe's optimizer reads. */
export function optimizerSettings(c: TrainConfig): OptimizerConfig {
  const common = { lr: c.lr, ...(c.weightDecay > 0 ? { weightDecay: c.weightDecay } : {}), ...(c.clipNorm > 0 ? { clipNorm: c.clipNorm } : {}) };
  switch (c.optimizer) {
    case 'rmsprop':
      return { ...common, rho: c.rho, epsilon: c.epsilon };
    case 'sgd':
      return { ...common, momentum: c.momentum, nesterov: c.nesterov };
    case 'adamw':
      return { ...common, beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon };
  }
}

/** The recipe fields the native trainer is built with; what is the seed's is left out (its path stays as it was). */
export function trainerRecipe(c: TrainConfig, normalization: ChannelStats | undefined): TrainerRecipe {
  return {
    ...(c.optimizer !== 'rmsprop' ? { optimizer: c.optimizer } : {}),
    ...(c.labelSmoothing > 0 ? { labelSmoothing: c.labelSmoothing } : {}),
    ...(c.ema > 0 ? { ema: c.ema } : {}),
    ...(normalization ? { normalize: normalization } : {}),
    ...(c.augment === 'crop' ? { augment: 'crop' as const } : {}),
  };
}

/** An epoch's settings: the batch size, the augmentation and its draws, and the schedule's lr of each step. */
function epochSettings(c: TrainConfig, spec: ModelSpec, batches: number, epoch: number): EpochConfig {
  const [height, width] = spec.input;
  return {
    batchSize: c.batchSize,
    augment: c.augment === 'none' ? false : c.augment,
    ...(c.augment === 'crop' ? { crop: { shift: c.shift, flip: c.flip, rotate: c.rotate, erase: c.erase, eraseArea: c.eraseArea, eraseAspect: c.eraseAspect, height, width } } : {}),
    optimizer: optimizerSettings(c),
    lrAt: (b) => learningRate(c, (epoch - 1) * batches + b, batches),
  };
}

/** Has --patience run out: `patience` epochs after the best one (none finite: after the first `patience`)? */
export function patienceSpent(history: readonly EpochRecord[], best: EpochRecord | undefined, patience: number): boolean {
  return patience > 0 && history.length - (best?.epoch ?? 0) >= patience;
}

/** `epoch 3: loss 0.4123 acc ... lr 0.05 1.23s`, and `, best val_acc` where it is the best so far. */
export function epochLine(r: EpochFigures, mark: { best: boolean; monitor: Monitor }): string {
  const lr = Number.isFinite(r.lr) ? ` lr ${Number(r.lr.toPrecision(3))}` : '';
  return (
    `epoch ${r.epoch}: loss ${r.loss.toFixed(4)} acc ${r.acc.toFixed(4)} val_loss ${r.valLoss.toFixed(4)} val_acc ${r.valAcc.toFixed(4)}${lr} ` +
    `${r.seconds.toFixed(2)}s${mark.best ? `, best ${mark.monitor}` : ''}`
  );
}

/** A run of a resolved config: a new run directory, or the one of `resume` continued. The run folder's lock is held until it ends. */
export async function runTraining(config: TrainConfig, events: TrainEvents = {}, resume?: ResumePoint, extras: RunExtras = {}): Promise<TrainSummary & { valScores?: Float32Array }> {
  let lock = resume?.lock;
  try {
    return await trainLocked(config, events, resume, extras, (l) => (lock = l));
  } finally {
    await lock?.release();
  }
}

/** The signal's reason as a name ('SIGINT'), for the message of an interrupted run. */
const reasonOf = (signal: AbortSignal) => (typeof signal.reason === 'string' ? signal.reason : 'an abort');

async function trainLocked(
  config: TrainConfig,
  events: TrainEvents,
  resume: ResumePoint | undefined,
  extras: RunExtras,
  locked: (lock: RunLock) => void,
): Promise<TrainSummary & { valScores?: Float32Array }> {
  const log = (line: string) => events.onLog?.(line);
  const stopIfAborted = () => {
    if (events.signal?.aborted) throw new Interrupted(`interrupted by ${reasonOf(events.signal)} while reading the data; nothing was written`, events.signal.reason);
  };
  stopIfAborted();
  const arch = resolveArch(config.arch);
  const device = resolveDevice(config.device); // a CUDA request that cannot run fails here, before anything is read

  // Everything that can be wrong with the run folder (--out, or runs/ here: a file, a read-only or full disk) and
  // the data is found before the run directory exists. A resumed run's folder is locked, so it is writable.
  if (!resume) await checkRunDirTarget(config.out);
  const { trainSet, valSet, classes, validation } = extras.data ?? (await readRunData(config, arch.spec, events, stopIfAborted));
  const spec = trainingSpec(arch.spec, { classes: classes.length, head: config.head, resize: config.resize });
  const skipped = [...trainSet.skipped, ...valSet.skipped];
  log(`data: ${trainSet.size} train and ${valSet.size} val images, classes ${classes.map((c, i) => `${i}=${c}`).join(' ')}`);
  if (validation.source === 'holdout' || validation.source === 'fold') log(`validation: ${describeValidation(validation)}`);
  if (validation.source === 'test') log(`validation: the test split (--val test: best.safetensors is chosen on it, so test figures of it are optimistic)`);

  if (resume) checkSameData(resume.record, trainSet.size, valSet.size, classes, validation);
  const normalization = config.normalize === 'auto' ? await channelStats(trainSet) : undefined;
  if (normalization) {
    log(`normalize: mean ${normalization.mean.map((m) => m.toFixed(4)).join(',')} std ${normalization.std.map((d) => d.toFixed(4)).join(',')} (of the training split)`);
    if (resume) checkSameNormalization(resume.record, normalization);
  }
  const { trainer, runEpoch, describe } = await openTrainer(
    device,
    { spec, seed: config.seed, threads: config.threads, isa: config.isa, precision: config.precision, conv: config.conv, recipe: trainerRecipe(config, normalization) },
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
  let stoppedEarly: EarlyStop | undefined;
  const earlyStop = (epoch: number): EarlyStop => ({ epoch, bestEpoch: best?.epoch ?? 0, monitor: config.monitor, patience: config.patience });
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
    classes,
    spec,
    validation,
    ...(normalization ? { normalization } : {}),
    dataset: { train: trainSet.size, val: valSet.size, skipped },
    engine: { ...versions(), ...trainer.info() },
    plan: trainer.plan(),
    epochsDone: history.length,
    ...(stoppedEarly ? { stoppedEarly } : {}),
    ...extra,
  });
  const write = async (name: string, fn: (file: string) => Promise<void>) => {
    await fn(path.join(runDir, name));
    files.add(name);
  };
  const plot = () => write(RUN_FILES.plot, (file) => writeHistoryPlot(file, history, { title: `${spec.name}, seed ${config.seed}`, monitor: config.monitor }));

  try {
    await writeRunJson(runDir, runRecord('running'));
    log(`run directory: ${runDir} (seed ${config.seed}, ${describe})`);

    const rng = new Rng(config.seed);
    if (resume) restoreResumePoint(resume, trainer, rng, log);
    const batches = Math.ceil(trainSet.size / config.batchSize);
    const trainSeconds: number[] = [];

    type EpochMeta = CheckpointMeta & { epoch: number };
    const ckptConfig = { ...portableConfig(config, runDir, validation), ...(normalization ? { normalization } : {}) };
    const checkpointMeta = (epoch: number, record: EpochRecord): EpochMeta => ({
      spec,
      config: ckptConfig,
      classes,
      epoch,
      step: trainer.getState().step,
      rngState: rng.getState(),
      metrics: { loss: record.loss, acc: record.acc, val_loss: record.val_loss, val_acc: record.val_acc },
    });
    const save = async (name: string, meta: EpochMeta) => {
      const state = trainer.getState();
      await write(name, (file) =>
        saveCheckpoint(file, {
          meta,
          layout: trainer.paramLayout(),
          params: trainer.getParams() as Float32Array,
          accumulators: state.accumulators as Float32Array,
          ...(state.ema ? { ema: state.ema as Float32Array } : {}),
          stateLayout: native.layout(spec).state,
          state: state.state as Float32Array,
        }),
      );
      newestSaved = { name, epoch: meta.epoch };
    };

    // thrown before an epoch or between two steps: the native state is whole, the epoch is dropped (resume redoes it)
    const stopInEpoch = (epoch: number) => {
      if (events.signal?.aborted) throw new Interrupted(`interrupted by ${reasonOf(events.signal)} in epoch ${epoch}`, events.signal.reason);
    };
    for (let epoch = history.length + 1; epoch <= config.epochs && !patienceSpent(history, best, config.patience); epoch++) {
      stopInEpoch(epoch);
      events.onEpochStart?.(epoch, config.epochs, batches);
      const t0 = performance.now();
      const epochResult = await runEpoch(trainSet, rng, epochSettings(config, spec, batches, epoch), epoch, (b, n, loss) => {
        events.onBatch?.(epoch, b, n, loss);
        stopInEpoch(epoch);
      });
      trainSeconds.push(epochResult.seconds);
      const val = await evaluateSplit(trainer, valSet, 256, { ema: config.ema > 0 });
      const record: EpochRecord = {
        epoch,
        loss: epochResult.loss,
        acc: epochResult.acc,
        val_loss: val.loss,
        val_acc: val.acc,
        lr: epochResult.lr,
        seconds: (performance.now() - t0) / 1000,
      };
      history.push(record);
      const improved = improves(record, best, config.monitor);
      if (improved) best = record;
      events.onEpoch?.(epochFigures(record), { best: improved, monitor: config.monitor });

      await write(HISTORY_CSV, () => writeHistory(runDir, history));
      for (const f of seedHistoryFiles()) files.add(f);
      const meta = checkpointMeta(epoch, record);
      if (improved) await save(RUN_FILES.best, meta);
      const stop = patienceSpent(history, best, config.patience);
      if (stop && epoch < config.epochs) {
        stoppedEarly = earlyStop(epoch);
        log(`early stop: no better ${config.monitor} for ${config.patience} epochs (the best: epoch ${stoppedEarly.bestEpoch})`);
      }
      const last = epoch === config.epochs || stop;
      const every = config.saveEvery > 0 && epoch % config.saveEvery === 0;
      if (every || last) {
        if (every) await save(weightsName(epoch), meta);
        await save(RUN_FILES.last, meta);
        await plot();
        await writeRunJson(runDir, runRecord('running'));
      }
    }

    // A resumed run that had every epoch checkpointed trained nothing now: redo the last save point's plot (the
    // kill may have come before it) and take the epoch times from the history.
    if (trainSeconds.length === 0) {
      trainSeconds.push(...history.map((r) => r.seconds));
      if (history.length < config.epochs && patienceSpent(history, best, config.patience))
        stoppedEarly = earlyStop(history.length);
      // The kill may also have come between best.safetensors and last (or weights<N>) of the last epoch: the
      // trainer holds the checkpoint it resumed from, which is that epoch's state, so write them from it.
      const resumed = resume?.checkpoint?.meta;
      if (resumed) {
        const meta = { ...resumed, epoch: resumed.epoch ?? history.length }; // openResume checked they are equal
        if (config.saveEvery > 0 && meta.epoch % config.saveEvery === 0) await save(weightsName(meta.epoch), meta);
        await save(RUN_FILES.last, meta);
      }
      await plot();
    }
    const valScores = extras.scoreVal ? await predictSplit(trainer, valSet, { ema: config.ema > 0, tta: extras.scoreVal.tta }) : undefined;
    const final = history[history.length - 1];
    const tail = history.slice(-20);
    const figures = {
      classes,
      trainImages: trainSet.size,
      valImages: valSet.size,
      skippedImages: skipped,
      meanValAccLast20: tail.reduce((s, r) => s + r.val_acc, 0) / tail.length,
      medianTrainSeconds: median(trainSeconds),
      trainImagesPerSecond: trainSet.size / median(trainSeconds),
      files: [...files, RUN_FILES.record].sort(),
    };
    // run.json keeps history.csv's column names (a file format); the library's figures are camelCase
    await writeRunJson(runDir, runRecord('finished', { finished: new Date().toISOString(), results: { ...figures, final, best, monitor: config.monitor } }));
    return {
      runDir,
      config,
      spec,
      validation,
      ...figures,
      history: history.map(epochFigures),
      final: epochFigures(final),
      best: epochFigures(best ?? final),
      ...(stoppedEarly ? { stoppedEarly } : {}),
      ...(normalization ? { normalization } : {}),
      ...(valScores ? { valScores } : {}),
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
    if (!extras.data) await Promise.all([trainSet.close(), valSet.close()]);
  }
}

/**
 * One split of a run's data opened as the model takes it (`preprocess`), with the run's cache and bad-image
 * settings; `onEachImage` runs before each decoded image's progress event (a run checks its AbortSignal there).
 */
export function openRunSplit(
  config: TrainConfig,
  list: SplitListing,
  split: 'train' | 'val',
  preprocess: Preprocess,
  events: TrainEvents,
  onEachImage?: () => void,
): Promise<LoadedSplit> {
  return openTrainingSplit(list, {
    cache: config.cache,
    cacheDir: config.cacheDir,
    skipBadImages: config.skipBadImages,
    onProgress: (d, t) => {
      onEachImage?.();
      events.onDecodeProgress?.(split, d, t);
    },
    onLog: (line) => events.onLog?.(line),
    preprocess,
  });
}

/** A run's training and validation images, read from config.data as the model takes them, and checked. */
async function readRunData(
  config: TrainConfig,
  base: ModelSpec,
  events: TrainEvents,
  stopIfAborted: () => void,
): Promise<PreparedData> {
  const log = (line: string) => events.onLog?.(line);
  const { train: trainList, val: valList, validation } = await listTrainingSplits(config.data, config.val, config.seed);
  const classProblem = classNamesProblem(trainList.classes);
  if (classProblem) throw new InputError(`the classes of ${config.data}: ${classProblem}; rename the folders`);
  // the preset's spec with an output for the data's classes: the model this run trains
  const spec = trainingSpec(base, { classes: trainList.classes.length, head: config.head, resize: config.resize });
  const preprocess = preprocessOf(spec);
  const trainSet = await openRunSplit(config, trainList, 'train', preprocess, events, stopIfAborted);
  const valSet = await openRunSplit(config, valList, 'val', preprocess, events, stopIfAborted);
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
  return { trainSet, valSet, classes: trainList.classes, validation };
}
