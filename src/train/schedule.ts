// The learning-rate schedule of the upstream fine-tuning scripts (spec §11.1, also §11.3):
//   x = step / totalSteps
//   x < w  → 0.1·LR + 0.9·LR · x / w                         linear warm-up from 0.1·LR
//   x ≥ w  → 0.1·LR + 0.9·LR · (1 + cos(π · (x − w))) / 2     cosine term over (x − w)·π
// with w = 0.1. The cosine runs over (x − 0.1)·π rather than a rescaled [0, π], so at x = 1 the
// rate is 0.1 + 0.9·(1 + cos 0.9π)/2 ≈ 0.1224·LR, not the 0.1·LR floor; kept as upstream has it.

/** Upstream `lr_schedule(step, max_steps)`: the rate for a (possibly fractional) step. */
export function scheduledLearningRate(step: number, totalSteps: number, peakLearningRate: number, warmupFraction = 0.1): number {
  if (totalSteps <= 0) throw new Error(`The schedule needs at least one optimizer step, got ${totalSteps}; add samples or lower gradientAccumulation.`);
  const x = step / totalSteps;
  if (x < warmupFraction) return 0.1 * peakLearningRate + (0.9 * peakLearningRate * x) / warmupFraction;
  return 0.1 * peakLearningRate + (0.9 * peakLearningRate * (1 + Math.cos(Math.PI * (x - warmupFraction)))) / 2;
}

/**
 * The rate used by optimizer step `stepIndex` (0-based) of a run of `totalSteps` steps.
 * Upstream sets the rate *after* each optimizer step, from the count of steps taken so far, so
 * step 0 runs with the optimizer's constructor rate (the peak LR in spec §11.1) and step k ≥ 1
 * with `lr_schedule(k)`: the schedule is one step late, and the first step skips the warm-up.
 * `firstStepLearningRate` is that constructor rate (§11.3's notebook built it with 0.1·LR).
 */
export function learningRateForStep(
  stepIndex: number,
  totalSteps: number,
  peakLearningRate: number,
  warmupFraction = 0.1,
  firstStepLearningRate = peakLearningRate,
): number {
  if (!Number.isInteger(stepIndex) || stepIndex < 0) throw new Error(`Optimizer step index must be a whole number ≥ 0, got ${stepIndex}.`);
  if (stepIndex === 0) return firstStepLearningRate;
  return scheduledLearningRate(stepIndex, totalSteps, peakLearningRate, warmupFraction);
}
