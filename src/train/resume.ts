// `engine train --resume RUN_DIR`: reopen an interrupted run where its newest checkpoint left it. The recorded
// config is the truth; flags given again must agree with it, except the few that do not change the numbers.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError, UsageError } from '../errors.js';
import { Rng } from '../data/random.js';
import { pidAlive } from '../io/atomic.js';
import { READ_LIMITS, readInputText } from '../io/read.js';
import type { NativeTrainer } from '../native.js';
import { kebabFlag } from '../options/table.js';
import { recipeValue, scheduleSpansEpochs } from '../options/recipe.js';
import { resolveArch, resolveTrainOptions, type RecipeSources, type TrainConfig, type TrainOptions } from '../options/train.js';
import { RECIPE_KEYS, type Recipe } from '../model/spec.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { bestEpoch, HISTORY_CSV, readHistory, type EpochRecord } from '../store/history.js';
import { lockRunDir, type RunLock } from '../store/lock.js';
import { newestCheckpoint, removeStaleTempFiles, RUN_FILES } from '../store/run-dir.js';

/** Options that may differ on resume: they change speed, length or bookkeeping, not the numbers of an epoch. */
const FREE_ON_RESUME = new Set<keyof TrainOptions>(['epochs', 'patience', 'threads', 'isa', 'saveEvery', 'out', 'resume', 'cache', 'cacheDir']);
/** Recipe values a checkpoint must share with run.json (those that may change on resume aside). */
const CHECKPOINT_RECIPE_KEYS = RECIPE_KEYS.filter((k) => !FREE_ON_RESUME.has(k));
const isRecipeKey = (key: string): key is keyof Recipe => (RECIPE_KEYS as readonly string[]).includes(key);

/** how a conflict names an option: its flag (--arch is also typed as its old name, --model) */
const flagName = (key: string) => (key === 'arch' ? '--arch (--model)' : `--${kebabFlag(key)}`);

export interface ResumePoint {
  runDir: string;
  /** the recorded config, with the allowed overrides applied */
  config: TrainConfig;
  /** run.json as found (its 'started', 'resumes', dataset sizes) */
  record: Record<string, unknown>;
  /** the newest checkpoint, or undefined when the run died before its first one (it restarts from epoch 1) */
  checkpoint?: Checkpoint;
  checkpointFile?: string;
  /** epochs whose history is kept (those up to the checkpoint's epoch) */
  history: EpochRecord[];
  /** the best epoch of `history` by the run's monitored figure, as the uninterrupted run chose it (first of equals) */
  best?: EpochRecord;
  /** warnings for the log */
  notes: string[];
  /** the run folder's lock, held from before anything was read; released when the run ends */
  lock: RunLock;
}

async function readRunJson(runDir: string): Promise<Record<string, unknown>> {
  const file = path.join(runDir, RUN_FILES.record);
  const text = await readInputText(file, 'run.json', READ_LIMITS.text).catch((err: InputError) => {
    throw new InputError(err.message.startsWith('run.json not found') ? `--resume ${runDir}: no run.json there, not a run directory` : `--resume ${runDir}: ${err.message}`);
  });
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    throw new InputError(`--resume ${runDir}: run.json is not JSON`);
  }
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new InputError(`--resume ${runDir}: run.json's '${field}' is ${JSON.stringify(got) ?? 'missing'}, expected ${expected} (not a run record of engine, or edited)`);
  };
  if (!record || typeof record !== 'object' || Array.isArray(record)) bad('', 'an object', record);
  const r = record as Record<string, unknown>;
  if (!r.config || typeof r.config !== 'object' || Array.isArray(r.config)) throw new InputError(`--resume ${runDir}: run.json is not a run record (no config)`);
  const count = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const dataset = r.dataset as { train?: unknown; val?: unknown } | undefined;
  if (!dataset || typeof dataset !== 'object' || !count(dataset.train) || !count(dataset.val)) bad('dataset', '{train, val} image counts', r.dataset);
  if (!Array.isArray(r.classes) || !r.classes.every((c) => typeof c === 'string')) bad('classes', 'a list of class names', r.classes);
  if (r.resumes !== undefined && !Array.isArray(r.resumes)) bad('resumes', 'a list', r.resumes);
  if (r.started !== undefined && typeof r.started !== 'string') bad('started', 'a date', r.started);
  if (r.status !== undefined && typeof r.status !== 'string') bad('status', 'a word', r.status);
  return r;
}

/** Is the process that wrote run.json (a run of an engine from before run locks) still training here? */
function stillRunning(record: Record<string, unknown>): boolean {
  const pid = record.pid;
  if (record.status !== 'running' || typeof pid !== 'number' || pid === process.pid || record.host !== os.hostname()) return false;
  return pidAlive(pid);
}

/**
 * Reads RUN_DIR and decides where training continues. `overrides` are the options given with --resume; any
 * that would change the numbers and differ from the recorded config is refused, naming the flags.
 */
export async function openResume(runDir: string, overrides: TrainOptions): Promise<ResumePoint> {
  const dir = path.resolve(runDir);
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new InputError(`--resume ${runDir}: no such run directory`);
  // One process per run folder: the lock comes before anything of it is read.
  const lock = await lockRunDir(dir, `--resume ${runDir}`);
  try {
    return { ...(await readResumePoint(runDir, dir, overrides)), lock };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

async function readResumePoint(runDir: string, dir: string, overrides: TrainOptions): Promise<Omit<ResumePoint, 'lock'>> {
  const record = await readRunJson(dir);
  if (record.status === 'finished')
    throw new UsageError(`--resume ${runDir}: the run finished (${record.epochsDone ?? '?'} epochs); nothing to resume (start a new run with --out)`);
  if (stillRunning(record)) throw new UsageError(`--resume ${runDir}: the run is still going (pid ${record.pid}); stop it first`);
  if (overrides.out !== undefined && path.resolve(overrides.out) !== dir)
    throw new UsageError(`--out ${overrides.out} conflicts with --resume ${runDir}: a resumed run stays in its own folder`);

  // runs recorded before --conv existed ran every convolution direct; before --arch, it was called model
  const { model: oldArch, ...config0 } = record.config as Record<string, unknown>;
  const recorded: Record<string, unknown> = { conv: 'direct', ...(oldArch !== undefined ? { arch: oldArch } : {}), ...config0 };
  const given: Record<string, unknown> = { ...overrides };
  if (given.model !== undefined) given.arch ??= given.model; // --model is --arch
  delete given.model;
  const conflicts: string[] = [];
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined || FREE_ON_RESUME.has(key as keyof TrainOptions)) continue;
    const was = recorded[key];
    const same =
      key === 'data'
        ? path.resolve(String(value)) === path.resolve(String(was))
        : key === 'arch'
          ? JSON.stringify(resolveArch(value).arch) === JSON.stringify(was)
          : key === 'val' && typeof was === 'number'
            ? Number(value) === was // typed as text ('0.1'), recorded as a number
            : isRecipeKey(key)
              ? JSON.stringify(recipeValue(key, value)) === JSON.stringify(recipeValue(key, was))
              : value === was;
    const alias = key === 'device' && value === 'cuda' ? ' (= --gpu)' : '';
    if (!same) conflicts.push(`${flagName(key)} ${JSON.stringify(value)}${alias} (the run has ${JSON.stringify(was)})`);
  }
  if (conflicts.length)
    throw new UsageError(`--resume ${runDir}: flags conflict with the recorded config: ${conflicts.join('; ')}; drop them to continue the run as it was`);

  const allowed = Object.fromEntries(Object.entries(given).filter(([k, v]) => v !== undefined && FREE_ON_RESUME.has(k as keyof TrainOptions)));
  const { out: _o, resume: _r, recipe: sources, ...base } = recorded as TrainOptions & { recipe?: RecipeSources };
  // the cache flags travel together: a new choice replaces the recorded pair
  if ('cache' in allowed || 'cacheDir' in allowed) {
    delete base.cache;
    delete base.cacheDir;
  }
  const config = resolveTrainOptions({ ...base, ...allowed, out: dir });
  if (allowed.epochs !== undefined && allowed.epochs !== base.epochs && scheduleSpansEpochs(config))
    throw new UsageError(
      `--resume ${runDir}: --epochs ${allowed.epochs} would reshape the run's ${config.schedule} schedule, which spans its ${base.epochs} epochs; ` +
        'drop --epochs to continue the run as it was',
    );
  // where the recipe came from is the first start's (resolving the recorded config would call every value given)
  if (sources)
    config.recipe =
      allowed.epochs !== undefined && !sources.given.includes('epochs')
        ? { ...sources, fromPreset: sources.fromPreset.filter((k) => k !== 'epochs'), given: [...sources.given, 'epochs'] }
        : sources;

  const notes = (await removeStaleTempFiles(dir)).map((n) => `removed ${n}, a partial write of the interrupted run`);
  const found = await newestCheckpoint(dir, (file, why) => notes.push(`skipped ${path.basename(file)}: ${why}`));
  if (found) {
    const { ckpt, file } = found;
    checkOptimizerState(file, ckpt, config);
    const arch = resolveArch(config.arch);
    if (ckpt.meta.spec.name !== arch.spec.name)
      throw new InputError(`${file}: a checkpoint of model '${ckpt.meta.spec.name}', but the run trains '${arch.name}'`);
    if (!ckpt.accumulators || !ckpt.meta.rngState)
      throw new InputError(`${file}: no optimizer or RNG state, cannot resume from it (weights-only checkpoint)`);
    const { model: ckptOldArch, ...ckptRest } = ckpt.meta.config as Record<string, unknown>;
    const ckptConfig: Record<string, unknown> = { ...(ckptOldArch !== undefined ? { arch: ckptOldArch } : {}), ...ckptRest };
    // (a checkpoint written before a recipe field existed does not record it)
    for (const key of ['seed', 'arch', ...CHECKPOINT_RECIPE_KEYS] as const) {
      if (!(key in ckptConfig)) continue;
      const was = isRecipeKey(key) ? recipeValue(key, ckptConfig[key]) : ckptConfig[key];
      if (JSON.stringify(was) !== JSON.stringify(config[key]))
        throw new InputError(`${file}: its ${flagName(key)} ${JSON.stringify(ckptConfig[key])} differs from run.json's ${JSON.stringify(config[key])} (a checkpoint of another run?)`);
    }
    if (found.epoch > config.epochs)
      throw new UsageError(`--resume ${runDir}: the checkpoint is at epoch ${found.epoch} of ${config.epochs}; raise --epochs to train further`);
    // Killed after its last checkpoint but before it was marked finished: resuming only finishes it.
    if (found.epoch === config.epochs) notes.push(`the checkpoint holds the last epoch (${config.epochs}): finishing the run`);
  }
  const epoch = found?.epoch ?? 0;

  const history = (await readHistory(dir)).filter((r) => r.epoch <= epoch);
  if (history.length !== epoch || history.some((r, i) => r.epoch !== i + 1))
    throw new InputError(`${dir}/${HISTORY_CSV}: holds epochs ${history.map((r) => r.epoch).join(',') || 'none'} up to the checkpoint's epoch ${epoch}`);
  const best = bestEpoch(history, config.monitor);
  return { runDir: dir, config, record, checkpoint: found?.ckpt, checkpointFile: found?.file, history, best, notes };
}

/**
 * What decodeCheckpoint cannot know: the optimizer state and the RNG state are the ones this run can continue
 * from (finite values were checked on reading; RMSprop's accumulators are averages of squares, never negative).
 */
function checkOptimizerState(file: string, ckpt: Checkpoint, config: TrainConfig): void {
  if (!ckpt.accumulators || !ckpt.meta.rngState) return; // refused below, with the reason
  const optimizer = (config as { optimizer?: string }).optimizer ?? 'rmsprop';
  const negative = optimizer === 'rmsprop' ? ckpt.accumulators.findIndex((a) => a < 0) : -1;
  if (negative >= 0)
    throw new InputError(`${file}: RMSprop accumulator ${negative} is ${ckpt.accumulators[negative]}; a mean of squares is never negative (a damaged checkpoint)`);
  try {
    new Rng(1).setState(ckpt.meta.rngState);
  } catch (err) {
    throw new InputError(`${file}: metadata 'rng_state': ${(err as Error).message}`);
  }
}

/** A resumed run must see the data it started with, or its numbers would silently change. */
export function checkSameData(record: Record<string, unknown>, train: number, val: number, classes: string[], validation?: unknown): void {
  const was = (record.dataset ?? {}) as { train?: number; val?: number };
  const wasClasses = record.classes as string[] | undefined;
  // runs recorded before `validation` existed validated on their val split
  const wasValidation = record.validation ?? { source: 'val' };
  if (validation !== undefined && JSON.stringify(wasValidation) !== JSON.stringify(validation))
    throw new InputError(`--resume: the validation images changed since the run started: now ${JSON.stringify(validation)}, the run had ${JSON.stringify(wasValidation)}`);
  if (was.train !== train || was.val !== val || JSON.stringify(wasClasses) !== JSON.stringify(classes))
    throw new InputError(
      `--resume: the data changed since the run started: now ${train} train / ${val} val images, classes ${classes.join(',')}; ` +
        `the run had ${was.train} / ${was.val}, classes ${wasClasses?.join(',')}`,
    );
}

/**
 * --normalize auto on resume: the statistics of the training split must be those the run started with (the same
 * images give the same numbers; other numbers mean other images).
 */
export function checkSameNormalization(record: Record<string, unknown>, now: { mean: number[]; std: number[] }): void {
  const was = record.normalization;
  if (was !== undefined && JSON.stringify(was) !== JSON.stringify(now))
    throw new InputError(`--resume: the training images changed since the run started: their per-channel mean and std are now ${JSON.stringify(now)}, the run had ${JSON.stringify(was)}`);
}

/** Puts the checkpoint's weights, optimizer state (and moving average), step and data-RNG state back, and says where training goes on. */
export function restoreResumePoint(resume: ResumePoint, trainer: Pick<NativeTrainer, 'setParams' | 'setState'>, rng: Rng, log: (line: string) => void): void {
  for (const note of resume.notes) log(note);
  const ckpt = resume.checkpoint;
  if (ckpt) {
    trainer.setParams(ckpt.params);
    trainer.setState({ step: ckpt.meta.step, accumulators: ckpt.accumulators!, ...(ckpt.state ? { state: ckpt.state } : {}), ...(ckpt.ema ? { ema: ckpt.ema } : {}) });
    rng.setState(ckpt.meta.rngState!);
  }
  log(
    ckpt
      ? `resuming after epoch ${ckpt.meta.epoch} from ${path.basename(resume.checkpointFile!)} (step ${ckpt.meta.step})`
      : 'resuming from the start: the run had no checkpoint yet',
  );
}
