// generate() on the moondream-tiny fixture: the greedy answer of upstream's query() (12 tokens,
// no EOS), streaming order, the context budget error, EOS handling and seeded sampling; answers
// constrained to the counting format (a made-up vocabulary for the fixture's ids) against the CPU
// reference decoding under the same mask, and checked as JSON by an independent oracle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { generate } from '../../../src/model/generate.ts';
import { KVCache } from '../../../src/model/kv-cache.ts';
import { prefillImage } from '../../../src/model/reference/generate.ts';
import { TextDecoderReference } from '../../../src/model/reference/text.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { revisionFromConfig } from '../../../src/model/revisions.ts';
import { argmax, sampleToken } from '../../../src/model/sampling.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { textWeightsFrom } from '../../../src/model/text-weights.ts';
import { TokenConstraint, VocabularyTrie } from '../../../src/model/token-constraint.ts';
import { countAnswerAutomaton } from '../../../src/train/count-constraint.ts';
import { isCountAnswer } from '../../helpers/count-answers.ts';
import { weightsFile } from '../../helpers/fixture-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { goldenFile, tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';

const golden = goldenFile();
const ids = golden.int32('prefill_input_ids');
const greedyTokens = Array.from(golden.int32('greedy_tokens'));
const COINS = ['penny', 'nickel', 'dime', 'quarter'];

/**
 * Texts for the fixture's 512 ids (it has no tokenizer): ids below 32 are control tokens (empty
 * text, as special tokens decode); then the characters of counting answers, pieces that span
 * structure boundaries, class names whole and in parts, and filler words for the rest.
 */
function tinyVocabulary(): string[] {
  const pieces = [...'{}\n ":,0123456789', '{}', '{\n', '\n  "', '  "', '": ', '":', ',\n', '\n}', ' 1', ' 2', '12', '1,', '0,', '3\n'];
  pieces.push(...COINS, 'pen', 'ny', 'di', 'me', 'ni', 'ckel', 'quar', 'ter', '"penny": ', 'dime"', 'dimes', 'the', 'coin', 'a', 'e');
  const texts = Array.from({ length: tinyConfig.text.vocab_size }, (_, id) => (id < 32 ? '' : `w${id}`));
  pieces.forEach((piece, index) => (texts[32 + 3 * index] = piece)); // spread out among the filler
  return texts;
}

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

  describe('constrained to counting answers', () => {
    const texts = tinyVocabulary();
    const constraint = new TokenConstraint(countAnswerAutomaton(COINS, { leadingSpace: false }), VocabularyTrie.fromTexts(texts), { eosId: 0, excludedIds: [3] });
    const answerText = (tokens: readonly number[]) => tokens.map((token) => texts[token]).join('');

    /** The CPU reference (float64) decoding under the same mask: argmax, or a draw from `random` at temperature 1 (spec §8.5 loop). */
    function referenceAnswer(random?: () => number): number[] {
      const revision = revisionFromConfig(tinyConfig);
      const reference = new TextDecoderReference(revision, ReferenceWeights.fromSafetensors(weightsFile(), revision));
      prefillImage(reference, revision, Float64Array.from(golden.float32('image_embeddings')));
      const dim = tinyConfig.text.dim;
      let hidden = reference.forward(reference.embed(Array.from(ids.subarray(17))));
      const tokens: number[] = [];
      let state = constraint.start;
      for (;;) {
        const logits = reference.logits(hidden.slice(hidden.length - dim));
        const masked = new Float64Array(logits.length).fill(-Infinity);
        for (const id of constraint.allowedTokens(state)) masked[id] = logits[id];
        const token = random ? sampleToken(masked, { temperature: 1, topP: 1 }, random) : argmax(masked);
        if (token === 0) return tokens;
        tokens.push(token);
        state = constraint.advance(state, token);
        hidden = reference.forward(reference.embed([token]));
      }
    }

    it('decodes greedily what the CPU reference decodes under the same mask, an answer of the counting format', async () => {
      cache.restore(prefix);
      const result = await generate(decoder, cache, ids.subarray(17), { ...greedy, maxTokens: 200, constraint });
      expect(result.hitEos).toBe(true);
      expect(isCountAnswer(answerText(result.tokens), COINS), answerText(result.tokens)).toBe(true);
      expect(result.tokens).toEqual(referenceAnswer());
    });

    it('samples answers of the counting format at temperature 1 (the same draws as the reference for one seed), and stops at max tokens with a prefix of one', async () => {
      const answers: string[] = [];
      for (const seed of [1, 2, 3, 4]) {
        cache.restore(prefix);
        const result = await generate(decoder, cache, ids.subarray(17), { temperature: 1, topP: 1, eosId: 0, suppressedTokens: [3], maxTokens: 200, random: mulberry32(seed), constraint });
        expect(result.hitEos).toBe(true);
        answers.push(answerText(result.tokens));
        expect(isCountAnswer(answerText(result.tokens), COINS), answerText(result.tokens)).toBe(true);
        // Float32 and float64 logits give the same draws unless one lands within ~1e-6 of a boundary.
        if (seed === 2) expect(result.tokens).toEqual(referenceAnswer(mulberry32(seed)));
      }
      // Entries with counts, not only "{}": the constraint is exercised past its first step.
      expect(answers.filter((answer) => answer.includes(':')).length).toBeGreaterThanOrEqual(2);
      cache.restore(prefix);
      const cut = await generate(decoder, cache, ids.subarray(17), { temperature: 1, topP: 1, eosId: 0, suppressedTokens: [3], maxTokens: 3, random: mulberry32(1), constraint });
      expect(cut).toMatchObject({ hitEos: false, tokens: { length: 3 } });
      let state = constraint.start;
      for (const token of cut.tokens) state = constraint.advance(state, token); // throws if the prefix left the format
    });

    it('refuses a constraint built for another EOS', async () => {
      cache.restore(prefix);
      const other = new TokenConstraint(countAnswerAutomaton(COINS, { leadingSpace: false }), VocabularyTrie.fromTexts(texts), { eosId: 1 });
      await expect(generate(decoder, cache, ids.subarray(17), { ...greedy, maxTokens: 4, constraint: other })).rejects.toThrow(/ends answers with token 1, but this model's EOS is 0/);
    });
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
