// Comparing computed numbers with expected ones, shared by every test layer. Each test states
// its own tolerance (and why) where it calls these.
import { expect } from 'vitest';

/** max |actual − expected| over the elements; NaN anywhere counts as Infinity. */
export function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs(actual[i] - expected[i]);
    if (!(difference <= worst)) worst = Number.isNaN(difference) ? Infinity : difference;
  }
  return worst;
}

/** max |actual − expected| / (1 + |expected|): absolute near 0, relative for large values; NaN counts as Infinity. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(error <= worst)) worst = Number.isNaN(error) ? Infinity : error;
  }
  return worst;
}

/**
 * Every element within `tolerance` in the |a − e| / (1 + |e|) sense (maxRelativeError); the
 * failure names the worst element.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let worstIndex = -1;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(error <= worst)) {
      worst = Number.isNaN(error) ? Infinity : error;
      worstIndex = i;
    }
  }
  expect(worst, `worst error at index ${worstIndex}: ${actual[worstIndex]} vs ${expected[worstIndex]}`).toBeLessThanOrEqual(tolerance);
}
