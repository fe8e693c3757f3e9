import { describe, expect, it } from 'vitest';
import { rotary, rotaryBackward, rotaryInverseFrequencies, rotaryReference, type RotaryOptions } from '../../../src/gpu/ops/rotary.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';


// Angles are the same f32 values on both sides; the GPU reduces them mod π/2 in f32 (error about
// 1e-7) and its polynomial sin/cos add ~1e-7: inputs are in [−1, 1], so
// 1e-6 absolute bounds it and catches a wrong pair, sign, frequency or a sloppy built-in cos.
const TOLERANCE = 1e-6;

describe('rotary', () => {
  const cases: [string, RotaryOptions, number][] = [
    ['tiny text shape, 1 row', { heads: 4, headDim: 16 }, 1],
    ['tiny text shape, 7 rows at offset 17', { heads: 4, headDim: 16, positionOffset: 17 }, 7],
    ['decoder shape, 33 rows near position 2000', { heads: 32, headDim: 64, positionOffset: 1990 }, 33],
    ['full rotation, odd head count', { heads: 3, headDim: 8, rotaryDim: 8 }, 130],
  ];
  for (const [name, options, rows] of cases) {
    it(`forward and backward match the reference: ${name}`, async () => {
      const engine = await testEngine();
      const width = options.heads * options.headDim;
      const values = randomFloats(rows * width, rows + width);
      const { rotated, restored } = engine.scope(() => {
        const x = engine.upload(values, [rows, width]);
        const rotated = rotary(engine, x, options);
        return { rotated, restored: rotaryBackward(engine, rotated, options) };
      });
      expect(maxAbsDifference(await engine.readFloat(rotated), rotaryReference(values, rows, options))).toBeLessThan(TOLERANCE);
      // The backward (inverse rotation) undoes the forward one.
      expect(maxAbsDifference(await engine.readFloat(restored), values)).toBeLessThan(2 * TOLERANCE);
      rotated.dispose();
      restored.dispose();
    });
  }

  it('stacked sequences (sequenceRows) start each at positionOffset, as if rotated one by one', async () => {
    const engine = await testEngine();
    const options = { heads: 2, headDim: 16, positionOffset: 4 };
    const [sequences, rows, width] = [3, 5, 32];
    const values = randomFloats(sequences * rows * width, 9);
    const out = engine.scope(() => rotary(engine, engine.upload(values, [sequences * rows, width]), { ...options, sequenceRows: rows }));
    const expected = Array.from({ length: sequences }, (_, i) => Array.from(rotaryReference(values.subarray(i * rows * width, (i + 1) * rows * width), rows, options))).flat();
    expect(maxAbsDifference(await engine.readFloat(out), expected)).toBeLessThan(TOLERANCE);
    out.dispose();
  });

  it('reads K in place from a fused qkv buffer', async () => {
    const engine = await testEngine();
    const [rows, dim] = [5, 32];
    const options = { heads: 2, headDim: 16, positionOffset: 3 };
    const fused = randomFloats(rows * 3 * dim, 5);
    const keys = Float32Array.from({ length: rows * dim }, (_, i) => fused[Math.floor(i / dim) * 3 * dim + dim + (i % dim)]);
    const out = engine.scope(() => rotary(engine, { tensor: engine.upload(fused, [rows, 3 * dim]), columnOffset: dim }, options));
    expect(maxAbsDifference(await engine.readFloat(out), rotaryReference(keys, rows, options))).toBeLessThan(TOLERANCE);
    out.dispose();
  });

  it('hand-computed case: f_0 = 1, so (1, 0) at position 1 becomes (cos 1, sin 1); dims past R pass through', async () => {
    const engine = await testEngine();
    const options = { heads: 1, headDim: 4, rotaryDim: 2 };
    const out = engine.scope(() => rotary(engine, engine.upload([9, 9, 9, 9, 1, 0, 0.5, -2], [2, 4]), options));
    const actual = await engine.readFloat(out);
    const expected = [9, 9, 9, 9, Math.cos(1), Math.sin(1), 0.5, -2];
    expect(maxAbsDifference(actual, expected)).toBeLessThan(1e-6);
    out.dispose();
  });

  it('frequencies follow θ^(−2j/R) (spec §6.2)', () => {
    const frequencies = rotaryInverseFrequencies(32);
    expect(frequencies.length).toBe(16);
    expect(frequencies[0]).toBe(1);
    for (let j = 0; j < 16; j++) expect(frequencies[j] / 10000 ** (-j / 16)).toBeCloseTo(1, 6);
  });

  it('reference backward is the transpose of the forward: <R x, g> = <x, Rᵀ g>', () => {
    const options = { heads: 2, headDim: 8, positionOffset: 40 };
    const rows = 3;
    const x = randomFloats(rows * 16, 1);
    const g = randomFloats(rows * 16, 2);
    const forward = rotaryReference(x, rows, options, 1);
    const backward = rotaryReference(g, rows, options, -1);
    let left = 0;
    let right = 0;
    for (let i = 0; i < x.length; i++) {
      left += forward[i] * g[i];
      right += x[i] * backward[i];
    }
    expect(Math.abs(left - right)).toBeLessThan(1e-12);
  });

  it('keeps Q·K a function of the position difference only (what rotary embeddings are for)', () => {
    const options = { heads: 1, headDim: 8, rotaryDim: 8 };
    const q = randomFloats(8, 3);
    const k = randomFloats(8, 4);
    const dotAt = (queryPosition: number, keyPosition: number) => {
      const rq = rotaryReference(q, 1, { ...options, positionOffset: queryPosition });
      const rk = rotaryReference(k, 1, { ...options, positionOffset: keyPosition });
      return rq.reduce((sum, value, i) => sum + value * rk[i], 0);
    };
    // f32 angles: each carries ~1 ulp of error, so 1e-5 at positions ≤ 20.
    expect(Math.abs(dotAt(12, 5) - dotAt(7, 0))).toBeLessThan(1e-5);
  });

  it('gives the same Q·K as upstream\'s interleaved write of the rotated pairs (spec §6.2 quirk)', () => {
    const options = { heads: 1, headDim: 16, rotaryDim: 8 };
    const half = options.rotaryDim / 2;
    // Upstream writes [r'_0, i'_0, r'_1, i'_1, …] where our half-split order is [r'_0…r'_3, i'_0…i'_3].
    const interleave = (halfSplit: Float64Array) => {
      const out = halfSplit.slice();
      for (let j = 0; j < half; j++) {
        out[2 * j] = halfSplit[j];
        out[2 * j + 1] = halfSplit[j + half];
      }
      return out;
    };
    const q = randomFloats(16, 6);
    const k = randomFloats(16, 7);
    const rq = rotaryReference(q, 1, { ...options, positionOffset: 9 });
    const rk = rotaryReference(k, 1, { ...options, positionOffset: 4 });
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((sum, value, i) => sum + value * b[i], 0);
    expect(interleave(rq)).not.toEqual(rq);
    expect(Math.abs(dot(interleave(rq), interleave(rk)) - dot(rq, rk))).toBeLessThan(1e-12);
  });

  it('rejects an odd rotaryDim', async () => {
    const engine = await testEngine();
    engine.scope(() => {
      const x = engine.zeros([2, 8]);
      expect(() => rotary(engine, x, { heads: 1, headDim: 8, rotaryDim: 3 })).toThrow(/rotaryDim must be even/);
    });
  });
});
