// The evaluation report: its JSON shape and its text form, which leads with the figures that matter (accuracy
// with its interval, AP per class and their mean, ROC AUC). The seed's own "mAP report" lines, whose "mAP" is the
// accuracy, are printed only when asked for (`--seed-report`), unchanged, before the rest.
import type { ClassificationMetrics } from './class-metrics.js';

export interface Misclassified {
  /** relative to the report's dir */
  file: string;
  /** the true class */
  label: string;
  predicted: string;
  /** the probability of the predicted class */
  probability: number;
  /** 2-class models: P(classes[1]), the model's output */
  score?: number;
}

export interface EvalReport extends ClassificationMetrics {
  /** the split name ('val') or the folder's name */
  dataset: string;
  dir: string;
  /** in file order */
  misclassified: Misclassified[];
  model: {
    /** the .onnx file, or 'in-memory from <weights>' */
    source: string;
    head: 'sigmoid' | 'softmax';
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

export const pct = (x: number, digits = 2) => (Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : 'n/a');
export const fixed4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'n/a');

/** Misclassified images listed in the text report; --json and the HTML page have them all. */
const LISTED_MISSES = 50;
/** Confused pairs listed in the text report. */
const LISTED_PAIRS = 10;

/** Rows of cells as aligned text, two spaces apart, the columns in `alignLeft` left-aligned (others right). */
function table(rows: string[][], alignLeft = new Set([0])): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => '  ' + r.map((cell, c) => (alignLeft.has(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd());
}

/** The seed's own lines (its gender_mAP.py), verbatim: its "mAP(%)" is the accuracy. */
export function seedReportLines(r: EvalReport): string[] {
  return [
    'mAP report',
    `Evaluation dataset: ${r.dataset}`,
    `${r.correct} images correctly predicted among ${r.images} evaluation images`,
    `mAP(%): ${(r.accuracy * 100).toFixed(2)}`,
    '******************',
    "(the seed's report: its mAP(%) is the accuracy; the figures follow)",
    '',
  ];
}

/** How a class is predicted, in words. */
export function decisionText(r: Pick<EvalReport, 'classes' | 'decision' | 'threshold'>): string {
  const pos = r.classes[1];
  return r.decision === 'threshold' ? `predicted ${pos} iff P(${pos}) > ${r.threshold}` : 'predicted: the most probable class';
}

/** The mean AP's definition in words. */
export const AP_DEFINITION =
  'AP: average precision of each class, its images ranked by score (equal scores in file order), one class against the rest';

function leadLines(r: EvalReport): string[] {
  const [lo, hi] = r.accuracyInterval;
  const binary = r.classes.length === 2;
  const label = (s: string) => s.padEnd(12);
  return [
    `${label('accuracy:')} ${pct(r.accuracy)}  (${r.correct}/${r.images}; 95% interval ${pct(lo, 1)} to ${pct(hi, 1)}; ${decisionText(r)})`,
    ...r.topK.map((t) => `${label(`top-${t.k}:`)} ${pct(t.accuracy)}  (${t.correct}/${r.images})`),
    ...(binary ? r.classes.map((c) => `${label(`AP(${c}):`)} ${pct(r.rankedAveragePrecision[c])}`) : []),
    `${label('mean AP:')} ${pct(r.rankedMAP)}  (mean of the ${r.classes.length} classes' AP${binary ? '' : ', below'}; sklearn's tie-grouped AP is in --json)`,
    `${label('ROC AUC:')} ${fixed4(r.rocAuc)}${binary ? '' : '  (macro mean, one class against the rest)'}`,
    AP_DEFINITION,
  ];
}

/** Class names and their indices, for tables whose columns are too many to name. */
const numbered = (classes: string[]) => classes.map((c, i) => `${i}=${c}`).join(' ');

function confusionLines(r: EvalReport): string[] {
  const { classes, matrix } = r.confusion;
  // two classes by name, as the seed's; more by index, the names once in the heading
  const byName = classes.length === 2;
  const head = byName ? classes : classes.map((_, i) => String(i));
  const rowName = (c: string, i: number) => (byName ? c : `${i} ${c}`);
  return [
    `confusion matrix (rows: true class, columns: predicted${byName ? '' : `; ${numbered(classes)}`})`,
    ...table([['', ...head], ...matrix.map((row, i) => [rowName(classes[i], i), ...row.map(String)])]),
  ];
}

function perClassLines(r: EvalReport): string[] {
  const binary = r.classes.length === 2;
  return table([
    ['', ...(binary ? [] : ['AP']), 'precision', 'recall', 'F1', 'images'],
    ...r.classes.map((c) => {
      const f = r.perClass[c];
      return [c, ...(binary ? [] : [pct(r.rankedAveragePrecision[c])]), pct(f.precision), pct(f.recall), pct(f.f1), String(f.support)];
    }),
  ]);
}

function confusedLines(r: EvalReport): string[] {
  if (r.classes.length === 2 || r.confusedPairs.length === 0) return [];
  const shown = r.confusedPairs.slice(0, LISTED_PAIRS);
  return [
    '',
    `most confused (true -> predicted: images, share of the true class)${r.confusedPairs.length > shown.length ? `: ${shown.length} of ${r.confusedPairs.length} pairs` : ''}`,
    ...table(shown.map((p) => [`${p.label} -> ${p.predicted}`, String(p.count), pct(p.share, 1)])),
  ];
}

function missLines(r: EvalReport): string[] {
  const shown = r.misclassified.slice(0, LISTED_MISSES);
  const pos = r.classes[1];
  const more = r.misclassified.length > shown.length ? `; the first ${shown.length} in file order, --json lists all` : '';
  return [
    `misclassified: ${r.misclassified.length}${r.misclassified.length ? ` (in ${r.dir}${more})` : ''}`,
    ...table(
      shown.map((m) => [
        m.file,
        `${m.label} -> ${m.predicted}`,
        m.score !== undefined ? `P(${pos}) = ${m.score.toFixed(4)}` : `P(${m.predicted}) = ${m.probability.toFixed(4)}`,
      ]),
      new Set([0, 1, 2]),
    ),
  ];
}

export function formatReport(r: EvalReport, opts: { seedReport?: boolean } = {}): string {
  const lines = [
    ...(opts.seedReport ? seedReportLines(r) : []),
    `evaluation of ${r.dataset}: ${r.images} images, ${r.classes.length} classes (${r.classes.join(', ')})`,
    ...leadLines(r),
    '',
    ...perClassLines(r),
    '',
    ...confusionLines(r),
    ...confusedLines(r),
    '',
    ...missLines(r),
    '',
    `model: ${r.model.source} (input [${r.model.inputShape}] ${r.model.dtype} ${r.model.layout}; ${r.model.head} head; ${r.model.provider}, ${r.model.threads} threads)`,
    `time: ${r.decodeAndInferSeconds.toFixed(2)} s to decode and classify ${r.images} images (${r.seconds.toFixed(2)} s in all)`,
  ];
  return lines.join('\n') + '\n';
}
