// The learning rate of each optimizer step, computed here and passed to the native step (which takes the lr per
// call): constant, step, cosine and one-cycle schedules, each with an optional linear warm-up. A function of the
// global step only, so a resumed run continues the same curve.
import type { Recipe } from '../model/spec.js';

export type ScheduleSettings = Pick<Recipe, 'lr' | 'schedule' | 'warmup' | 'stepSize' | 'stepGamma' | 'epochs'>;

/** one-cycle as PyTorch's OneCycleLR (anneal 'cos', two phases): from lr / 25 up to lr, then down to lr / 25 / 1e4 */
export const ONECYCLE_DIV = 25;
export const ONECYCLE_FINAL_DIV = 1e4;
/** one-cycle's rising share of the steps when no --warmup is given (OneCycleLR's pct_start) */
export const ONECYCLE_RISE = 0.3;

/** Cosine interpolation from `start` (pct 0) to `end` (pct 1), as OneCycleLR's _annealing_cos. */
const cosine = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);

/** The step schedule's interval in epochs: its own, or a third of the epochs (at least 1). */
export const stepInterval = (s: Pick<Recipe, 'stepSize' | 'epochs'>): number => s.stepSize || Math.max(1, Math.round(s.epochs / 3));

/**
 * The learning rate of optimizer step `step` (0-based, over the whole run) for epochs of `stepsPerEpoch` steps.
 * - constant: lr; step: lr * stepGamma^floor(epoch / stepInterval); cosine: lr (1 + cos(pi t)) / 2 with t from 0
 *   (after the warm-up) to 1 (past the last step), as CosineAnnealingLR to 0 over the steps after the warm-up;
 *   all three times (step + 1) / warmupSteps during a warm-up of round(warmup * stepsPerEpoch) steps.
 * - onecycle: OneCycleLR: cosine from lr / 25 to lr until the end of the rising phase (the warm-up's steps, else
 *   30% of the steps), then cosine down to lr / 25 / 1e4 at the last step.
 */
export function learningRate(s: ScheduleSettings, step: number, stepsPerEpoch: number): number {
  const total = s.epochs * stepsPerEpoch;
  const warm = Math.round(s.warmup * stepsPerEpoch);
  if (s.schedule === 'onecycle') {
    const initial = s.lr / ONECYCLE_DIV;
    const peakStep = (warm > 0 ? warm : ONECYCLE_RISE * total) - 1;
    const last = total - 1;
    if (step <= peakStep) return cosine(initial, s.lr, peakStep > 0 ? step / peakStep : 1);
    return cosine(s.lr, initial / ONECYCLE_FINAL_DIV, Math.min(1, (step - peakStep) / (last - peakStep)));
  }
  const ramp = step < warm ? (step + 1) / warm : 1;
  switch (s.schedule) {
    case 'constant':
      return s.lr * ramp;
    case 'step':
      return s.lr * s.stepGamma ** Math.floor(step / stepsPerEpoch / stepInterval(s)) * ramp;
    case 'cosine':
      return cosine(s.lr, 0, step < warm ? 0 : (step - warm) / (total - warm)) * ramp;
  }
}
