import { describe, expect, it } from 'vitest';
import { clipGradNormReference, gradientNormScale, scaleInPlace } from '../../../src/gpu/ops/clip.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

async function clip(gradValues: Float32Array[], maxNorm: number) {
  const engine = await testEngine();
  const grads = gradValues.map((values) => engine.upload(values, [values.length]));
  // clip_grad_norm_: the norm and scale, then every gradient scaled in place.
  const { norm, scale } = gradientNormScale(engine, grads, maxNorm);
  for (const grad of grads) scaleInPlace(engine, grad, scale);
  const result = {
    norm: (await engine.readFloat(norm))[0],
    clipped: await Promise.all(grads.map((grad) => engine.readFloat(grad))),
  };
  for (const tensor of [...grads, norm, scale]) tensor.dispose();
  return result;
}

describe('gradientNormScale, applied with scaleInPlace', () => {
  it('scales every gradient by maxNorm / norm when the global norm is larger', async () => {
    const gradValues = [randomFloats(7, 1), randomFloats(130, 2, -3, 3), randomFloats(1, 3)];
    const expected = clipGradNormReference(gradValues, 1);
    expect(expected.norm).toBeGreaterThan(1);
    const { norm, clipped } = await clip(gradValues, 1);
    // f32 sum of ~140 squares: relative error ~1e-6.
    expect(Math.abs(norm - expected.norm)).toBeLessThan(1e-5 * expected.norm);
    for (let t = 0; t < clipped.length; t++) {
      for (let i = 0; i < clipped[t].length; i++) expect(Math.abs(clipped[t][i] - expected.clipped[t][i])).toBeLessThan(1e-6);
    }
  });

  it('leaves gradients untouched when the norm is below maxNorm', async () => {
    const gradValues = [Float32Array.of(3, 0), Float32Array.of(0, 4)];
    const { norm, clipped } = await clip(gradValues, 10);
    expect(norm).toBe(5);
    expect(Array.from(clipped[0])).toEqual([3, 0]);
    expect(Array.from(clipped[1])).toEqual([0, 4]);
  });

  it('hand-computed: (3, 4) clipped to norm 1 becomes (0.6, 0.8) up to the 1e-6 guard', async () => {
    const { norm, clipped } = await clip([Float32Array.of(3), Float32Array.of(4)], 1);
    expect(norm).toBe(5);
    expect(clipped[0][0]).toBeCloseTo(0.6, 6);
    expect(clipped[1][0]).toBeCloseTo(0.8, 6);
  });
});
