// Expected rates are worked out by hand from the formula in spec §11.1 (closed forms of the
// cosine noted next to each); tolerance 1e-12 relative: only float64 rounding separates them.
import { describe, expect, it } from 'vitest';
import { learningRateForStep, scheduledLearningRate } from '../../../src/train/schedule.ts';

const LR = 1e-3;
const close = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-12 * Math.abs(expected));

describe('scheduledLearningRate (upstream lr_schedule)', () => {
  it('warms up linearly from 0.1·LR at x = 0 to LR at x = 0.1', () => {
    close(scheduledLearningRate(0, 100, LR), 0.1 * LR);
    close(scheduledLearningRate(1, 100, LR), 0.19 * LR); // 0.1 + 0.9·0.01/0.1
    close(scheduledLearningRate(5, 100, LR), 0.55 * LR); // halfway
  });

  it('is at the peak where the cosine starts (x = 0.1, cos 0 = 1)', () => {
    close(scheduledLearningRate(10, 100, LR), LR);
  });

  it('follows the cosine over (x − 0.1)·π, not a rescaled [0, π]', () => {
    // x = 0.6: cos(0.5π) = 0 → 0.1 + 0.45 = 0.55·LR (a rescaled cosine would give 0.1 + 0.45·(1 + cos(5π/9))).
    close(scheduledLearningRate(60, 100, LR), 0.55 * LR);
    // x = 1: cos(0.9π) = −cos(0.1π) = −0.95105651629515357 → 0.1 + 0.45·0.04894348370484643.
    close(scheduledLearningRate(100, 100, LR), (0.1 + 0.45 * 0.04894348370484643) * LR);
    expect(scheduledLearningRate(100, 100, LR) / LR).toBeCloseTo(0.1220245677, 9);
  });

  it('uses the given warm-up fraction', () => {
    close(scheduledLearningRate(10, 100, LR, 0.2), 0.55 * LR); // halfway through a 20% warm-up
    close(scheduledLearningRate(20, 100, LR, 0.2), LR);
  });

  it('refuses a run without steps, with what to change', () => {
    expect(() => scheduledLearningRate(0, 0, LR)).toThrow(/gradientAccumulation/);
  });
});

describe('learningRateForStep (the schedule applied one step late, as upstream)', () => {
  it('runs step 0 at the constructor rate, skipping the warm-up', () => {
    expect(learningRateForStep(0, 100, LR)).toBe(LR);
    expect(learningRateForStep(0, 100, LR, 0.1, 0.1 * LR)).toBe(0.1 * LR); // the §11.3 notebook
  });

  it('runs step k ≥ 1 at lr_schedule(k)', () => {
    close(learningRateForStep(1, 100, LR), 0.19 * LR);
    close(learningRateForStep(10, 100, LR), LR);
    close(learningRateForStep(60, 100, LR), 0.55 * LR);
  });

  it('never reaches x = 1: the last step of 100 is lr_schedule(99)', () => {
    // cos(0.89π) = −cos(0.11π); cos(0.11π) = 0.94088076895422557.
    close(learningRateForStep(99, 100, LR), (0.1 + 0.45 * (1 - 0.94088076895422557)) * LR);
  });

  it('refuses negative or fractional step indices', () => {
    expect(() => learningRateForStep(-1, 10, LR)).toThrow(/whole number/);
    expect(() => learningRateForStep(1.5, 10, LR)).toThrow(/whole number/);
  });
});
