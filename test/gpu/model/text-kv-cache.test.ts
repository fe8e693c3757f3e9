// KVCache bookkeeping: snapshot/restore of the image prefix, truncation, the context check.
import { describe, expect, it } from 'vitest';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

describe('KVCache', () => {
  it('restores a snapshot of the prefix rows after later rows overwrote them', async () => {
    const engine = await testEngine();
    const before = engine.poolStats().liveBuffers;
    const [maxContext, dim] = [10, 6];
    const cache = new KVCache(engine, 2, maxContext, dim);
    const prefixKeys = randomFloats(4 * dim, 1);
    const prefixValues = randomFloats(4 * dim, 2);
    for (const layer of cache.layers) {
      engine.write(layer.keys, Float32Array.from({ length: maxContext * dim }, (_, i) => (i < prefixKeys.length ? prefixKeys[i] : -1)));
      engine.write(layer.values, Float32Array.from({ length: maxContext * dim }, (_, i) => (i < prefixValues.length ? prefixValues[i] : -2)));
    }
    cache.length = 7;
    const snapshot = cache.snapshot(4);
    expect(snapshot.length).toBe(4);
    // A later prompt overwrites everything.
    for (const layer of cache.layers) {
      engine.write(layer.keys, new Float32Array(maxContext * dim).fill(9));
      engine.write(layer.values, new Float32Array(maxContext * dim).fill(9));
    }
    cache.restore(snapshot);
    expect(cache.length).toBe(4);
    for (const layer of cache.layers) {
      const keys = await engine.readFloat(layer.keys);
      const values = await engine.readFloat(layer.values);
      expect(Array.from(keys.subarray(0, 4 * dim))).toEqual(Array.from(prefixKeys));
      expect(Array.from(values.subarray(0, 4 * dim))).toEqual(Array.from(prefixValues));
      // Rows past the snapshot are left as they were.
      expect(keys[4 * dim]).toBe(9);
    }
    expect(() => cache.snapshot(5)).toThrow(/only 4 are filled/);
    snapshot.dispose();
    cache.dispose();
    expect(engine.poolStats().liveBuffers).toBe(before);
  });

  it('checks the context and truncation bounds with messages that say what to do', async () => {
    const engine = await testEngine();
    const cache = KVCache.forConfig(engine, { text: { n_layers: 1, max_context: 8, dim: 4 } } as never);
    cache.length = 6;
    expect(cache.remaining).toBe(2);
    expect(() => cache.reserve(2)).not.toThrow();
    expect(() => cache.reserve(3)).toThrow(/6 positions used, 3 more needed, 8 available. Use a shorter prompt/);
    expect(() => cache.truncate(7)).toThrow(/6 positions are filled/);
    cache.truncate(2);
    expect(cache.length).toBe(2);
    cache.dispose();
  });
});
