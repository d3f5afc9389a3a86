// Binary-classification figures from scores s_i = P(positive class) and labels (1 = positive), pure functions:
// step-wise average precision as sklearn's average_precision_score computes it and over the ranking itself, ROC
// AUC as the Mann-Whitney statistic, and the curves behind them. class-metrics.ts builds the figures of any
// number of classes from these, one class against the rest. Undefined figures (a class with no examples, a zero
// denominator) are NaN, never a made-up 0 or 1.

export type Scores = ArrayLike<number>;
/** 1 = positive, 0 = negative */
export type Labels = ArrayLike<number>;

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** predicted positive iff score >= threshold; null for the (0, 0) start */
  threshold: number | null;
}

export interface PrPoint {
  recall: number;
  precision: number;
  /** predicted positive iff score >= threshold; null for the (recall 0, precision 1) start */
  threshold: number | null;
}

export interface Confusion {
  /** [negative, positive] class names: rows are true classes, columns predicted ones */
  classes: [string, string];
  /** [[tn, fp], [fn, tp]] */
  matrix: [[number, number], [number, number]];
}

export interface ClassFigures {
  precision: number;
  recall: number;
  /** images whose true class this is */
  support: number;
}

function checkInputs(scores: Scores, labels: Labels): void {
  if (scores.length !== labels.length) throw new RangeError(`${scores.length} scores for ${labels.length} labels`);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new RangeError(`label ${i} is ${labels[i]}, expected 0 or 1`);
    if (Number.isNaN(scores[i])) throw new RangeError(`score ${i} is NaN`);
  }
}

/** Keras' round(s) as the prediction: positive iff s > threshold (0.5 rounds to 0, half to even). */
export function predictPositive(score: number, threshold = 0.5): boolean {
  return score > threshold;
}

export function confusionMatrix(scores: Scores, labels: Labels, classes: [string, string], threshold = 0.5): Confusion {
  checkInputs(scores, labels);
  const m: [[number, number], [number, number]] = [
    [0, 0],
    [0, 0],
  ];
  for (let i = 0; i < scores.length; i++) m[labels[i]][predictPositive(scores[i], threshold) ? 1 : 0]++;
  return { classes: [...classes], matrix: m };
}

export function accuracy(scores: Scores, labels: Labels, threshold = 0.5): number {
  const [[tn], [, tp]] = confusionMatrix(scores, labels, ['0', '1'], threshold).matrix;
  return (tn + tp) / scores.length;
}

export function classFigures(confusion: Confusion): Record<string, ClassFigures> {
  const [[tn, fp], [fn, tp]] = confusion.matrix;
  const [neg, pos] = confusion.classes;
  return {
    [neg]: { precision: tn / (tn + fn), recall: tn / (tn + fp), support: tn + fp },
    [pos]: { precision: tp / (tp + fp), recall: tp / (tp + fn), support: tp + fn },
  };
}

/**
 * The operating points of "positive iff score >= t", one per distinct score, highest first: the threshold and the
 * cumulative true and false positives there. Typed arrays, not objects: 10 classes of 10,000 images made 300,000
 * small objects, and collecting them cost more than the figures.
 */
interface Points {
  length: number;
  threshold: Float64Array; // [length]
  tp: Uint32Array; // [length]
  fp: Uint32Array; // [length]
}

/**
 * Image indices by descending score, equal scores in input order (a stable ranking). The distinct scores are
 * sorted by the typed array's own numeric sort and the images placed by a counting sort on their rank, rather
 * than a sort of indices with a comparator.
 */
function rankOrder(scores: Scores): Uint32Array {
  const n = scores.length;
  const sorted = Float64Array.from(scores).sort(); // ascending; -0 before 0, which are one score
  const distinct = new Float64Array(n); // [m], descending
  let m = 0;
  for (let j = n - 1; j >= 0; j--) if (m === 0 || sorted[j] !== distinct[m - 1]) distinct[m++] = sorted[j];
  const rank = new Uint32Array(n); // [n]: the index of each image's score in `distinct`
  const start = new Uint32Array(m + 1); // [m + 1]: images per rank, then where each rank's images go
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    let lo = 0;
    let hi = m - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (distinct[mid] > s) lo = mid + 1;
      else hi = mid;
    }
    rank[i] = lo;
    start[lo + 1]++;
  }
  for (let r = 1; r <= m; r++) start[r] += start[r - 1];
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[start[rank[i]]++] = i;
  return order;
}

/** The operating points of the ranking `order`: equal scores form one point, so ties never depend on the input order. */
function operatingPoints(scores: Scores, labels: Labels, order = rankOrder(scores)): Points {
  const n = order.length;
  const points: Points = { length: 0, threshold: new Float64Array(n), tp: new Uint32Array(n), fp: new Uint32Array(n) };
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (labels[i] === 1) tp++;
    else fp++;
    if (k === n - 1 || scores[order[k + 1]] !== scores[i]) {
      points.threshold[points.length] = scores[i];
      points.tp[points.length] = tp;
      points.fp[points.length++] = fp;
    }
  }
  return points;
}

const positivesOf = (p: Points) => (p.length ? p.tp[p.length - 1] : 0);
const negativesOf = (p: Points) => (p.length ? p.fp[p.length - 1] : 0);

function prOf(p: Points): PrPoint[] {
  const positives = positivesOf(p);
  const curve: PrPoint[] = [{ recall: 0, precision: 1, threshold: null }];
  for (let n = 0; n < p.length; n++) curve.push({ recall: p.tp[n] / positives, precision: p.tp[n] / (p.tp[n] + p.fp[n]), threshold: p.threshold[n] });
  return curve;
}

function rankedApOf(order: Uint32Array, labels: Labels): number {
  let tp = 0;
  let sum = 0;
  for (let k = 0; k < order.length; k++) if (labels[order[k]] === 1) sum += ++tp / (k + 1);
  return tp > 0 ? sum / tp : NaN;
}

/** sum over the points of (R_n - R_{n-1}) P_n from R_0 = 0: the area under prOf's steps, computed as it would be from them. */
function apOf(p: Points): number {
  const positives = positivesOf(p);
  let ap = 0;
  let recall = 0;
  for (let n = 0; n < p.length; n++) {
    const r = p.tp[n] / positives;
    ap += (r - recall) * (p.tp[n] / (p.tp[n] + p.fp[n]));
    recall = r;
  }
  return p.length > 0 && Number.isFinite(recall) ? ap : NaN;
}

function rocOf(p: Points): RocPoint[] {
  const positives = positivesOf(p);
  const negatives = negativesOf(p);
  const curve: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: null }];
  for (let n = 0; n < p.length; n++) curve.push({ fpr: p.fp[n] / negatives, tpr: p.tp[n] / positives, threshold: p.threshold[n] });
  return curve;
}

function aucOf(p: Points): number {
  const positives = positivesOf(p);
  const negatives = negativesOf(p);
  if (positives === 0 || negatives === 0) return NaN;
  // Each group of equal scores: its positives beat every negative scored lower and tie its own negatives.
  let pairs = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let n = 0; n < p.length; n++) {
    const groupNegatives = p.fp[n] - prevFp;
    pairs += (p.tp[n] - prevTp) * (negatives - p.fp[n] + groupNegatives / 2);
    prevTp = p.tp[n];
    prevFp = p.fp[n];
  }
  return pairs / (positives * negatives);
}

export function prCurve(scores: Scores, labels: Labels): PrPoint[] {
  checkInputs(scores, labels);
  return prOf(operatingPoints(scores, labels));
}

/**
 * Average precision over the ranking itself: images sorted by descending score with equal scores kept in
 * input order (a stable sort), AP = mean over the positives of the precision at their rank. This is how the
 * project's reference figures for the seed were computed (SPEC §2): float32 sigmoids saturate at exactly 1.0,
 * so ties matter, and this definition charges a tie to the images listed first. NaN without positives.
 */
export function rankedAveragePrecision(scores: Scores, labels: Labels): number {
  checkInputs(scores, labels);
  return rankedApOf(rankOrder(scores), labels);
}

/** sklearn's average_precision_score: sum over thresholds of (R_n - R_{n-1}) P_n. NaN without positives. */
export function averagePrecision(scores: Scores, labels: Labels): number {
  checkInputs(scores, labels);
  return apOf(operatingPoints(scores, labels));
}

export function rocCurve(scores: Scores, labels: Labels): RocPoint[] {
  checkInputs(scores, labels);
  return rocOf(operatingPoints(scores, labels));
}

/**
 * ROC AUC as the Mann-Whitney statistic: the share of (positive, negative) pairs ranked correctly, a tie
 * counting 1/2. Equals the trapezoidal area under rocCurve. NaN unless both classes occur.
 */
export function rocAuc(scores: Scores, labels: Labels): number {
  checkInputs(scores, labels);
  return aucOf(operatingPoints(scores, labels));
}

/**
 * Every ranking figure of one class against the rest from one check and one sort (what eval reports per class),
 * and with `curves` the ROC and precision-recall curves (a point per distinct score).
 */
export function rankingFigures(scores: Scores, labels: Labels, curves = true): { rankedAP: number; ap: number; auc: number; roc?: RocPoint[]; pr?: PrPoint[] } {
  checkInputs(scores, labels);
  const order = rankOrder(scores);
  const points = operatingPoints(scores, labels, order);
  const figures = { rankedAP: rankedApOf(order, labels), ap: apOf(points), auc: aucOf(points) };
  return curves ? { ...figures, roc: rocOf(points), pr: prOf(points) } : figures;
}

/** the two-sided 95% normal quantile */
const Z95 = 1.959963984540054;

/** Wilson score interval of a binomial proportion k/n (95% by default); [NaN, NaN] for n = 0. */
export function wilsonInterval(k: number, n: number, z = Z95): [number, number] {
  if (!(n > 0) || k < 0 || k > n) return [NaN, NaN];
  const p = k / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  // Clamp the rounding at the ends: k = 0 gives exactly 0, k = n exactly 1.
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
