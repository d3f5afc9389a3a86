// The evaluation report: its JSON shape and its text form, which starts with the seed's own "mAP report"
// lines unchanged (scripts may parse them) and then says what they mean and adds the real figures.
import type { ClassFigures, Confusion, PrPoint, RocPoint } from './metrics.js';

export interface Misclassified {
  /** relative to the report's dir */
  file: string;
  label: string;
  predicted: string;
  /** P(positive class), the model's output */
  score: number;
}

export interface EvalReport {
  /** the split name ('val') or the folder's name */
  dataset: string;
  dir: string;
  /** [negative, positive]: the model outputs P(classes[1]) */
  classes: [string, string];
  images: number;
  correct: number;
  accuracy: number;
  threshold: number;
  /** AP per class with equal scores grouped (sklearn's average_precision_score) */
  averagePrecision: Record<string, number>;
  mAP: number;
  /** AP per class over the ranking, equal scores in file order (the reference figures' definition, SPEC §2) */
  rankedAveragePrecision: Record<string, number>;
  rankedMAP: number;
  rocAuc: number;
  confusion: Confusion;
  perClass: Record<string, ClassFigures>;
  misclassified: Misclassified[];
  curves: { roc: RocPoint[]; pr: PrPoint[] };
  model: {
    /** the .onnx file, or 'in-memory from <weights>' */
    source: string;
    inputShape: (number | string)[];
    layout: string;
    dtype: string;
    provider: string;
    threads: number;
    metadata: Record<string, string>;
  };
  /** wall time of the whole evaluation: model load, listing, decoding and inference */
  seconds: number;
  /** wall time of decoding and inference alone */
  decodeAndInferSeconds: number;
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
const fixed4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');

function table(rows: string[][], alignLeft = new Set([0])): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => '  ' + r.map((cell, c) => (alignLeft.has(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
}

export function formatReport(r: EvalReport): string {
  const [neg, pos] = r.classes;
  const [[tn, fp], [fn, tp]] = r.confusion.matrix;
  const lines = [
    'mAP report',
    `Evaluation dataset: ${r.dataset}`,
    `${r.correct} images correctly predicted among ${r.images} evaluation images`,
    `mAP(%): ${(r.accuracy * 100).toFixed(2)}  (the seed's name for it; this is the accuracy at threshold ${r.threshold})`,
    '******************',
    `accuracy:    ${pct(r.accuracy)}  (${r.correct}/${r.images}; predicted ${pos} iff P(${pos}) > ${r.threshold})`,
    ...r.classes.map(
      (c) => `AP(${c}):${' '.repeat(Math.max(1, 8 - c.length))}${pct(r.rankedAveragePrecision[c])}  (ties grouped: ${pct(r.averagePrecision[c])})`,
    ),
    `mean AP:     ${pct(r.rankedMAP)}  (ties grouped: ${pct(r.mAP)})  the real mAP: average precision per class from the scores, averaged`,
    `             AP ranks images by score, equal scores in file order; "ties grouped" is sklearn's average_precision_score`,
    `ROC AUC:     ${fixed4(r.rocAuc)}`,
    '',
    'confusion matrix (rows: true class, columns: predicted)',
    ...table([
      ['', neg, pos],
      [neg, String(tn), String(fp)],
      [pos, String(fn), String(tp)],
    ]),
    '',
    ...table([
      ['', 'precision', 'recall', 'support'],
      ...r.classes.map((c) => {
        const f = r.perClass[c];
        return [c, pct(f.precision), pct(f.recall), String(f.support)];
      }),
    ]),
    '',
    `misclassified: ${r.misclassified.length}${r.misclassified.length ? ` (in ${r.dir})` : ''}`,
    ...table(r.misclassified.map((m) => [m.file, `${m.label} -> ${m.predicted}`, `P(${pos}) = ${m.score.toFixed(4)}`])),
    '',
    `model: ${r.model.source} (input [${r.model.inputShape}] ${r.model.dtype} ${r.model.layout}; ${r.model.provider}, ${r.model.threads} threads)`,
    `time: ${r.decodeAndInferSeconds.toFixed(2)} s to decode and classify ${r.images} images (${r.seconds.toFixed(2)} s in all)`,
  ];
  return lines.join('\n') + '\n';
}
