import { describe, expect, it } from 'vitest';
import { loadMoondream, Moondream } from '../../../src/model/moondream.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import type { WeightsProgress } from '../../../src/model/weights.ts';
import { fixtureBytes, fixtureImage, goldenFile } from '../../helpers/fixture-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

function fixtureFiles(weightsFile = 'model.safetensors') {
  return memoryModelFiles(
    'moondream-tiny',
    new Map([
      ['config.json', fixtureBytes('config.json')],
      ['model.safetensors', fixtureBytes(weightsFile)],
    ]),
  );
}

function image() {
  const { width, height, pixels } = fixtureImage();
  return rgbImage(width, height, pixels);
}


describe('Moondream', () => {
  it('answers the fixture question with the golden greedy tokens and prefill logits', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    const progress: WeightsProgress[] = [];
    const model = await loadMoondream(engine, fixtureFiles(), { precision: 'f32', onProgress: (p) => progress.push(p) });
    expect(model.revision.config.text.dim).toBe(64);
    expect(progress.at(-1)!.tensorsDone).toBe(96);

    const picture = image();
    const result = await model.query(picture, '40 41 42 43', { temperature: 0, maxTokens: 12 });
    expect(result.tokens).toEqual(Array.from(golden.int32('greedy_tokens')));
    expect(result.answer).toBe(Array.from(golden.int32('greedy_tokens')).join(' '));
    expect(result.hitEos).toBe(false);
    // Prompt = query prefix, question, suffix and the doubled answer id (fixture README).
    expect(result.timings.promptTokens).toBe(9);
    // README: a float32 implementation matches logits (values up to ~7) to about 1e-4.
    expect(maxAbsDifference(await model.promptLogits(picture, '40 41 42 43'), golden.float32('prefill_logits_last'))).toBeLessThan(2e-4);

    // The encoded image is cached: a second question reuses it and gets the same answer.
    const encoded = await model.encodeImage(picture);
    expect(await model.encodeImage(picture)).toBe(encoded);
    const again = await model.query(encoded, '40 41 42 43', { temperature: 0, maxTokens: 3 });
    expect(again.tokens).toEqual(Array.from(golden.int32('greedy_tokens')).slice(0, 3));
    model.dispose();
  });

  it('with the bf16 weights stored as packed f16 reproduces bf16w.greedy_tokens', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    const model = await loadMoondream(engine, fixtureFiles('model.bf16.safetensors'), { precision: 'f16' });
    const result = await model.query(image(), '40 41 42 43', { temperature: 0, maxTokens: 12 });
    // bf16 values are f16-rounded again on upload; the golden's smallest argmax margin is 0.024,
    // far above the f16 weight rounding, so every greedy token must still match.
    expect(result.tokens).toEqual(Array.from(golden.int32('bf16w.greedy_tokens')));
    model.dispose();
  });

  it('stops before emitting EOS, and rejects questions the tokenizer cannot encode', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    const loaded = await loadMoondream(engine, fixtureFiles(), { precision: 'f32' });
    // Same weights, but EOS is the third golden token (239): decoding must stop before it.
    const greedy = Array.from(golden.int32('greedy_tokens'));
    const model = new Moondream(engine, { ...loaded.revision, eosId: greedy[2] }, loaded.weights, loaded.tokenizer);
    const result = await model.query(image(), '40 41 42 43', { temperature: 0, maxTokens: 12 });
    expect(result.tokens).toEqual(greedy.slice(0, 2));
    expect(result.hitEos).toBe(true);
    await expect(model.query(image(), 'how many coins?', { temperature: 0, maxTokens: 2 })).rejects.toThrow(/not a token id/);
    model.dispose();
    loaded.dispose();
  });
});
