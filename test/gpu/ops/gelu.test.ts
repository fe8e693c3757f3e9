import { describe, expect, it } from 'vitest';
import { gelu, geluBackward, geluBackwardReference, geluReference } from '../../../src/gpu/ops/gelu.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { expectClose } from '../../helpers/compare.ts';

// Tolerance 1e-5 (absolute + relative): exp/tanh in f32 are accurate to a few ulp (~1e-7
// relative) and the formula adds a handful of f32 roundings; inputs span [-6, 6] so the tails
// (gelu → 0 and gelu → x) are covered.
const TOLERANCE = 1e-5;

describe('gelu', () => {
  for (const size of [1, 7, 33, 130, 1000]) {
    it(`forward and backward on ${size} values`, async () => {
      const engine = await testEngine();
      const xData = randomFloats(size, size, -6, 6);
      const gradData = randomFloats(size, size + 1);
      const x = engine.upload(xData, [size]);
      const gradOut = engine.upload(gradData, [size]);
      const y = gelu(engine, x);
      const gradX = geluBackward(engine, gradOut, x);
      expectClose(await engine.readFloat(y), geluReference(xData), TOLERANCE);
      expectClose(await engine.readFloat(gradX), geluBackwardReference(gradData, xData), TOLERANCE);
      for (const tensor of [x, gradOut, y, gradX]) tensor.dispose();
    });
  }

  it('matches hand-computed values and saturates without NaN for large |x|', async () => {
    const engine = await testEngine();
    // gelu(0) = 0; gelu(1) = 0.5·(1 + tanh(√(2/π)·1.044715)) = 0.841191990...; large x → x, −x → 0.
    const x = engine.upload([0, 1, 100, -100], [4]);
    const y = await engine.readFloat(gelu(engine, x));
    expect(y[0]).toBe(0);
    expect(y[1]).toBeCloseTo(0.8411919906, 6);
    expect(y[2]).toBe(100);
    expect(Math.abs(y[3])).toBeLessThan(1e-30);
    x.dispose();
  });

  it('backward of the reference matches central finite differences (float64)', () => {
    const xData = Float64Array.from(randomFloats(50, 9, -4, 4));
    const ones = new Float64Array(50).fill(1);
    const analytic = geluBackwardReference(ones, xData);
    const h = 1e-5;
    for (let i = 0; i < xData.length; i++) {
      const numeric = (geluReference([xData[i] + h])[0] - geluReference([xData[i] - h])[0]) / (2 * h);
      // Central differences: error O(h²·f''') ≈ 1e-10, plus rounding ≈ 1e-16/h.
      expect(Math.abs(numeric - analytic[i])).toBeLessThan(1e-8);
    }
  });
});
