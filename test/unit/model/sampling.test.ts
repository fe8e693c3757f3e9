import { describe, expect, it } from 'vitest';
import { argmax, sampleToken, topPDistribution } from '../../../src/model/sampling.ts';

/** Mulberry32: a small seeded generator so draws are reproducible. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('sampling against hand-computed nuclei (spec §8.5)', () => {
  it('temperature 0 is argmax, first index on ties', () => {
    expect(argmax([1, 5, 5, -2])).toBe(1);
    expect(sampleToken([0.1, -3, 2.5, 2.4], { temperature: 0, topP: 0.3 }, () => 0.99)).toBe(2);
  });

  it('keeps tokens while the mass before them is ≤ top_p', () => {
    // Probabilities 0.5, 0.3, 0.15, 0.05 (logits = ln p, T = 1).
    const logits = [Math.log(0.15), Math.log(0.5), Math.log(0.05), Math.log(0.3)];
    // top_p 0.3: mass before token 1 is 0 (kept), before token 3 is 0.5 > 0.3 (dropped).
    expect(topPDistribution(logits, 1, 0.3).ids).toEqual([1]);
    // top_p 0.5: before token 3 is 0.5 ≤ 0.5 (kept); before token 0 is 0.8 (dropped). Renormalised 0.625 / 0.375.
    const two = topPDistribution(logits, 1, 0.5);
    expect(two.ids).toEqual([1, 3]);
    expect(two.probabilities[0]).toBeCloseTo(0.625, 12);
    expect(two.probabilities[1]).toBeCloseTo(0.375, 12);
    expect(topPDistribution(logits, 1, 1).ids).toEqual([1, 3, 0, 2]);
  });

  it('temperature sharpens: T = 0.5 squares the odds', () => {
    // p ∝ exp(2·ln p) = p²: 0.6², 0.4² → 0.36/0.52, 0.16/0.52.
    expect(topPDistribution([Math.log(0.6), Math.log(0.4)], 0.5, 1).probabilities[0]).toBeCloseTo(0.36 / 0.52, 12);
  });

  it('draws in proportion to the nucleus (10,000 seeded draws, within 3%)', () => {
    const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    const random = seeded(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[sampleToken(logits, { temperature: 1, topP: 0.6 }, random)]++;
    // top_p 0.6: tokens 0 and 1 kept (mass before token 2 is 0.8): 0.625 / 0.375 / 0.
    expect(counts[2]).toBe(0);
    expect(Math.abs(counts[0] / 10_000 - 0.625)).toBeLessThan(0.03);
  });

  it('gives −∞ logits (suppressed tokens) no mass', () => {
    const { ids, probabilities } = topPDistribution([-Infinity, 0, 0], 0.5, 1);
    expect(ids.slice(0, 2)).toEqual([1, 2]);
    expect(probabilities.slice(2).every((p) => p === 0)).toBe(true);
    expect(argmax([-Infinity, -1])).toBe(1);
  });
});
