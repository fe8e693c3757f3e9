import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/model/config.ts';
import { Moondream } from '../../../src/model/moondream.ts';
import { greedyDecode, prefillImage } from '../../../src/model/reference/generate.ts';
import { TextDecoderReference } from '../../../src/model/reference/text.ts';
import { encodeImageReference } from '../../../src/model/reference/vision.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { queryPromptIds, revisionFromConfig, type Revision } from '../../../src/model/revisions.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { bytesToStream } from '../../../src/model/safetensors-stream.ts';
import { IdTokenizer } from '../../../src/model/tokenizer.ts';
import { loadWeights } from '../../../src/model/weights.ts';
import { fixtureImage, fixtureJson, weightsFile } from '../../helpers/fixture-files.ts';
import { buildSafetensors } from '../../helpers/safetensors-builder.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

// The 2024-04-02 shape of the model (spec §12): one squashed crop, projection of the global
// features alone, plain causal mask, no doubled answer id. No upstream golden exists for it on the
// tiny config, so the float64 CPU reference (src/model/reference) is the oracle.
const base = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'tiny' });
const revision: Revision = { ...base, cropMode: 'single', maskMode: 'causal', projectionInputDim: 32, doubleAnswerToken: false, suppressedTokens: [] };

/** The fixture weights with proj_mlp.fc1 cut to its first 32 input columns ([128, 32]). */
function singleCropWeights(): Uint8Array {
  const file = weightsFile();
  const fc1 = file.float32('model.vision.proj_mlp.fc1.weight');
  const narrowed = new Float32Array(128 * 32);
  for (let r = 0; r < 128; r++) narrowed.set(fc1.subarray(r * 64, r * 64 + 32), r * 32);
  return buildSafetensors(
    file.header.tensors.map((info) =>
      info.name === 'model.vision.proj_mlp.fc1.weight'
        ? { name: info.name, dtype: 'F32', shape: [128, 32], data: new Uint8Array(narrowed.buffer) }
        : { name: info.name, dtype: info.dtype, shape: [...info.shape], data: file.tensorBytes(info.name) },
    ),
  );
}

describe('Moondream, single-crop causal revision', () => {
  it('answers like the CPU reference (logits after the prompt, greedy tokens)', async () => {
    const engine = await testEngine();
    const bytes = singleCropWeights();
    const tokenizer = new IdTokenizer(512);
    const weights = await loadWeights(engine, bytesToStream(bytes), revision, { precision: 'f32' });
    const model = new Moondream(engine, revision, weights, tokenizer);
    const { width, height, pixels } = fixtureImage();
    const image = rgbImage(width, height, pixels);
    const result = await model.query(image, '40 41 42 43', { temperature: 0, maxTokens: 6 });
    const promptLogits = await model.promptLogits(image, '40 41 42 43');
    model.dispose();

    const reference = ReferenceWeights.fromSafetensors(new SafetensorsFile(bytes), revision);
    const decoder = new TextDecoderReference(revision, reference);
    prefillImage(decoder, revision, encodeImageReference(image, revision, reference).embeddings);
    const expected = greedyDecode(decoder, revision, queryPromptIds(revision, tokenizer, '40 41 42 43'), 6);
    let worst = 0;
    for (let i = 0; i < expected.promptLogits.length; i++) worst = Math.max(worst, Math.abs(promptLogits[i] - expected.promptLogits[i]));
    // f32 GPU vs float64 CPU over 4 ViT blocks, the projection and 2 text blocks: ~1e-4 on logits of size ~7.
    expect(worst).toBeLessThan(2e-4);
    expect(result.tokens).toEqual(expected.tokens);
    expect(result.timings.promptTokens).toBe(8); // prefix 3 + question 4 + suffix 1, no doubled answer id
  });
});
