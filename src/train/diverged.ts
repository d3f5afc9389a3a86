// Numerical faults during training. The clipped cross-entropy stays finite even when the weights are NaN (a NaN
// logit is clipped like any other), so the loss alone cannot tell: the weights are checked after every step,
// which also catches a NaN or Inf gradient (RMSprop turns either into a NaN weight).
import { EngineError } from '../errors.js';

/** Training stopped on a NaN/Inf. Exit code 1: not bad input, but not a crash either. */
export class TrainingDiverged extends EngineError {
  readonly epoch: number;
  readonly step: number;
  constructor(message: string, epoch: number, step: number) {
    super(message, 1);
    this.name = 'TrainingDiverged';
    this.epoch = epoch;
    this.step = step;
  }
}

/** Throws TrainingDiverged when the step's loss or its updated weights (badWeights of totalWeights NaN or Inf) are not finite. */
export function checkStepFinite(loss: number, badWeights: number, totalWeights: number, epoch: number, batch: number, batches: number, step: () => number): void {
  if (Number.isFinite(loss) && badWeights === 0) return;
  const what = Number.isFinite(loss) ? `${badWeights} of ${totalWeights} weights became NaN or Inf` : `the loss is ${loss}`;
  throw new TrainingDiverged(
    `training diverged at epoch ${epoch}, step ${batch}/${batches} (optimizer step ${step()}): ${what} (a NaN or Inf in the loss or the gradients; try a smaller --lr)`,
    epoch,
    batch,
  );
}
