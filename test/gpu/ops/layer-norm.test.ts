import { describe, expect, it } from 'vitest';
import { layerNorm, layerNormBackward, layerNormBackwardReference, layerNormReference } from '../../../src/gpu/ops/layer-norm.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { expectClose } from '../../helpers/compare.ts';

// Tolerance 2e-5 (absolute + relative): row statistics are f32 sums of ≤ 300 terms (relative
// error ≲ 300·6e-8 ≈ 2e-5 worst case, ~1e-6 typical) and outputs are O(1); a wrong index or a
// missing term moves results by O(0.1) or more.
const TOLERANCE = 2e-5;

describe('layerNorm', () => {
  const cases: [number, number][] = [
    [1, 1],
    [3, 7],
    [5, 33],
    [2, 130],
    [4, 300],
  ];
  for (const [rows, D] of cases) {
    it(`forward and backward, ${rows} rows × ${D}`, async () => {
      const engine = await testEngine();
      // An offset mean (3) checks the two-pass variance.
      const xData = randomFloats(rows * D, rows * 100 + D, 2, 4);
      const weightData = randomFloats(D, D + 1, 0.5, 1.5);
      const biasData = randomFloats(D, D + 2);
      const gradData = randomFloats(rows * D, D + 3);
      const x = engine.upload(xData, [rows, D]);
      const weight = engine.upload(weightData, [D]);
      const bias = engine.upload(biasData, [D]);
      const gradOut = engine.upload(gradData, [rows, D]);
      const forward = layerNorm(engine, x, weight, bias);
      const expected = layerNormReference(xData, weightData, biasData, D);
      expectClose(await engine.readFloat(forward.output), expected.output, TOLERANCE);
      expectClose(await engine.readFloat(forward.mean), expected.mean, TOLERANCE);
      // rstd = 1/√eps ≈ 316 when D = 1; compare relatively.
      expectClose(await engine.readFloat(forward.rstd), expected.rstd, TOLERANCE);
      const grads = layerNormBackward(engine, gradOut, x, weight, forward.mean, forward.rstd);
      const expectedGrads = layerNormBackwardReference(gradData, xData, weightData, D);
      expectClose(await engine.readFloat(grads.gradX), expectedGrads.gradX, TOLERANCE);
      expectClose(await engine.readFloat(grads.gradWeight!), expectedGrads.gradWeight, TOLERANCE);
      expectClose(await engine.readFloat(grads.gradBias!), expectedGrads.gradBias, TOLERANCE);
      for (const tensor of [x, weight, bias, gradOut, ...Object.values(forward), ...Object.values(grads)]) tensor.dispose();
    });
  }

  it('normalises a hand-computed row', async () => {
    const engine = await testEngine();
    // x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25, so y = (x − 2.5)/√(1.25 + 1e-5).
    const x = engine.upload([1, 2, 3, 4], [1, 4]);
    const ones = engine.upload([1, 1, 1, 1], [4]);
    const zeros = engine.upload([0, 0, 0, 0], [4]);
    const result = layerNorm(engine, x, ones, zeros);
    const scale = 1 / Math.sqrt(1.25 + 1e-5);
    expectClose(await engine.readFloat(result.output), [-1.5 * scale, -0.5 * scale, 0.5 * scale, 1.5 * scale], 1e-6);
    expect((await engine.readFloat(result.mean))[0]).toBe(2.5);
    for (const tensor of [x, ones, zeros, ...Object.values(result)]) tensor.dispose();
  });

  it('backward reference matches central finite differences of the forward reference (float64)', () => {
    const [rows, D] = [3, 6];
    const x = Float64Array.from(randomFloats(rows * D, 61));
    const weight = Float64Array.from(randomFloats(D, 62, 0.5, 1.5));
    const bias = Float64Array.from(randomFloats(D, 63));
    const gradOut = Float64Array.from(randomFloats(rows * D, 64));
    const loss = (xs: Float64Array, ws: Float64Array, bs: Float64Array) =>
      layerNormReference(xs, ws, bs, D).output.reduce((sum, value, i) => sum + value * gradOut[i], 0);
    const numeric = (values: Float64Array, f: (perturbed: Float64Array) => number) =>
      Array.from(values, (_, i) => {
        const h = 1e-6;
        const plus = Float64Array.from(values);
        const minus = Float64Array.from(values);
        plus[i] += h;
        minus[i] -= h;
        return (f(plus) - f(minus)) / (2 * h);
      });
    const analytic = layerNormBackwardReference(gradOut, x, weight, D);
    const checks: [ArrayLike<number>, number[]][] = [
      [analytic.gradX, numeric(x, (p) => loss(p, weight, bias))],
      [analytic.gradWeight, numeric(weight, (p) => loss(x, p, bias))],
      [analytic.gradBias, numeric(bias, (p) => loss(x, weight, p))],
    ];
    // Central differences with h = 1e-6 in float64: truncation O(h²) ≈ 1e-12, rounding ≈ 1e-10.
    for (const [exact, approximate] of checks) {
      for (let i = 0; i < approximate.length; i++) expect(Math.abs(exact[i] - approximate[i])).toBeLessThan(1e-7);
    }
  });
});
