// The image-feature cache: the vision encoder (here a stand-in that uploads known values) runs
// once per image; cached values come back bit for bit; the host budget evicts the least
// recently used image; an image that cannot be decoded is remembered and listed, not recomputed.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import { ImageFeatureCache, UnusableImageError } from '../../../src/train/feature-cache.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

const TOKENS = 3;
const DIM = 4;
const valuesOf = (path: string) => Float32Array.from({ length: TOKENS * DIM }, (_, i) => path.length * 100 + i + 0.25);

describe('ImageFeatureCache', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await testEngine();
  });

  function cacheWithCounter(maxBytes?: number) {
    const computed: string[] = [];
    const cache = new ImageFeatureCache(engine, async (path) => {
      computed.push(path);
      return engine.upload(valuesOf(path), [TOKENS, DIM]);
    }, maxBytes);
    return { cache, computed };
  }

  it('computes each image once and returns its values as a fresh GPU tensor', async () => {
    const { cache, computed } = cacheWithCounter();
    const before = engine.poolStats().liveBuffers;
    for (const path of ['a.jpg', 'bb.jpg', 'a.jpg', 'a.jpg']) {
      const tensor = await cache.get(path);
      expect(tensor.shape).toEqual([TOKENS, DIM]);
      expect(await engine.readFloat(tensor)).toEqual(valuesOf(path));
      tensor.dispose();
    }
    expect(computed).toEqual(['a.jpg', 'bb.jpg']);
    expect(cache.stats).toMatchObject({ entries: 2, bytes: 2 * TOKENS * DIM * 4, hits: 2, misses: 2 });
    expect(engine.poolStats().liveBuffers).toBe(before); // the encoder's tensors were disposed
  });

  it('evicts the least recently used image past its byte budget and recomputes it on demand', async () => {
    const { cache, computed } = cacheWithCounter(2 * TOKENS * DIM * 4); // room for two images
    await cache.warm(['a', 'bb', 'ccc']); // 'a' is evicted when 'ccc' arrives
    expect(cache.has('a')).toBe(false);
    await cache.features('bb'); // 'bb' now most recent; 'ccc' least
    await cache.features('a'); // recomputed, evicts 'ccc'
    expect(cache.has('ccc')).toBe(false);
    expect(cache.has('bb')).toBe(true);
    expect(computed).toEqual(['a', 'bb', 'ccc', 'a']);
    expect(cache.stats.evictions).toBe(2);
  });

  it('keeps an image larger than the whole budget until the next one arrives', async () => {
    const { cache } = cacheWithCounter(1);
    await cache.features('a');
    expect(cache.has('a')).toBe(true);
    await cache.features('bb');
    expect(cache.has('a')).toBe(false);
  });

  it('remembers an image that cannot be decoded, and lists it; other failures are tried again', async () => {
    const computed: string[] = [];
    let failOnce = true;
    const cache = new ImageFeatureCache(engine, async (path) => {
      computed.push(path);
      if (path === 'broken.png') throw new UnusableImageError(path, 'has corrupt PNG data');
      if (path === 'flaky.png' && failOnce) {
        failOnce = false;
        throw new Error('device busy');
      }
      return engine.upload(valuesOf(path), [TOKENS, DIM]);
    });
    for (let attempt = 0; attempt < 2; attempt++) await expect(cache.get('broken.png')).rejects.toThrow('broken.png cannot be used (has corrupt PNG data)');
    await expect(cache.get('flaky.png')).rejects.toThrow('device busy');
    (await cache.get('flaky.png')).dispose();
    expect(computed).toEqual(['broken.png', 'flaky.png', 'flaky.png']); // the broken image was decoded once
    expect(cache.skippedImages).toEqual([{ path: 'broken.png', reason: 'has corrupt PNG data' }]);
  });

  it('refuses embeddings of the wrong shape, naming the image', async () => {
    const cache = new ImageFeatureCache(engine, async () => engine.upload(new Float32Array(4), [4]));
    await expect(cache.get('odd.png')).rejects.toThrow(/odd\.png must be f32 \[tokens, dim\]/);
  });
});
