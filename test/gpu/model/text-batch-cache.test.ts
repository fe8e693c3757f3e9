// A KV cache of several sequences: a padded batched prefill and batched decode steps, each
// sequence at its own length, give the logits of the same sequences run alone against
// one-sequence caches (the path the golden tests check), on the tiny fixture.
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { textWeightsFrom } from '../../../src/model/text-weights.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';

// f32 logits of O(1–10) through 2 blocks; the batched kernels sum in other orders: 1e-4 (the
// fixture README's float32 agreement for logits).
const TOLERANCE = 1e-4;

describe('a KV cache of several sequences', () => {
  it('prefills right-padded sequences together and decodes each at its own position like single runs', async () => {
    const engine = await testEngine();
    const weightMap = uploadTextWeights(engine, 'model.safetensors');
    const decoder = new TextDecoder(engine, textWeightsFrom(weightMap, tinyConfig), tinyConfig, { maskMode: 'prefix' });
    const image = engine.upload(randomFloats(16 * 64, 5), [16, 64]);
    // BOS, 16 image rows and prompts of 3, 8 and 1 tokens.
    const prompts = [[40, 41, 42], [50, 51, 52, 53, 54, 55, 56, 57], [60]];
    const sequences = prompts.map((prompt) => ({ ids: Int32Array.from([0, ...new Array(16).fill(-1), ...prompt]), image }));
    const steps = [[100, 200, 300], [101, 201, 301], [102, 202, 302]]; // fed tokens per step, per sequence
    const lastRowLogits = async (hidden: Tensor, row: number) => {
      const last = engine.empty([1, 64]);
      engine.copy(hidden, last, 64 * 4, row * 64 * 4);
      const logits = decoder.logits(null, last);
      const values = await engine.readFloat(logits);
      for (const tensor of [last, logits]) tensor.dispose();
      return values;
    };

    // Alone: one-sequence caches.
    const alone: Float32Array[][] = [];
    for (const [s, { ids }] of sequences.entries()) {
      const cache = new KVCache(engine, 2, 64, 64);
      const outputs: Float32Array[] = [];
      const hidden = engine.scope(() => decoder.forward(null, decoder.embed(null, ids, image), { cache }));
      outputs.push(await lastRowLogits(hidden, ids.length - 1));
      hidden.dispose();
      for (const step of steps) {
        const stepHidden = engine.scope(() => decoder.forward(null, decoder.embed(null, Int32Array.of(step[s])), { cache }));
        outputs.push(await lastRowLogits(stepHidden, 0));
        stepHidden.dispose();
      }
      alone.push(outputs);
      cache.dispose();
    }

    // Together: one batch cache of 3 sequences.
    const cache = new KVCache(engine, 2, 64, 64, 3);
    const length = Math.max(...sequences.map(({ ids }) => ids.length));
    const hidden = engine.scope(() => decoder.forward(null, decoder.embedBatch(null, sequences, length), { cache }));
    sequences.forEach(({ ids }, s) => (cache.lengths[s] = ids.length));
    for (const [s, { ids }] of sequences.entries()) expect(maxAbsDifference(await lastRowLogits(hidden, s * length + ids.length - 1), alone[s][0]), `prefill ${s}`).toBeLessThan(TOLERANCE);
    hidden.dispose();
    for (const [index, step] of steps.entries()) {
      const stepHidden = engine.scope(() => decoder.forward(null, decoder.embedTokenIds(engine.upload(Int32Array.from(step), [3], 'i32')), { cache }));
      for (let s = 0; s < 3; s++) expect(maxAbsDifference(await lastRowLogits(stepHidden, s), alone[s][index + 1]), `step ${index}, sequence ${s}`).toBeLessThan(TOLERANCE);
      stepHidden.dispose();
    }
    expect(cache.lengths).toEqual(sequences.map(({ ids }) => ids.length + steps.length));
    cache.dispose();
    image.dispose();
    for (const tensor of weightMap.values()) tensor.dispose();
  });
});
