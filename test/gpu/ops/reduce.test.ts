import { describe, expect, it } from 'vitest';
import { reduceAll, reduceReference, sum, sumOfSquares } from '../../../src/gpu/ops/reduce.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

describe('reductions', () => {
  // 1, 7, 130 fit one workgroup's first pass; 70_001 uses 18 stage-1 workgroups that each
  // stride; 1_200_000 hits the cap of 256 partials.
  for (const count of [1, 7, 130, 70_001, 1_200_000]) {
    it(`sum and sum of squares match float64 (${count} elements)`, async () => {
      const engine = await testEngine();
      const values = randomFloats(count, count);
      const [total, squares] = engine.scope(() => {
        const x = engine.upload(values, [count]);
        return [sum(engine, x), sumOfSquares(engine, x)];
      });
      // f32 pairwise-ish tree sums: relative error ~1e-7·log2(n) of Σ|x|; 1e-5 of Σ|x| is safe.
      const magnitude = reduceReference(values.map(Math.abs), false);
      expect(Math.abs((await engine.readFloat(total))[0] - reduceReference(values, false))).toBeLessThan(1e-5 * magnitude + 1e-7);
      const expectedSquares = reduceReference(values, true);
      expect(Math.abs((await engine.readFloat(squares))[0] - expectedSquares)).toBeLessThan(1e-5 * expectedSquares);
      total.dispose();
      squares.dispose();
    });
  }

  it('reduces a list of tensors in one final pass (exact on small integers)', async () => {
    const engine = await testEngine();
    const out = engine.scope(() =>
      reduceAll(
        engine,
        [
          engine.upload([1, 2, 3], [3]),
          engine.upload(new Float32Array(10_000).fill(2), [10_000]), // 3 partials: offsets must chain
          engine.upload([-4], [1]),
          engine.upload(new Float32Array(1000).fill(0.5), [1000]),
        ],
        true,
      ),
    );
    // 1 + 4 + 9 + 10000·4 + 16 + 1000·0.25 = 40280.
    expect((await engine.readFloat(out))[0]).toBe(40280);
    out.dispose();
  });
});
