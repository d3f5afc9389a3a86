// A run's history: history.csv (every figure of every epoch, read back by a resumed run) and the seed's
// per-metric files in numpy.savetxt's format under history/.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { Monitor } from '../model/spec.js';
import { formatE18 } from './savetxt.js';

/** One epoch of training, as logged to history.csv (and run.json's results): the seed's column names. */
export interface EpochRecord {
  epoch: number;
  loss: number;
  acc: number;
  val_loss: number;
  val_acc: number;
  /** the learning rate of the epoch's last step (NaN in the rows of runs recorded before the column existed) */
  lr: number;
  seconds: number;
}

/** One epoch's figures as the library reports them: history.csv's columns, camelCase. */
export interface EpochFigures {
  epoch: number;
  loss: number;
  acc: number;
  valLoss: number;
  valAcc: number;
  lr: number;
  seconds: number;
}

/** A history.csv row as the library reports it. */
export const epochFigures = (r: EpochRecord): EpochFigures => ({
  epoch: r.epoch,
  loss: r.loss,
  acc: r.acc,
  valLoss: r.val_loss,
  valAcc: r.val_acc,
  lr: r.lr,
  seconds: r.seconds,
});

/**
 * Is `r` better than `best` by the monitored figure (lower val_loss, higher val_acc)? The first epoch is; after
 * it, strictly (of equal epochs the first stays best, as Keras' ModelCheckpoint and EarlyStopping with
 * min_delta 0); a NaN is never better, and anything finite beats a NaN.
 */
export function improves(r: EpochRecord, best: EpochRecord | undefined, monitor: Monitor): boolean {
  if (!best) return true;
  const v = r[monitor];
  if (!Number.isFinite(v)) return false;
  if (!Number.isFinite(best[monitor])) return true;
  return monitor === 'val_loss' ? v < best.val_loss : v > best.val_acc;
}

/** The best epoch of `rows` by the monitored figure (the first of equals; see improves), undefined for no rows. */
export function bestEpoch(rows: readonly EpochRecord[], monitor: Monitor): EpochRecord | undefined {
  let best: EpochRecord | undefined;
  for (const r of rows) if (improves(r, best, monitor)) best = r;
  return best;
}

export const HISTORY_CSV = 'history.csv';
/** the folder of the seed's per-metric files */
export const SEED_HISTORY_DIR = 'history';

const COLUMNS = ['epoch', 'loss', 'acc', 'val_loss', 'val_acc', 'lr', 'seconds'] as const;
const HEADER = COLUMNS.join(',');
/** the header before the lr column: such files are still read (a resumed run rewrites them with it) */
const HEADER_WITHOUT_LR = COLUMNS.filter((c) => c !== 'lr').join(',');

/** The seed's per-metric files (numpy.savetxt of Keras' History), under `<runDir>/history/`. */
const SEED_FILES = {
  loss: 'loss_history.txt',
  acc: 'acc_history.txt',
  val_loss: 'val_loss_history.txt',
  val_acc: 'val_acc_history.txt',
} as const;

/** String(x) is the shortest text that parses back to the same double, so the CSV loses nothing. */
export function historyCsv(rows: EpochRecord[]): string {
  const lines = rows.map((r) =>
    [String(r.epoch), String(r.loss), String(r.acc), String(r.val_loss), String(r.val_acc), String(r.lr), r.seconds.toFixed(3)].join(','),
  );
  return [HEADER, ...lines].join('\n') + '\n';
}

// A decimal or NaN/Infinity (a diverged loss is still a record); rejects '', ' ', '0x10' that Number() accepts.
const NUMBER = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?Infinity)$/;

/** Parses what historyCsv writes; anything else is an InputError naming the (1-based) line. */
export function parseHistoryCsv(text: string): EpochRecord[] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== HEADER && lines[0] !== HEADER_WITHOUT_LR) {
    throw new InputError(`history.csv line 1: expected header '${HEADER}', got '${lines[0] ?? ''}'`);
  }
  const columns = lines[0] === HEADER ? COLUMNS : COLUMNS.filter((c) => c !== 'lr');
  const rows: EpochRecord[] = [];
  for (let i = 1; i < lines.length; i++) {
    const where = `history.csv line ${i + 1}`;
    const fields = lines[i].split(',');
    if (fields.length !== columns.length) {
      throw new InputError(`${where}: expected ${columns.length} fields, got ${fields.length}`);
    }
    const row: Record<string, number> = { lr: NaN };
    fields.forEach((f, j) => {
      if (!NUMBER.test(f)) throw new InputError(`${where}: ${columns[j]} '${f}' is not a number`);
      row[columns[j]] = Number(f);
    });
    const { epoch, loss, acc, val_loss, val_acc, lr, seconds } = row;
    if (!Number.isInteger(epoch) || epoch < 1) throw new InputError(`${where}: epoch '${fields[0]}' is not a positive integer`);
    const previous = rows[rows.length - 1];
    if (previous && epoch <= previous.epoch) {
      throw new InputError(`${where}: epoch ${epoch} does not follow epoch ${previous.epoch}`);
    }
    rows.push({ epoch, loss, acc, val_loss, val_acc, lr, seconds });
  }
  return rows;
}

/** One number a line in '%.18e', exactly what numpy.savetxt(file, values) writes. */
export function savetxt(values: number[]): string {
  return values.map((v) => formatE18(v) + '\n').join('');
}

/** Writes `<runDir>/history.csv` and the seed-compatible `<runDir>/history/*_history.txt`. */
export async function writeHistory(runDir: string, rows: EpochRecord[]): Promise<void> {
  const seedDir = path.join(runDir, SEED_HISTORY_DIR);
  await fs.mkdir(seedDir, { recursive: true });
  await writeFileAtomic(path.join(runDir, HISTORY_CSV), historyCsv(rows));
  for (const [key, name] of Object.entries(SEED_FILES) as [keyof typeof SEED_FILES, string][]) {
    await writeFileAtomic(path.join(seedDir, name), savetxt(rows.map((r) => r[key])));
  }
}

/** `<runDir>/history.csv` parsed; [] when the run has none yet. */
export async function readHistory(runDir: string): Promise<EpochRecord[]> {
  const csv = await fs.readFile(path.join(runDir, HISTORY_CSV), 'utf8').catch(() => undefined);
  return csv === undefined ? [] : parseHistoryCsv(csv);
}

/** The names of the seed's per-metric files, relative to the run directory. */
export const seedHistoryFiles = (): string[] => Object.values(SEED_FILES).map((name) => `${SEED_HISTORY_DIR}/${name}`);
