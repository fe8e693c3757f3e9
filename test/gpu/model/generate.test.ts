// generate() on the moondream-tiny fixture: the greedy answer of upstream's query() (12 tokens,
// no EOS), streaming order, the context budget error, EOS handling and seeded sampling.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { generate } from '../../../src/model/generate.ts';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { textWeightsFrom } from '../../../src/model/text-weights.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { goldenFile, tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';

const golden = goldenFile();
const ids = golden.int32('prefill_input_ids');
const greedyTokens = Array.from(golden.int32('greedy_tokens'));

describe('generate', () => {
  let engine: Engine;
  let weightMap: Map<string, Tensor>;
  let decoder: TextDecoder;
  let cache: KVCache;
  let prefix: ReturnType<KVCache['snapshot']>;

  beforeAll(async () => {
    engine = await testEngine();
    weightMap = uploadTextWeights(engine, 'model.safetensors');
    decoder = new TextDecoder(engine, textWeightsFrom(weightMap, tinyConfig), tinyConfig, { maskMode: 'prefix' });
    cache = new KVCache(engine, 2, tinyConfig.text.max_context, 64);
    const image = engine.uploadWeight(golden.float32('image_embeddings'), [16, 64], 'f32');
    const embeds = decoder.embed(null, ids.subarray(0, 17), image);
    decoder.forward(null, embeds, { cache }).dispose();
    embeds.dispose();
    // An uploadWeight buffer is destroyed on dispose, so submit the work that reads it first.
    engine.flush();
    image.dispose();
    prefix = cache.snapshot();
  });

  afterAll(() => {
    prefix.dispose();
    cache.dispose();
    for (const tensor of weightMap.values()) tensor.dispose();
  });

  const greedy = { temperature: 0, topP: 1, eosId: 0, suppressedTokens: [3] };

  it('reproduces upstream greedy decoding and streams each token in order', async () => {
    cache.restore(prefix);
    const streamed: number[] = [];
    const result = await generate(decoder, cache, ids.subarray(17), { ...greedy, maxTokens: 12, onToken: (token, index) => streamed.push(index, token) });
    expect(result.tokens).toEqual(greedyTokens);
    expect(result.hitEos).toBe(false);
    expect(streamed).toEqual(greedyTokens.flatMap((token, index) => [index, token]));
  });

  it('accepts the prompt as embeddings (e.g. with spliced spatial references) and gives the same answer', async () => {
    cache.restore(prefix);
    const embeddings = decoder.embed(null, ids.subarray(17));
    const result = await generate(decoder, cache, embeddings, { ...greedy, maxTokens: 4 });
    embeddings.dispose();
    expect(result.tokens).toEqual(greedyTokens.slice(0, 4));
  });

  it('stops before emitting EOS', async () => {
    // Treat greedy token 5 (id 292) as the end token: the answer is the 5 tokens before it.
    cache.restore(prefix);
    const result = await generate(decoder, cache, ids.subarray(17), { ...greedy, eosId: greedyTokens[5], maxTokens: 12 });
    expect(result).toEqual({ tokens: greedyTokens.slice(0, 5), hitEos: true });
  });

  it('refuses a budget past the context with a clear error', async () => {
    cache.restore(prefix);
    await expect(generate(decoder, cache, ids.subarray(17), { ...greedy, maxTokens: 250 })).rejects.toThrow(/lower max tokens to 230/);
    expect(cache.length).toBe(17);
  });

  it('samples reproducibly from a seeded source (same seed, same tokens)', async () => {
    const run = async (seed: number) => {
      cache.restore(prefix);
      return (await generate(decoder, cache, ids.subarray(17), { temperature: 1, topP: 0.9, eosId: 0, suppressedTokens: [3], maxTokens: 6, random: mulberry32(seed) })).tokens;
    };
    const first = await run(7);
    expect(await run(7)).toEqual(first);
    expect(first).not.toContain(3);
  });
});
