// CPU reference of the fine-tuning loss and the region head against the upstream goldens.
// Tolerances: 1e-4 on logits and region outputs, 1e-5 on losses (fixture README "Expected agreement").
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/model/config.ts';
import { revisionFromConfig } from '../../../src/model/revisions.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { TextDecoderReference } from '../../../src/model/reference/text.ts';
import { crossEntropy, shiftedAnswerLabels } from '../../../src/model/reference/loss.ts';
import { decodeCoordinate, decodeSize, encodeCoordinate, encodeSize } from '../../../src/model/reference/region.ts';
import { prefillImage } from '../../../src/model/reference/generate.ts';
import { regionDecode } from '../../../src/model/reference/region-decode.ts';
import { fixtureJson, goldenFile, weightsFile } from '../../helpers/fixture-files.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';


describe('CPU reference: training loss and region head', () => {
  const golden = goldenFile();
  const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')));
  const weights = ReferenceWeights.fromSafetensors(weightsFile(), revision);

  it('reproduces train_logits, the per-token losses and train_loss of the 32-position example', () => {
    const ids = Array.from(golden.int32('train_input_ids'));
    const imageMask = golden.uint8('train_image_mask');
    const labels = shiftedAnswerLabels(ids, 6);
    expect(labels).toEqual(Array.from(golden.int32('train_shifted_labels')));
    const decoder = new TextDecoderReference(revision, weights);
    const embeddings = golden.float32('image_embeddings');
    const input = new Float64Array(32 * 64);
    let image = 0;
    ids.forEach((id, position) => {
      if (imageMask[position]) input.set(embeddings.subarray(image * 64, ++image * 64), position * 64);
      else input.set(decoder.embed([id]), position * 64);
    });
    expect(image).toBe(16);
    const logits = decoder.logits(decoder.forward(input));
    expect(maxAbsDifference(logits, golden.float32('train_logits'))).toBeLessThan(1e-4);
    const loss = crossEntropy(logits, 512, labels);
    expect(maxAbsDifference(loss.perToken, golden.float32('train_per_token_loss'))).toBeLessThan(1e-5);
    expect(Math.abs(loss.mean - golden.float32('train_loss')[0])).toBeLessThan(1e-5);
  });

  it('reproduces the region encoders and decoders', () => {
    expect(maxAbsDifference(encodeCoordinate(golden.float32('region_coord_in'), weights), golden.float32('region_encode_coordinate'))).toBeLessThan(1e-4);
    expect(maxAbsDifference(encodeSize(golden.float32('region_size_in'), weights), golden.float32('region_encode_size'))).toBeLessThan(1e-4);
    const hidden = Float64Array.from(golden.float32('text_hidden_block1').subarray(25 * 64, 26 * 64));
    expect(maxAbsDifference(decodeCoordinate(hidden, 1, 64, weights), golden.float32('region_decode_coordinate'))).toBeLessThan(1e-4);
    expect(maxAbsDifference(decodeSize(hidden, 1, 64, weights), golden.float32('region_decode_size'))).toBeLessThan(1e-4);
  });

  it('crossEntropy matches a hand-computed case', () => {
    // logits [0, ln 3] with label 1: p = 3/4 → loss −ln(3/4); the unlabelled row is skipped.
    const loss = crossEntropy(new Float64Array([0, Math.log(3), 5, 5]), 2, [1, -100]);
    expect(loss.perToken).toHaveLength(1);
    expect(loss.mean).toBeCloseTo(-Math.log(0.75), 12);
  });
});

describe('CPU reference: detect and point decoding (spec §8.6)', () => {
  const golden = goldenFile();
  const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')));
  const weights = ReferenceWeights.fromSafetensors(weightsFile(), revision);
  const run = (mode: 'detect' | 'point', promptIds: number[]) => {
    const decoder = new TextDecoderReference(revision, weights);
    prefillImage(decoder, revision, Float64Array.from(golden.float32('image_embeddings')));
    return regionDecode(mode, decoder, revision, weights, promptIds, 2);
  };

  it('detect "70 71": first token, bins, boxes and step positions', () => {
    const promptIds = Array.from(golden.int32('detect_prompt_ids'));
    expect(promptIds).toEqual([1, 16, 17, 2, 70, 71, 3]);
    const result = run('detect', promptIds);
    expect(result.firstToken).toBe(golden.int32('detect_first_token')[0]);
    expect(result.objects.map((o) => o.bins)).toEqual([[7, 7, 21, 12], [7, 23, 17, 12]]);
    expect(result.objects.flatMap((o) => o.bins)).toEqual(Array.from(golden.int32('detect_bins')));
    expect(maxAbsDifference(result.objects.flatMap((o) => o.values), golden.float32('detect_objects'))).toBeLessThan(1e-6);
    expect(result.stepPositions).toEqual(Array.from(golden.int32('detect_step_positions')));
  });

  it('point "72": first token, bins, points and step positions', () => {
    const result = run('point', Array.from(golden.int32('point_prompt_ids')));
    expect(result.firstToken).toBe(golden.int32('point_first_token')[0]);
    expect(result.objects.flatMap((o) => o.bins)).toEqual(Array.from(golden.int32('point_bins')));
    expect(result.objects.flatMap((o) => o.values)).toEqual([0.65625, 0.4375, 0.9375, 0.5625]);
    expect(result.stepPositions).toEqual(Array.from(golden.int32('point_step_positions')));
  });
});

describe('CPU reference: KV cache consistency under the 2024 causal mask', () => {
  it('feeding a causal sequence at once or one position at a time gives the same hidden states (within 1e-12)', () => {
    const golden = goldenFile();
    const revision = { ...revisionFromConfig(parseConfig(fixtureJson('config.json'))), maskMode: 'causal' as const };
    const weights = ReferenceWeights.fromSafetensors(weightsFile(), revision);
    const ids = [0, 1, 15, 2, 40, 41, 42, 43, 3, 3];
    const whole = new TextDecoderReference(revision, weights);
    const all = whole.forward(whole.embed(ids));
    const stepwise = new TextDecoderReference(revision, weights);
    const rows = ids.map((id) => stepwise.forward(stepwise.embed([id])));
    const joined = new Float64Array(all.length);
    rows.forEach((row, index) => joined.set(row, index * 64));
    expect(maxAbsDifference(joined, all)).toBeLessThan(1e-12);
    // The prefix mask is not causal: BOS attends to the image rows fed with it.
    const prefixRevision = revisionFromConfig(parseConfig(fixtureJson('config.json')));
    const prefix = new TextDecoderReference(prefixRevision, weights);
    const input = new Float64Array(17 * 64);
    input.set(prefix.embed([0]));
    input.set(golden.float32('image_embeddings'), 64);
    const prefixHidden = prefix.forward(input);
    const causal = new TextDecoderReference(revision, weights);
    const causalHidden = causal.forward(input);
    expect(maxAbsDifference(prefixHidden.subarray(0, 64), causalHidden.subarray(0, 64))).toBeGreaterThan(1e-3); // BOS sees the image only under the prefix mask
  });
});
