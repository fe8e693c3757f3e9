import { describe, expect, it } from 'vitest';
import { formatBudget, inferenceBudget } from '../../../src/model/bench/model-bench.ts';
import { getRevision } from '../../../src/model/revisions.ts';

// Arithmetic only (no GPU): the full-size memory budget against the spec's parameter counts.
describe('full-size inference budget', () => {
  const revision = getRevision('2025-06-21');

  it('f32 weights are 4 bytes × the 1,927,237,104 parameters of spec §3.1', () => {
    expect(inferenceBudget(revision, 'f32').weightBytes).toBe(4 * 1_927_237_104);
  });

  it('f16 matrices halve the weights; the f32 KV cache is 2·24 layers·2048 positions·2048·4 bytes; it fits 8 GB', () => {
    const budget = inferenceBudget(revision, 'f16');
    // Vectors (biases, LayerNorms, pos_emb 729·1152, Fourier tables) stay f32; they are < 1% of
    // the parameters, so the total lies just above 2 bytes per parameter.
    expect(budget.weightBytes).toBeGreaterThan(2 * 1_927_237_104);
    expect(budget.weightBytes).toBeLessThan(2.01 * 1_927_237_104);
    expect(budget.kvCacheBytes).toBe(2 * 24 * 2048 * 2048 * 4);
    expect(budget.totalBytes).toBeLessThan(8e9);
    expect(formatBudget('full', budget)).toMatch(/fits an 8 GB GPU/);
    expect(formatBudget('full', inferenceBudget(revision, 'f32'))).toMatch(/does NOT fit/);
  });
});
