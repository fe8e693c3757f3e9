import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPool2dBackward,
  adaptiveAvgPool2dBackwardReference,
  adaptiveAvgPool2dReference,
} from '../../../src/gpu/ops/adaptive-pool.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

async function pool(values: Float32Array | number[], shape: [number, number, number], outHeight: number, outWidth: number) {
  const engine = await testEngine();
  const out = engine.scope(() => adaptiveAvgPool2d(engine, engine.upload(values, shape), outHeight, outWidth));
  const result = await engine.readFloat(out);
  out.dispose();
  return result;
}

describe('adaptiveAvgPool2d', () => {
  // 46×46 → 27 is the 2×2-crop stitched grid of spec §4.1–4.5 (19·2 + 8); 27 → 27 is the identity;
  // 7×5 → 3×2 has overlapping windows of unequal size; 1×1 → 3×3 repeats the single cell.
  const cases: [[number, number, number], number, number][] = [
    [[46, 46, 3], 27, 27],
    [[27, 27, 2], 27, 27],
    [[7, 5, 7], 3, 2],
    [[1, 1, 4], 3, 3],
    [[65, 84, 1], 27, 27],
  ];
  for (const [shape, outHeight, outWidth] of cases) {
    it(`matches the reference: [${shape.join(', ')}] → ${outHeight}×${outWidth}`, async () => {
      const values = randomFloats(shape[0] * shape[1] * shape[2], shape[0] + shape[1]);
      const actual = await pool(values, shape, outHeight, outWidth);
      const expected = adaptiveAvgPool2dReference(values, shape, outHeight, outWidth);
      // Means of ≤ 16 f32 values: ~1e-7 absolute.
      for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(1e-6);
    });
  }

  it('hand-computed: 3×1 → 2×1 averages rows [0, 2) and [1, 3) (PyTorch windows overlap)', async () => {
    expect(Array.from(await pool([1, 2, 4], [3, 1, 1], 2, 1))).toEqual([1.5, 3]);
  });

  it('27×27 → 27×27 is the identity (spec §4.5, 1×1 tiling)', async () => {
    const values = randomFloats(27 * 27 * 2, 5);
    expect(Array.from(await pool(values, [27, 27, 2], 27, 27))).toEqual(Array.from(values));
  });

  it('reproduces upstream on the golden fixture: stitched [6, 8, 32] → pooled [4, 4, 32]', async () => {
    const golden = new SafetensorsFile(readFileSync(new URL('../../fixtures/moondream-tiny/golden.safetensors', import.meta.url)));
    const actual = await pool(golden.float32('vision_stitched'), [6, 8, 32], 4, 4);
    const expected = golden.float32('vision_pooled');
    // torch sums the same ≤ 4 values in f32 (maybe in another order): a few ulps.
    for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(1e-6);
  });

  describe('backward', () => {
    it('the reference backward is the derivative of the reference forward (float64 finite differences, 7×5×2 → 3×2)', () => {
      const shape: [number, number, number] = [7, 5, 2];
      const values = Float64Array.from(randomFloats(70, 41));
      const gradOut = Float64Array.from(randomFloats(3 * 2 * 2, 42));
      const loss = (x: Float64Array) => adaptiveAvgPool2dReference(x, shape, 3, 2).reduce((sum, y, i) => sum + y * gradOut[i], 0);
      const analytic = adaptiveAvgPool2dBackwardReference(gradOut, shape, 3, 2);
      for (let i = 0; i < values.length; i++) {
        const plus = values.slice();
        const minus = values.slice();
        plus[i] += 1e-6;
        minus[i] -= 1e-6;
        // The loss is linear in x: central differences are exact up to float64 rounding (~1e-10).
        expect(Math.abs((loss(plus) - loss(minus)) / 2e-6 - analytic[i])).toBeLessThan(1e-8);
      }
    });

    for (const [shape, outHeight, outWidth] of cases) {
      it(`GPU backward matches the reference: [${shape.join(', ')}] → ${outHeight}×${outWidth}`, async () => {
        const engine = await testEngine();
        const gradOut = randomFloats(outHeight * outWidth * shape[2], 7 + shape[0]);
        const grad = engine.scope(() => adaptiveAvgPool2dBackward(engine, engine.upload(gradOut, [outHeight, outWidth, shape[2]]), shape));
        const actual = await engine.readFloat(grad);
        grad.dispose();
        const expected = adaptiveAvgPool2dBackwardReference(gradOut, shape, outHeight, outWidth);
        // Each input cell sums ≤ 4 terms gradOut/area in f32 (the 1×1 → 3×3 case sums 9): ~1e-7.
        for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(1e-6);
      });
    }
  });
});
