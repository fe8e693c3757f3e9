// The packed-f16 weight path: the fixture's bf16 weights (model.bf16.safetensors) widened and
// stored as packed f16 matrices (wte, Linear weights; LayerNorms and biases f32), against the
// goldens computed upstream with the same bf16-rounded weights in f32 (`bf16w.*`).
//
// Tolerance 2e-4 absolute on logits: a bf16 value (8 significant bits) is exactly representable
// in f16 (11 bits) unless it is below f16's normal range (|w| < 6.1e-5), where f16 subnormals
// still hold it to within 3e-8 absolute; summed over ≤ 256 products with activations of O(1)
// that is < 1e-5, so the budget is the f32 agreement of the f32 path (1e-4) with headroom for
// the different summation order of the f16 matmul kernel. Greedy tokens exactly (the README:
// the bf16-weight run gives the same 12 tokens; the smallest argmax margin is 0.024).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { generate } from '../../../src/model/generate.ts';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { textWeightsFrom } from '../../../src/model/text-weights.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { goldenFile, tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const golden = goldenFile();
const ids = golden.int32('prefill_input_ids');

describe('TextDecoder with packed-f16 weights from the bf16 fixture', () => {
  let engine: Engine;
  let weightMap: Map<string, Tensor>;
  let decoder: TextDecoder;

  beforeAll(async () => {
    engine = await testEngine();
    weightMap = uploadTextWeights(engine, 'model.bf16.safetensors', 'f16');
    decoder = new TextDecoder(engine, textWeightsFrom(weightMap, tinyConfig), tinyConfig, { maskMode: 'prefix' });
  });

  afterAll(async () => {
    await engine.sync();
    for (const tensor of weightMap.values()) tensor.dispose();
  });

  it('stores the matrices as f16', () => {
    expect(weightMap.get('model.text.blocks.0.attn.qkv.weight')!.dtype).toBe('f16');
    expect(weightMap.get('model.text.wte')!.dtype).toBe('f16');
    expect(weightMap.get('model.text.blocks.0.ln.weight')!.dtype).toBe('f32');
  });

  it('gives bf16w.prefill_logits_last and bf16w.greedy_tokens', async () => {
    const cache = new KVCache(engine, 2, tinyConfig.text.max_context, 64);
    const image = engine.upload(golden.float32('bf16w.image_embeddings'), [16, 64]);
    const embeds = decoder.embed(null, ids.subarray(0, 17), image);
    decoder.forward(null, embeds, { cache }).dispose();
    embeds.dispose();
    image.dispose();
    const promptEmbeds = decoder.embed(null, ids.subarray(17));
    const hidden = decoder.forward(null, promptEmbeds, { cache });
    const logits = decoder.lastLogits(hidden);
    const values = await engine.readFloat(logits);
    expect(maxAbsDifference(values, golden.float32('bf16w.prefill_logits_last'))).toBeLessThan(2e-4);
    for (const tensor of [promptEmbeds, hidden, logits]) tensor.dispose();

    cache.truncate(17);
    const result = await generate(decoder, cache, ids.subarray(17), { temperature: 0, topP: 1, eosId: 0, suppressedTokens: [3], maxTokens: 12 });
    expect(result.tokens).toEqual(Array.from(golden.int32('bf16w.greedy_tokens')));
    cache.dispose();
  });
});
