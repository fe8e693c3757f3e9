// The training sequence against the fixture's fine-tuning example (test/fixtures/moondream-tiny
// README, "Fine-tuning example": ids and shifted labels from upstream's text_loss run), plus a
// hand-built 2024-style case.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/model/config.ts';
import { getRevision, revisionFromConfig } from '../../../src/model/revisions.ts';
import { IdTokenizer } from '../../../src/model/tokenizer.ts';
import { IGNORE_LABEL, trainingSequence } from '../../../src/train/training-sequence.ts';
import { fixtureJson, goldenFile } from '../../helpers/fixture-files.ts';

const tinyRevision = revisionFromConfig(parseConfig(fixtureJson('config.json')));

describe('trainingSequence', () => {
  it('reproduces the fixture example: BOS, 16 image positions, [1 15 2] q [3 3], answer, EOS', () => {
    const golden = goldenFile();
    const sequence = trainingSequence(tinyRevision, new IdTokenizer(512), 16, '40 41 42 43', '60 61 62 63 64');
    expect(Array.from(sequence.ids)).toEqual(Array.from(golden.int32('train_input_ids')));
    // Upstream marks unlabelled positions with −100 too.
    expect(Array.from(sequence.targets)).toEqual(Array.from(golden.int32('train_shifted_labels')));
    expect(sequence.answerTokens).toBe(6);
  });

  it('labels exactly positions T−L−1 … T−2 (hand-built)', () => {
    const { ids, targets } = trainingSequence(tinyRevision, new IdTokenizer(512), 2, '9', '7');
    // [0, −1, −1, 1, 15, 2, 9, 3, 3, 7, 0]: T = 11, L = 2 → positions 8, 9 carry 7, 0.
    expect(Array.from(ids)).toEqual([0, -1, -1, 1, 15, 2, 9, 3, 3, 7, 0]);
    expect(Array.from(targets)).toEqual([...new Array(8).fill(IGNORE_LABEL), 7, 0, IGNORE_LABEL]);
  });

  it('uses the 2024 text prompt and the leading-space answer (spec §11.3, §12)', () => {
    const revision = getRevision('2024-04-02');
    const encoded: string[] = [];
    const tokenizer = { encode: (text: string) => (encoded.push(text), [text.length]) };
    const { ids, targets } = trainingSequence(revision, tokenizer, 3, 'How many?', '{}');
    expect(encoded).toEqual(['\n\nQuestion: How many?\n\nAnswer:', ' {}']);
    expect(Array.from(ids)).toEqual([50256, -1, -1, -1, encoded[0].length, 3, 50256]);
    expect(Array.from(targets)).toEqual([-100, -100, -100, -100, 3, 50256, -100]);
  });

  it('refuses a sample longer than the context, saying what to shorten', () => {
    expect(() => trainingSequence(tinyRevision, new IdTokenizer(512), 250, '1 2 3', '4 5')).toThrow(/exceeds the model's context of 256; shorten the question/);
  });
});
