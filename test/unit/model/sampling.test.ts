// Sampling math on hand-computed cases (spec §8.5), and the draw frequencies of a seeded source.
import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, topPDistribution } from '../../../src/model/sampling.ts';
import { mulberry32 } from '../../helpers/random.ts';

describe('argmax', () => {
  it('picks the largest logit, the first one on ties, and skips −∞ and NaN', () => {
    expect(argmax([0.1, 2, -1])).toBe(1);
    expect(argmax([3, 1, 3])).toBe(0);
    expect(argmax([Number.NaN, -Infinity, -5])).toBe(2);
  });

  it('says what went wrong when every logit is NaN', () => {
    expect(() => argmax([Number.NaN, Number.NaN])).toThrow(/NaN/);
  });
});

describe('topPDistribution (spec §8.5 rule)', () => {
  // logits ln(0.5), ln(0.3), ln(0.2) at T = 1 give p = [0.5, 0.3, 0.2] exactly.
  const logits = [Math.log(0.3), Math.log(0.5), Math.log(0.2)];

  it('keeps only the top token when its mass alone exceeds top_p (c_k − p_k > top_p drops the rest)', () => {
    // Sorted: 0.5 (id 1), 0.3 (id 0), 0.2 (id 2). Mass before id 0 is 0.5 > 0.3 → dropped.
    const { ids, probabilities } = topPDistribution(logits, 1, 0.3);
    expect(ids).toEqual([1]);
    expect(probabilities[0]).toBeCloseTo(1, 12);
  });

  it('keeps a token whose preceding mass is exactly top_p (only > drops)', () => {
    // top_p 0.5: mass before id 0 is 0.5, not > 0.5 → kept; before id 2 is 0.8 > 0.5 → dropped.
    const { ids, probabilities } = topPDistribution(logits, 1, 0.5);
    expect(ids).toEqual([1, 0]);
    expect(probabilities[0]).toBeCloseTo(0.5 / 0.8, 12);
    expect(probabilities[1]).toBeCloseTo(0.3 / 0.8, 12);
  });

  it('keeps everything at top_p = 1 and divides logits by the temperature', () => {
    // T = 0.5 squares the odds: 0.25, 0.09, 0.04 over 0.38.
    const { ids, probabilities } = topPDistribution(logits, 0.5, 1);
    expect(ids).toEqual([1, 0, 2]);
    expect(probabilities[0]).toBeCloseTo(0.25 / 0.38, 12);
    expect(probabilities[1]).toBeCloseTo(0.09 / 0.38, 12);
    expect(probabilities[2]).toBeCloseTo(0.04 / 0.38, 12);
  });

  it('gives −∞ logits (suppressed tokens) zero probability', () => {
    // Sorted [0.5 (id 0), 0.5 (id 2), 0 (id 1)]; the mass before id 1 is 1, not > 1, so it stays, with p = 0.
    const { ids, probabilities } = topPDistribution([0, -Infinity, 0], 1, 1);
    expect(ids).toEqual([0, 2, 1]);
    expect(probabilities).toEqual([0.5, 0.5, 0]);
  });

  it('rejects invalid settings with the allowed range', () => {
    expect(() => topPDistribution(logits, 0, 0.5)).toThrow(/temperature/);
    expect(() => topPDistribution(logits, 1, 0)).toThrow(/top_p/);
    expect(() => topPDistribution(logits, 1, 1.5)).toThrow(/top_p/);
  });
});

describe('sampleToken', () => {
  const logits = [Math.log(0.3), Math.log(0.5), Math.log(0.2)];

  it('is argmax at temperature 0, whatever the random source', () => {
    expect(sampleToken(logits, { temperature: 0, topP: 0.3 }, () => 0.99)).toBe(1);
  });

  it('draws by inverse CDF over the kept, renormalised tokens (most likely first)', () => {
    // top_p 0.5 keeps ids [1, 0] with probabilities [0.625, 0.375].
    const options = { temperature: 1, topP: 0.5 };
    expect(sampleToken(logits, options, () => 0)).toBe(1);
    expect(sampleToken(logits, options, () => 0.62)).toBe(1);
    expect(sampleToken(logits, options, () => 0.63)).toBe(0);
    expect(sampleToken(logits, options, () => 0.999999)).toBe(0);
  });

  it('with top_p = 1 can reach the least likely token', () => {
    expect(sampleToken(logits, { temperature: 1, topP: 1 }, () => 0.85)).toBe(2);
  });
});

describe('sampling frequencies', () => {
  it('keeps tokens while the mass before them is ≤ top_p, most likely first', () => {
    // Probabilities 0.5, 0.3, 0.15, 0.05 (logits = ln p, T = 1).
    const logits = [Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)];
    expect(topPDistribution(logits, 1, 0.3).ids).toEqual([1]);
    // top_p 0.5: before token 3 is 0.5 ≤ 0.5 (kept); before token 0 is 0.8 (dropped). Renormalised 0.625 / 0.375.
    const two = topPDistribution(logits, 1, 0.5);
    expect(two.ids).toEqual([1, 3]);
    expect(two.probabilities[0]).toBeCloseTo(0.625, 12);
    expect(topPDistribution(logits, 1, 1).ids).toEqual([1, 3, 0, 2]);
  });

  it('draws in proportion to the nucleus (10,000 seeded draws, within 3%)', () => {
    const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    const random = mulberry32(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[sampleToken(logits, { temperature: 1, topP: 0.6 }, random)]++;
    // top_p 0.6: tokens 0 and 1 kept (mass before token 2 is 0.8): 0.625 / 0.375 / 0.
    expect(counts[2]).toBe(0);
    expect(Math.abs(counts[0] / 10_000 - 0.625)).toBeLessThan(0.03);
  });
});
