// The 2024 mask (plain causal over BOS, image and text, spec §7) and a query without an image,
// against the float64 CPU reference decoder (src/model/reference/text.ts) on the fixture's
// weights. Tolerance 1e-4 absolute: f32 GPU math vs float64 on values up to ~7 (as the goldens).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { TextDecoderReference } from '../../../src/model/reference/text.ts';
import { revisionFromConfig, type Revision } from '../../../src/model/revisions.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { textWeightsFrom } from '../../../src/model/text-weights.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { goldenFile, tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const golden = goldenFile();
const ids = golden.int32('prefill_input_ids');
const prefixRevision = revisionFromConfig(tinyConfig, { id: 'tiny' });
const causalRevision: Revision = { ...prefixRevision, maskMode: 'causal' };
const referenceWeights = ReferenceWeights.fromSafetensors(
  new SafetensorsFile(new Uint8Array(readFileSync(new URL('../../fixtures/moondream-tiny/model.safetensors', import.meta.url)))),
  causalRevision,
);

function referenceLogits(revision: Revision, rows: Float64Array): Float64Array {
  const reference = new TextDecoderReference(revision, referenceWeights);
  return reference.logits(reference.forward(rows));
}

describe('TextDecoder masks vs the CPU reference', () => {
  let engine: Engine;
  let weightMap: Map<string, Tensor>;

  beforeAll(async () => {
    engine = await testEngine();
    weightMap = uploadTextWeights(engine, 'model.safetensors');
  });

  afterAll(async () => {
    await engine.sync();
    for (const tensor of weightMap.values()) tensor.dispose();
  });

  it('applies the causal mask of 2024 revisions to BOS + image + prompt', async () => {
    const decoder = new TextDecoder(engine, textWeightsFrom(weightMap, tinyConfig), tinyConfig, { maskMode: 'causal' });
    const image = engine.upload(golden.float32('image_embeddings'), [16, 64]);
    const embeds = decoder.embed(null, ids, image);
    const inputRows = Float64Array.from(await engine.readFloat(embeds));
    const hidden = decoder.forward(null, embeds);
    const logits = decoder.logits(null, hidden);
    const causal = referenceLogits(causalRevision, inputRows);
    expect(maxAbsDifference(await engine.readFloat(logits), causal)).toBeLessThan(1e-4);
    // The mask matters here: the prefix-mask logits differ clearly.
    expect(maxAbsDifference(causal, golden.float32('prefill_logits_all'))).toBeGreaterThan(1e-2);
    for (const tensor of [image, embeds, hidden, logits]) tensor.dispose();
  });

  it('runs a query without an image causally from BOS at position 0 through the KV cache', async () => {
    const decoder = new TextDecoder(engine, textWeightsFrom(weightMap, tinyConfig), tinyConfig, { maskMode: 'prefix' });
    const promptIds = Int32Array.of(0, ...ids.subarray(17));
    const cache = KVCache.forConfig(engine, tinyConfig);
    const embeds = decoder.embed(null, promptIds);
    const inputRows = Float64Array.from(await engine.readFloat(embeds));
    const hidden = decoder.forward(null, embeds, { cache, mask: decoder.mask(false) });
    const logits = decoder.lastLogits(hidden);
    const expected = referenceLogits(causalRevision, inputRows).subarray((promptIds.length - 1) * 512);
    expect(maxAbsDifference(await engine.readFloat(logits), expected)).toBeLessThan(1e-4);
    for (const tensor of [embeds, hidden, logits]) tensor.dispose();
    cache.dispose();
  });
});
