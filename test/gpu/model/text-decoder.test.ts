// The GPU text decoder against the upstream goldens of the moondream-tiny fixture (f32 weights,
// SwiftShader). Tolerance 1e-4 absolute on hidden states and logits: the fixture README's
// expected float32 agreement (values reach ~7; f32 rounding in different summation orders is
// ~1e-6 relative per op, a few e-5 after two blocks and the head). Greedy tokens exactly (the
// smallest top-1/top-2 margin is 0.024).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { textWeightsFrom } from '../../../src/model/text-weights.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { goldenFile, tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const TOLERANCE = 1e-4;
const golden = goldenFile();

describe('TextDecoder on the moondream-tiny goldens (f32)', () => {
  let engine: Engine;
  let weightMap: Map<string, Tensor>;
  let decoder: TextDecoder;
  let image: Tensor;
  const ids = golden.int32('prefill_input_ids');

  beforeAll(async () => {
    engine = await testEngine();
    weightMap = uploadTextWeights(engine, 'model.safetensors');
    decoder = new TextDecoder(engine, textWeightsFrom(weightMap, tinyConfig), tinyConfig, { maskMode: 'prefix' });
    image = engine.uploadWeight(golden.float32('image_embeddings'), [16, 64], 'f32', 'image_embeddings');
  });

  afterAll(() => {
    for (const tensor of weightMap.values()) tensor.dispose();
    image.dispose();
  });

  it('builds the input embeddings (wte rows and image rows)', async () => {
    const embeds = decoder.embed(null, ids, image);
    expect(maxAbsDifference(await engine.readFloat(embeds), golden.float32('prefill_input_embeds'))).toBe(0);
    embeds.dispose();
  });

  it('rejects ids outside the vocabulary, a missing or mis-sized image, and a split image run', () => {
    expect(() => decoder.embed(null, Int32Array.of(0, 512))).toThrow(/outside the vocabulary of 512/);
    expect(() => decoder.embed(null, Int32Array.of(0, -1, -1))).toThrow(/2 image positions need image embeddings \[2, 64\]/);
    expect(() => decoder.embed(null, Int32Array.of(0, ...new Array(8).fill(-1), 5, ...new Array(8).fill(-1)), image)).toThrow(/contiguous/);
  });

  it('matches the hidden states after each block and the logits at every position (full-sequence forward)', async () => {
    const embeds = decoder.embed(null, ids, image);
    const blocks: Float32Array[] = [];
    const pending: Promise<Float32Array>[] = [];
    const hidden = decoder.forward(null, embeds, { onBlock: (_, h) => void pending.push(engine.readFloat(h)) });
    blocks.push(...(await Promise.all(pending)));
    expect(maxAbsDifference(blocks[0], golden.float32('text_hidden_block0'))).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(blocks[1], golden.float32('text_hidden_block1'))).toBeLessThan(TOLERANCE);
    const logits = decoder.logits(null, hidden);
    expect(maxAbsDifference(await engine.readFloat(logits), golden.float32('prefill_logits_all'))).toBeLessThan(TOLERANCE);
    for (const tensor of [embeds, hidden, logits]) tensor.dispose();
  });

  it('prefills image then prompt through the KV cache and decodes greedily like upstream', async () => {
    const before = engine.poolStats().liveBuffers;
    const cache = new KVCache(engine, 2, tinyConfig.text.max_context, 64);
    // Image prefix (BOS + 16 image rows, positions 0..16), then the prompt (17..25), as upstream.
    const prefixEmbeds = decoder.embed(null, ids.subarray(0, 17), image);
    decoder.forward(null, prefixEmbeds, { cache }).dispose();
    prefixEmbeds.dispose();
    expect(cache.length).toBe(17);
    const promptEmbeds = decoder.embed(null, ids.subarray(17));
    const promptHidden = decoder.forward(null, promptEmbeds, { cache });
    const lastLogits = decoder.lastLogits(promptHidden);
    promptEmbeds.dispose();
    promptHidden.dispose();
    const prefillLogits = await engine.readFloat(lastLogits);
    lastLogits.dispose();
    expect(maxAbsDifference(prefillLogits, golden.float32('prefill_logits_last'))).toBeLessThan(TOLERANCE);

    const expectedTokens = Array.from(golden.int32('greedy_tokens'));
    const stepLogits = golden.float32('greedy_step_logits');
    const tokens = [argmax(prefillLogits)];
    for (let step = 0; step < expectedTokens.length; step++) {
      const embed = decoder.embed(null, Int32Array.of(tokens[step]));
      const hidden = decoder.forward(null, embed, { cache });
      const logitsTensor = decoder.lastLogits(hidden);
      const logits = await engine.readFloat(logitsTensor);
      for (const tensor of [embed, hidden, logitsTensor]) tensor.dispose();
      expect(maxAbsDifference(logits, stepLogits.subarray(step * 512, (step + 1) * 512))).toBeLessThan(TOLERANCE);
      logits[3] = -Infinity; // spec §8.5: the answer id is suppressed after the first token
      tokens.push(argmax(logits));
    }
    expect(tokens.slice(0, expectedTokens.length)).toEqual(expectedTokens);
    expect(tokens.at(-1)).toBe(golden.int32('greedy_next_after_last')[0]);
    expect(cache.length).toBe(26 + expectedTokens.length);
    cache.dispose();
    expect(engine.poolStats().liveBuffers).toBe(before);
  });
});

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
