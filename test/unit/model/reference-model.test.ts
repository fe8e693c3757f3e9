// The CPU reference against the upstream PyTorch goldens. Tolerance 1e-4 absolute on hidden states
// and logits (fixture README "Expected agreement": float32 upstream vs this float64 reference, values
// up to ~7); integer results (tokens) exactly.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/model/config.ts';
import { revisionFromConfig, queryPromptIds, type Revision } from '../../../src/model/revisions.ts';
import { IdTokenizer } from '../../../src/model/tokenizer.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { encodeImageReference, type EncodedImageReference } from '../../../src/model/reference/vision.ts';
import { TextDecoderReference } from '../../../src/model/reference/text.ts';
import { greedyDecode, prefillImage, type GreedyResult } from '../../../src/model/reference/generate.ts';
import { fixtureImage, fixtureJson, goldenFile, weightsFile } from '../../helpers/fixture-files.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const TOLERANCE = 1e-4;


describe('CPU reference of the tiny model against the upstream goldens', () => {
  const golden = goldenFile();
  const revision: Revision = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'moondream-tiny' });
  const weights = ReferenceWeights.fromSafetensors(weightsFile(), revision, 'model.safetensors');
  const visionTrace = new Map<string, Float64Array>();
  const textTrace: Float64Array[] = [];
  let encoded: EncodedImageReference;
  let prefillHidden: Float64Array;
  let result: GreedyResult;

  beforeAll(() => {
    const { width, height, pixels } = fixtureImage();
    encoded = encodeImageReference(rgbImage(width, height, pixels), revision, weights, (crop, stage, block, x) => {
      visionTrace.set(`${crop}:${stage}:${block}`, x.slice());
    });
    const decoder = new TextDecoderReference(revision, weights);
    const imageHidden = prefillImage(decoder, revision, encoded.embeddings);
    const promptIds = queryPromptIds(revision, new IdTokenizer(), '40 41 42 43');
    // Run the prompt once with a trace to capture per-block hidden states of all 26 positions.
    const traced = new TextDecoderReference(revision, weights);
    const bos = traced.embed([0]);
    const all = new Float64Array(26 * 64);
    all.set(bos);
    all.set(encoded.embeddings, 64);
    all.set(traced.embed(promptIds), 17 * 64);
    prefillHidden = traced.forward(all, (block, hidden) => void textTrace.push(hidden.slice()));
    expect(imageHidden.length).toBe(17 * 64);
    result = greedyDecode(decoder, revision, promptIds, 12);
  });

  it('vision: embed, every block and the crop features of all 7 crops', () => {
    const embed = golden.float32('vision_embed');
    const tokens = 16 * 32;
    for (let crop = 0; crop < 7; crop++) {
      expect(maxAbsDifference(visionTrace.get(`${crop}:embed:-1`)!, embed.subarray(crop * tokens, (crop + 1) * tokens))).toBeLessThan(TOLERANCE);
      for (let block = 0; block < 4; block++) {
        const expected = golden.float32(`vision_block${block}_out`).subarray(crop * tokens, (crop + 1) * tokens);
        expect(maxAbsDifference(visionTrace.get(`${crop}:block:${block}`)!, expected)).toBeLessThan(TOLERANCE);
      }
    }
    expect(maxAbsDifference(encoded.cropFeatures, golden.float32('vision_crop_features'))).toBeLessThan(TOLERANCE);
  });

  it('vision: projection input and the 16 image embeddings', () => {
    expect(encoded.tiling).toEqual([2, 3]);
    expect(maxAbsDifference(encoded.projectionInput, golden.float32('vision_proj_input'))).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(encoded.embeddings, golden.float32('image_embeddings'))).toBeLessThan(TOLERANCE);
  });

  it('text: hidden states after blocks 0 and 1 over the 26 prefill positions (prefix mask, partial rotary)', () => {
    expect(maxAbsDifference(textTrace[0], golden.float32('text_hidden_block0'))).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(textTrace[1], golden.float32('text_hidden_block1'))).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(prefillHidden, golden.float32('text_hidden_block1'))).toBeLessThan(TOLERANCE);
  });

  it('text: last prefill logits, through the KV-cached two-stage prefill as upstream runs it', () => {
    expect(maxAbsDifference(result.promptLogits, golden.float32('prefill_logits_last'))).toBeLessThan(TOLERANCE);
    expect(maxAbsDifference(result.promptHidden, golden.float32('text_hidden_block1').subarray(25 * 64))).toBeLessThan(TOLERANCE);
  });

  it('greedy decoding reproduces the 12 tokens, the step logits and the token after the last', () => {
    expect(result.tokens).toEqual(Array.from(golden.int32('greedy_tokens')));
    expect(result.hitEos).toBe(golden.int32('greedy_hit_eos')[0] === 1);
    expect(result.nextToken).toBe(golden.int32('greedy_next_after_last')[0]);
    const stepLogits = golden.float32('greedy_step_logits');
    result.stepLogits.forEach((logits, step) => expect(maxAbsDifference(logits, stepLogits.subarray(step * 512, (step + 1) * 512))).toBeLessThan(TOLERANCE));
  });

  it('loads the bf16 weights and lands on the bf16-weight goldens', () => {
    const bf16 = ReferenceWeights.fromSafetensors(weightsFile('model.bf16.safetensors'), revision);
    const { width, height, pixels } = fixtureImage();
    const encodedBf16 = encodeImageReference(rgbImage(width, height, pixels), revision, bf16);
    expect(maxAbsDifference(encodedBf16.embeddings, golden.float32('bf16w.image_embeddings'))).toBeLessThan(TOLERANCE);
    const decoder = new TextDecoderReference(revision, bf16);
    prefillImage(decoder, revision, encodedBf16.embeddings);
    const run = greedyDecode(decoder, revision, [1, 15, 2, 40, 41, 42, 43, 3, 3], 12);
    expect(maxAbsDifference(run.promptLogits, golden.float32('bf16w.prefill_logits_last'))).toBeLessThan(TOLERANCE);
    expect(run.tokens).toEqual(Array.from(golden.int32('bf16w.greedy_tokens')));
  });
});
