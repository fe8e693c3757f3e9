import { describe, expect, it } from 'vitest';
import { linear, linearBackward, linearBackwardReference, linearReference } from '../../../src/gpu/ops/matmul-linear.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { expectClose } from '../../helpers/compare.ts';
import { roundToF16 } from '../../helpers/f16.ts';

// Tolerance 1e-4 (absolute + relative): f32 sums of ≤ 130 products of values in [-1, 1], see
// matmul.test.ts; an element from the wrong chunk or column is off by O(1).
const TOLERANCE = 1e-4;

describe('linear', () => {
  const cases: [number, number, number][] = [
    [1, 1, 1],
    [7, 33, 5],
    [33, 7, 130],
    [130, 65, 70],
  ];
  for (const [rows, inFeatures, outFeatures] of cases) {
    it(`forward and backward, x [${rows}, ${inFeatures}] · W [${outFeatures}, ${inFeatures}]ᵀ`, async () => {
      const engine = await testEngine();
      const before = engine.poolStats().liveBuffers;
      const xData = randomFloats(rows * inFeatures, rows + 1);
      const weightData = randomFloats(outFeatures * inFeatures, inFeatures + 2);
      const biasData = randomFloats(outFeatures, outFeatures + 3);
      const gradData = randomFloats(rows * outFeatures, outFeatures + 4);
      const x = engine.upload(xData, [rows, inFeatures]);
      const weight = engine.upload(weightData, [outFeatures, inFeatures]);
      const bias = engine.upload(biasData, [outFeatures]);
      const gradOut = engine.upload(gradData, [rows, outFeatures]);
      const y = linear(engine, x, weight, bias);
      expectClose(await engine.readFloat(y), linearReference(xData, weightData, rows, inFeatures, outFeatures, biasData), TOLERANCE);
      const grads = linearBackward(engine, gradOut, x, weight, { weightGradient: true, biasGradient: true });
      const expected = linearBackwardReference(gradData, xData, weightData, rows, inFeatures, outFeatures);
      expectClose(await engine.readFloat(grads.gradX), expected.gradX, TOLERANCE);
      expectClose(await engine.readFloat(grads.gradWeight as Tensor), expected.gradWeight, TOLERANCE);
      expectClose(await engine.readFloat(grads.gradBias!), expected.gradBias, TOLERANCE);
      for (const tensor of [x, weight, bias, gradOut, y, grads.gradX, grads.gradWeight as Tensor, grads.gradBias!]) tensor.dispose();
      expect(engine.poolStats().liveBuffers).toBe(before);
    });
  }

  it('gives the same results with the weight split into row chunks, f32 and f16', async () => {
    const engine = await testEngine();
    const [rows, inFeatures] = [9, 21];
    const chunkRows = [6, 1, 13]; // out = 20, chunk boundaries not tile-aligned
    const outFeatures = chunkRows.reduce((x, y) => x + y);
    const xData = randomFloats(rows * inFeatures, 81);
    const weightData = roundToF16(randomFloats(outFeatures * inFeatures, 82));
    const biasData = randomFloats(outFeatures, 83);
    const gradData = randomFloats(rows * outFeatures, 84);
    const x = engine.upload(xData, [3, 3, inFeatures]); // leading dims are flattened into rows
    const bias = engine.upload(biasData, [outFeatures]);
    const gradOut = engine.upload(gradData, [3, 3, outFeatures]);
    const expectedY = linearReference(xData, weightData, rows, inFeatures, outFeatures, biasData);
    const expectedGrads = linearBackwardReference(gradData, xData, weightData, rows, inFeatures, outFeatures);
    for (const dtype of ['f32', 'f16'] as const) {
      let start = 0;
      const chunks = chunkRows.map((count) => {
        const chunk = engine.upload(weightData.subarray(start * inFeatures, (start + count) * inFeatures), [count, inFeatures], dtype);
        start += count;
        return chunk;
      });
      const y = linear(engine, x, chunks, bias);
      expect(y.shape).toEqual([3, 3, outFeatures]);
      expectClose(await engine.readFloat(y), expectedY, TOLERANCE);
      const grads = linearBackward(engine, gradOut, x, chunks, { weightGradient: true });
      expectClose(await engine.readFloat(grads.gradX), expectedGrads.gradX, TOLERANCE);
      const gradChunks = grads.gradWeight as Tensor[];
      expect(gradChunks.map((chunk) => chunk.shape[0])).toEqual(chunkRows);
      const gradWeight = new Float32Array(outFeatures * inFeatures);
      let offset = 0;
      for (const chunk of gradChunks) {
        gradWeight.set(await engine.readFloat(chunk), offset);
        offset += chunk.size;
      }
      expectClose(gradWeight, expectedGrads.gradWeight, TOLERANCE);
      expect(grads.gradBias).toBeUndefined();
      for (const tensor of [...chunks, y, grads.gradX, ...gradChunks]) tensor.dispose();
    }
    for (const tensor of [x, bias, gradOut]) tensor.dispose();
  });

  it('backward reference matches central finite differences of the forward reference (float64)', () => {
    const [rows, inFeatures, outFeatures] = [3, 4, 5];
    const x = Float64Array.from(randomFloats(rows * inFeatures, 91));
    const weight = Float64Array.from(randomFloats(outFeatures * inFeatures, 92));
    const bias = Float64Array.from(randomFloats(outFeatures, 93));
    const gradOut = Float64Array.from(randomFloats(rows * outFeatures, 94));
    const loss = (xs: Float64Array, ws: Float64Array, bs: Float64Array) =>
      linearReference(xs, ws, rows, inFeatures, outFeatures, bs).reduce((sum, value, i) => sum + value * gradOut[i], 0);
    const numeric = (values: Float64Array, f: (perturbed: Float64Array) => number) =>
      Array.from(values, (_, i) => {
        const h = 1e-6;
        const plus = Float64Array.from(values);
        const minus = Float64Array.from(values);
        plus[i] += h;
        minus[i] -= h;
        return (f(plus) - f(minus)) / (2 * h);
      });
    const analytic = linearBackwardReference(gradOut, x, weight, rows, inFeatures, outFeatures);
    // The loss is linear in each input, so differences are exact up to rounding (~1e-10).
    const pairs: [ArrayLike<number>, number[]][] = [
      [analytic.gradX, numeric(x, (p) => loss(p, weight, bias))],
      [analytic.gradWeight, numeric(weight, (p) => loss(x, p, bias))],
      [analytic.gradBias, numeric(bias, (p) => loss(x, weight, p))],
    ];
    for (const [exact, approximate] of pairs) {
      for (let i = 0; i < approximate.length; i++) expect(Math.abs(exact[i] - approximate[i])).toBeLessThan(1e-8);
    }
  });
});
