// The figures of a classifier of any number of classes from its scores, pure functions: the predicted class (a
// 2-class model's threshold on P(classes[1]), else the most probable class), the K x K confusion matrix,
// precision/recall/F1 per class, top-k accuracy, the most confused pairs, and per class, one-vs-rest, the AP
// (both definitions of metrics.ts), the ROC AUC and the curves. Undefined figures are NaN, as in metrics.ts.
import { predictPositive, rankingFigures, wilsonInterval, type PrPoint, type RocPoint } from './metrics.js';

/**
 * A model's scores for n images, [n, columns] row by row: columns 1 holds P(classes[1]) of a sigmoid model,
 * columns K the probability of each of the K classes.
 */
export interface ClassScores {
  data: ArrayLike<number>;
  columns: number;
}

/** The largest k of the top-k accuracies (k = 2 .. min(5, K - 1), for K > 2 classes). */
export const MAX_TOP_K = 5;

export interface TopK {
  k: number;
  /** images whose true class is among the k most probable (equal probabilities: the lower class index first) */
  correct: number;
  accuracy: number;
}

export interface ClassFiguresN {
  precision: number;
  recall: number;
  /** 2 tp / (2 tp + fp + fn): the harmonic mean of precision and recall (0 when the class is never found) */
  f1: number;
  /** images whose true class this is */
  support: number;
}

export interface ConfusionMatrix {
  /** rows are true classes, columns predicted ones, in this order */
  classes: string[];
  /** counts, [K][K] */
  matrix: number[][];
  /** each row divided by its sum (the share of the true class predicted as each class); NaN for a class without images */
  normalized: number[][];
}

export interface ConfusedPair {
  /** the true class */
  label: string;
  predicted: string;
  count: number;
  /** count / images of the true class */
  share: number;
}

export interface ClassCurves {
  roc: RocPoint[];
  pr: PrPoint[];
}

export interface ClassificationMetrics {
  classes: string[];
  /**
   * 'threshold': 2 classes, predicted classes[1] iff P(classes[1]) > threshold (Keras' round() at 0.5);
   * 'argmax': the most probable class, the first of equal ones
   */
  decision: 'threshold' | 'argmax';
  /** the threshold of a 2-class model, null for argmax */
  threshold: number | null;
  images: number;
  correct: number;
  accuracy: number;
  /** Wilson's 95% score interval of the accuracy */
  accuracyInterval: [number, number];
  /** k = 2 .. min(5, K - 1); none for 2 classes */
  topK: TopK[];
  perClass: Record<string, ClassFiguresN>;
  /** AP per class, one-vs-rest, over the ranking with equal scores in file order (the reference's definition, SPEC §2) */
  rankedAveragePrecision: Record<string, number>;
  /** the mean of rankedAveragePrecision over the classes that have images: the mean AP */
  rankedMAP: number;
  /** AP per class with equal scores grouped (sklearn's average_precision_score) */
  averagePrecision: Record<string, number>;
  mAP: number;
  /** 2 classes: the ROC AUC of P(classes[1]); more: the macro mean of the one-vs-rest AUCs */
  rocAuc: number;
  /** one-vs-rest ROC AUC per class (both equal rocAuc for 2 classes) */
  rocAucPerClass: Record<string, number>;
  confusion: ConfusionMatrix;
  /** the non-zero off-diagonal cells, most images first (then the larger share, then class order) */
  confusedPairs: ConfusedPair[];
  /** one-vs-rest ROC and precision-recall curves per class (absent when asked for none) */
  curves?: Record<string, ClassCurves>;
}

function checkScores(scores: ClassScores, labels: ArrayLike<number>, classes: readonly string[]): number {
  const k = classes.length;
  if (k < 2) throw new RangeError(`${k} classes: at least 2 are needed`);
  if (scores.columns !== k && !(scores.columns === 1 && k === 2))
    throw new RangeError(`${scores.columns} score columns for ${k} classes (expected ${k}, or 1 for 2 classes)`);
  const n = labels.length;
  if (scores.data.length !== n * scores.columns) throw new RangeError(`${scores.data.length} scores for ${n} images of ${scores.columns} columns`);
  for (let i = 0; i < n; i++) if (!(Number.isInteger(labels[i]) && labels[i] >= 0 && labels[i] < k)) throw new RangeError(`label ${i} is ${labels[i]}, expected 0 to ${k - 1}`);
  for (let i = 0; i < scores.data.length; i++) if (Number.isNaN(scores.data[i])) throw new RangeError(`score ${i} is NaN`);
  return n;
}

/** P(classes[1]) per image of a 2-class model's scores (its one column, or the second of two). */
export function positiveScores(scores: ClassScores): ArrayLike<number> {
  if (scores.columns === 1) return scores.data;
  return Float64Array.from({ length: scores.data.length / 2 }, (_, i) => scores.data[2 * i + 1]);
}

/** Class `c`'s score per image: its column, or for a sigmoid model's class 0, 1 - P(classes[1]) (in double). */
export function classScore(scores: ClassScores, c: number): ArrayLike<number> {
  const { data, columns } = scores;
  if (columns === 1) return c === 1 ? data : Float64Array.from(data, (s) => 1 - s);
  return Float64Array.from({ length: data.length / columns }, (_, i) => data[i * columns + c]);
}

/** The predicted class per image: a 2-class model's threshold on P(classes[1]), else the first most probable. */
export function predictClasses(scores: ClassScores, classes: number, threshold = 0.5): Uint8Array {
  if (classes === 2) return Uint8Array.from(positiveScores(scores) as ArrayLike<number>, (s) => (predictPositive(s, threshold) ? 1 : 0));
  const { data, columns } = scores;
  const out = new Uint8Array(data.length / columns);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < columns; c++) if (data[i * columns + c] > data[i * columns + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** The probability the model gives class `c` for image `i`. */
export function classProbability(scores: ClassScores, i: number, c: number): number {
  return scores.columns === 1 ? (c === 1 ? scores.data[i] : 1 - scores.data[i]) : scores.data[i * scores.columns + c];
}

/**
 * Images whose true class is among the k most probable: fewer than k classes rank above it, where a class ranks
 * above another with a higher probability, or an equal one and a lower index (the order argmax breaks ties in).
 */
export function topKCorrect(scores: ClassScores, labels: ArrayLike<number>, k: number): number {
  const { data, columns } = scores;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = data[i * columns + y];
    let above = 0;
    for (let c = 0; c < columns; c++) {
      const q = data[i * columns + c];
      if (q > p || (q === p && c < y)) above++;
    }
    if (above < k) correct++;
  }
  return correct;
}

export function confusionOf(predicted: ArrayLike<number>, labels: ArrayLike<number>, classes: readonly string[]): ConfusionMatrix {
  const k = classes.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]][predicted[i]]++;
  const normalized = matrix.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => v / total);
  });
  return { classes: [...classes], matrix, normalized };
}

export function classFiguresOf(confusion: ConfusionMatrix): Record<string, ClassFiguresN> {
  const { classes, matrix } = confusion;
  const out: Record<string, ClassFiguresN> = {};
  classes.forEach((name, c) => {
    const tp = matrix[c][c];
    const support = matrix[c].reduce((a, b) => a + b, 0);
    const predicted = matrix.reduce((a, row) => a + row[c], 0);
    const [fn, fp] = [support - tp, predicted - tp];
    out[name] = { precision: tp / predicted, recall: tp / support, f1: (2 * tp) / (2 * tp + fp + fn), support };
  });
  return out;
}

export function confusedPairsOf(confusion: ConfusionMatrix): ConfusedPair[] {
  const { classes, matrix, normalized } = confusion;
  const pairs: (ConfusedPair & { order: number })[] = [];
  matrix.forEach((row, t) =>
    row.forEach((count, p) => {
      if (t !== p && count > 0) pairs.push({ label: classes[t], predicted: classes[p], count, share: normalized[t][p], order: t * classes.length + p });
    }),
  );
  pairs.sort((a, b) => b.count - a.count || b.share - a.share || a.order - b.order);
  return pairs.map(({ order: _o, ...pair }) => pair);
}

/** The mean of the finite values (a class without images has no AP or AUC); NaN when there is none. */
function meanDefined(values: number[]): number {
  const finite = values.filter(Number.isFinite);
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN;
}

/**
 * Every figure of the report from the scores and the true class indices; the curves unless `curves` is false (a
 * point per distinct score and class: most of the work, for many images).
 */
export function classificationMetrics(
  scores: ClassScores,
  labels: ArrayLike<number>,
  classes: readonly string[],
  opts: { threshold?: number; curves?: boolean } = {},
): ClassificationMetrics {
  const n = checkScores(scores, labels, classes);
  const k = classes.length;
  const binary = k === 2;
  const threshold = opts.threshold ?? 0.5;
  const predicted = predictClasses(scores, k, threshold);
  const confusion = confusionOf(predicted, labels, classes);
  const correct = confusion.matrix.reduce((a, row, c) => a + row[c], 0);
  const topK: TopK[] = [];
  for (let t = 2; t <= Math.min(MAX_TOP_K, k - 1); t++) {
    const c = topKCorrect(scores, labels, t);
    topK.push({ k: t, correct: c, accuracy: c / n });
  }
  const ranked: Record<string, number> = {};
  const grouped: Record<string, number> = {};
  const auc: Record<string, number> = {};
  const withCurves = opts.curves ?? true;
  const curves: Record<string, ClassCurves> = {};
  classes.forEach((name, c) => {
    const s = classScore(scores, c);
    const y = Uint8Array.from(labels, (l) => (l === c ? 1 : 0));
    const f = rankingFigures(s, y, withCurves);
    ranked[name] = f.rankedAP;
    grouped[name] = f.ap;
    auc[name] = f.auc;
    if (f.roc && f.pr) curves[name] = { roc: f.roc, pr: f.pr };
  });
  return {
    classes: [...classes],
    decision: binary ? 'threshold' : 'argmax',
    threshold: binary ? threshold : null,
    images: n,
    correct,
    accuracy: correct / n,
    accuracyInterval: wilsonInterval(correct, n),
    topK,
    perClass: classFiguresOf(confusion),
    rankedAveragePrecision: ranked,
    rankedMAP: meanDefined(Object.values(ranked)),
    averagePrecision: grouped,
    mAP: meanDefined(Object.values(grouped)),
    rocAuc: binary ? auc[classes[1]] : meanDefined(Object.values(auc)),
    rocAucPerClass: auc,
    confusion,
    confusedPairs: confusedPairsOf(confusion),
    ...(withCurves ? { curves } : {}),
  };
}

/**
 * The figures of a 2-class model from P(classes[1]) per image: classificationMetrics of its one score column
 * (the library's name for them from before models had more classes).
 */
export function binaryMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>, classes: [string, string], threshold = 0.5): ClassificationMetrics {
  return classificationMetrics({ data: scores, columns: 1 }, labels, classes, { threshold });
}
