import { describe, expect, it } from 'vitest';
import { DataOrder, epochPermutation } from '../../../src/train/data-order.ts';
import { Xoshiro128 } from '../../../src/train/random.ts';

describe('Xoshiro128 (xoshiro128** 1.1)', () => {
  it('matches the reference outputs for state [1, 2, 3, 4]', () => {
    // From a separate Python transcription of the reference C code (xoshiro128starstar.c).
    const random = new Xoshiro128([1, 2, 3, 4]);
    expect(Array.from({ length: 6 }, () => random.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('continues the same stream from a saved state', () => {
    const random = Xoshiro128.fromSeed(42);
    random.nextUint32();
    const copy = new Xoshiro128(random.state);
    expect(Array.from({ length: 5 }, () => copy.nextUint32())).toEqual(Array.from({ length: 5 }, () => random.nextUint32()));
  });

  it('gives different streams for different seeds and the same for the same', () => {
    expect(Xoshiro128.fromSeed(1).nextUint32()).not.toBe(Xoshiro128.fromSeed(2).nextUint32());
    expect(Xoshiro128.fromSeed(7, 3).state).toEqual(Xoshiro128.fromSeed(7, 3).state);
    expect(Xoshiro128.fromSeed(7, 3).state).not.toEqual(Xoshiro128.fromSeed(7, 4).state);
  });

  it('draws floats in [0, 1) with a plausible mean', () => {
    const random = Xoshiro128.fromSeed(9);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 10000; i++) {
      const value = random.nextFloat();
      if (!(value >= 0 && value < 1)) outside++;
      sum += value;
    }
    expect(outside).toBe(0);
    // Standard error of the mean of 10⁴ uniforms is 0.0029; 0.015 is five of them.
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.015);
  });

  it('refuses a damaged state', () => {
    expect(() => new Xoshiro128([0, 0, 0, 0])).toThrow(/all zeros/);
    expect(() => new Xoshiro128([1, 2, 3] as never)).toThrow(/damaged/);
  });
});

describe('epochPermutation', () => {
  it('is a permutation, the same for the same (seed, epoch), different across epochs', () => {
    const order = epochPermutation(5, 0, 50);
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(epochPermutation(5, 0, 50)).toEqual(order);
    expect(epochPermutation(5, 1, 50)).not.toEqual(order);
    expect(epochPermutation(6, 0, 50)).not.toEqual(order);
  });

  it('puts each sample first about equally often (no gross bias)', () => {
    const firsts = new Array(4).fill(0);
    for (let epoch = 0; epoch < 4000; epoch++) firsts[epochPermutation(1, epoch, 4)[0]]++;
    // Expected 1000 each, binomial σ ≈ 27; allow 5σ.
    for (const count of firsts) expect(Math.abs(count - 1000)).toBeLessThan(140);
  });
});

describe('DataOrder', () => {
  it('visits every sample once per epoch, epoch after epoch', () => {
    const order = DataOrder.start(3, 5, 2);
    expect(order.remaining).toBe(10);
    const visited = order.nextBatch(100);
    expect(visited).toHaveLength(10);
    expect(visited.slice(0, 5).map((v) => v.sample).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(visited.slice(5).map((v) => v.sample).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(visited.map((v) => v.epoch)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(visited[7]).toEqual({ epoch: 1, index: 2, sample: epochPermutation(3, 1, 5)[2] });
    expect(order.next()).toBeNull();
    expect(order.remaining).toBe(0);
  });

  it('batches across the epoch boundary and returns a short last batch', () => {
    const order = DataOrder.start(3, 3, 2);
    expect(order.nextBatch(4).map((v) => v.epoch)).toEqual([0, 0, 0, 1]);
    expect(order.nextBatch(4)).toHaveLength(2);
    expect(order.nextBatch(4)).toEqual([]);
  });

  it('resumed from a saved position (through JSON) sees what an uninterrupted run sees', () => {
    const uninterrupted = DataOrder.start(11, 7, 3).nextBatch(21);
    const first = DataOrder.start(11, 7, 3);
    const before = first.nextBatch(9);
    const saved = JSON.parse(JSON.stringify(first.position));
    expect(saved).toEqual({ seed: 11, sampleCount: 7, epochs: 3, epoch: 1, index: 2 });
    const after = DataOrder.resume(saved, 7).nextBatch(100);
    expect([...before, ...after]).toEqual(uninterrupted);
  });

  it('refuses to resume on a train split of another size, saying what to do', () => {
    const position = DataOrder.start(1, 7, 1).position;
    expect(() => DataOrder.resume(position, 8)).toThrow(/made for 7 train samples, but the dataset has 8; load the dataset/);
  });

  it('refuses a damaged position and an empty split', () => {
    expect(() => DataOrder.resume({ seed: 1, sampleCount: 3, epochs: 1, epoch: 0, index: 3 }, 3)).toThrow(/damaged/);
    expect(() => DataOrder.start(1, 0, 1)).toThrow(/at least one/);
  });
});
