import { describe, expect, it } from 'vitest';
import { softmax, softmaxBackward, softmaxBackwardReference, softmaxReference } from '../../../src/gpu/ops/softmax.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

// Tolerance 1e-6 absolute: probabilities are in [0, 1]; f32 exp is accurate to a few ulp and
// the row sum of ≤ 300 terms adds ≲ 300·6e-8 relative in the worst case (~1e-7 typical).

describe('softmax', () => {
  const cases: [number, number][] = [
    [1, 1],
    [3, 7],
    [5, 33],
    [2, 130],
    [3, 300],
  ];
  for (const [rows, D] of cases) {
    it(`forward and backward, ${rows} rows × ${D}`, async () => {
      const engine = await testEngine();
      // Large logits (up to ±40) would overflow exp() without the max subtraction.
      const xData = randomFloats(rows * D, rows + D * 7, -40, 40);
      const gradData = randomFloats(rows * D, D + 5);
      const x = engine.upload(xData, [rows, D]);
      const gradOut = engine.upload(gradData, [rows, D]);
      const y = softmax(engine, x);
      const yData = await engine.readFloat(y);
      expect(maxAbsDifference(yData, softmaxReference(xData, D))).toBeLessThanOrEqual(1e-6);
      const gradX = softmaxBackward(engine, gradOut, y);
      expect(maxAbsDifference(await engine.readFloat(gradX), softmaxBackwardReference(gradData, yData, D))).toBeLessThanOrEqual(2e-6);
      for (const tensor of [x, gradOut, y, gradX]) tensor.dispose();
    });
  }

  it('handles hand-computed rows, −∞ masks and fully masked rows', async () => {
    const engine = await testEngine();
    const x = engine.upload([0, Math.log(3), -Infinity, 1000, 1000, -Infinity, -Infinity, -Infinity], [2, 4]);
    const yTensor = softmax(engine, x);
    const y = await engine.readFloat(yTensor);
    // Row 1: e^1000 dominates (the others are < e^-998 of it) → [0, 0, 0, 1], with no overflow.
    expect(maxAbsDifference(y.subarray(0, 4), [0, 0, 0, 1])).toBeLessThanOrEqual(1e-6);
    // Row 2: [1000, −∞, −∞, −∞] → [1, 0, 0, 0].
    expect(maxAbsDifference(y.subarray(4, 8), [1, 0, 0, 0])).toBeLessThanOrEqual(1e-6);
    const small = engine.upload([0, Math.log(3), -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity], [2, 4]);
    const smallY = softmax(engine, small);
    // Row 1: e^0 : e^ln3 = 1 : 3 → [0.25, 0.75]; row 2 fully masked → zeros, not NaN.
    expect(maxAbsDifference(await engine.readFloat(smallY), [0.25, 0.75, 0, 0, 0, 0, 0, 0])).toBeLessThanOrEqual(1e-6);
    for (const tensor of [x, yTensor, small, smallY]) tensor.dispose();
  });

  it('backward reference matches central finite differences (float64)', () => {
    const D = 5;
    const x = Float64Array.from(randomFloats(2 * D, 71, -3, 3));
    const gradOut = Float64Array.from(randomFloats(2 * D, 72));
    const loss = (values: Float64Array) => softmaxReference(values, D).reduce((sum, value, i) => sum + value * gradOut[i], 0);
    const analytic = softmaxBackwardReference(gradOut, softmaxReference(x, D), D);
    for (let i = 0; i < x.length; i++) {
      const h = 1e-6;
      const plus = Float64Array.from(x);
      const minus = Float64Array.from(x);
      plus[i] += h;
      minus[i] -= h;
      // Truncation O(h²) ≈ 1e-12, rounding ≈ 1e-10.
      expect(Math.abs((loss(plus) - loss(minus)) / (2 * h) - analytic[i])).toBeLessThan(1e-8);
    }
  });
});
