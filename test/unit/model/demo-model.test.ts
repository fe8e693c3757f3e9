// The shipped demo model's tokenizer and config (public/demo-model/, written by
// `npm run demo:pretrain`) and the BPE trainer behind it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/dataset/load.ts';
import { parseConfig } from '../../../src/model/config.ts';
import { demoConfig, demoTokenizerJson, demoVocabularySize, learnMerges } from '../../../src/model/demo-model.ts';
import { writeSafetensors } from '../../../src/model/safetensors-writer.ts';
import { queryPromptIds, revisionFromConfig } from '../../../src/model/revisions.ts';
import { parseHeader, readHeaderLength } from '../../../src/model/safetensors.ts';
import { HubTokenizer } from '../../../src/model/tokenizer.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const demoFile = (file: string) => readFileSync(join(root, 'public', 'demo-model', file));

describe('learnMerges (BPE trainer)', () => {
  it('merges the most frequent pair first, ties by text, and never across pre-token pieces', () => {
    // Pieces: "aa" ×3 (from "aa aa aa" → "aa", " aa", " aa"), so pairs: (a,a) ×3, (Ġ,a) ×2.
    const merges = learnMerges(['aa aa aa'], 10);
    expect(merges[0]).toEqual(['a', 'a']);
    // After it: "aa" ×1 and "Ġ aa" ×2 → (Ġ, aa) ×2; then nothing occurs twice.
    expect(merges).toEqual([['a', 'a'], ['Ġ', 'aa']]);
  });

  it('is deterministic and stops at maxMerges', () => {
    const texts = ['How many coins?', '{"dime": 2}', 'How many dimes?'];
    expect(learnMerges(texts, 3)).toEqual(learnMerges([...texts], 3));
    expect(learnMerges(texts, 3)).toHaveLength(3);
  });

  it('makes a tokenizer.json that applies the learned merges', () => {
    const tokenizer = new HubTokenizer(demoTokenizerJson(learnMerges(['hello hello hello'], 20)));
    // 32 specials + 256 bytes; "hello" and " hello" each become one merged token.
    expect(tokenizer.encode('hello hello')).toHaveLength(2);
    expect(tokenizer.tokenId('<|endoftext|>')).toBe(0);
    expect(tokenizer.decode(tokenizer.encode('hello hello'))).toBe('hello hello');
  });
});

describe('public/demo-model', () => {
  const tokenizer = new HubTokenizer(JSON.parse(demoFile('tokenizer.json').toString('utf8')));
  const config = parseConfig(JSON.parse(demoFile('config.json').toString('utf8')));

  it('has EOS/BOS 0 = <|endoftext|> and a vocabulary within the model', () => {
    expect(tokenizer.tokenId('<|endoftext|>')).toBe(0);
    expect(config.tokenizer.bos_id).toBe(0);
    expect(config.tokenizer.eos_id).toBe(0);
    const vocabulary = Object.keys((JSON.parse(demoFile('tokenizer.json').toString('utf8')).model as { vocab: object }).vocab).length;
    expect(vocabulary).toBeLessThanOrEqual(config.text.vocab_size);
    expect(config.text.vocab_size % 64).toBe(0);
  });

  it('round-trips every demo question and answer exactly, in few tokens', async () => {
    const data = new Uint8Array(readFileSync(join(root, 'public', 'demo', 'coins.coco.zip')));
    const revision = revisionFromConfig(config);
    let longestQuestion = 0;
    let longestAnswer = 0;
    for (const noun of [undefined, 'coin']) {
      const dataset = await loadDataset({ kind: 'zip', name: 'coins.coco.zip', data }, noun ? { question: { noun } } : {});
      for (const image of dataset.images) {
        const question = tokenizer.encode(image.question);
        const answer = tokenizer.encode(image.answer);
        expect(tokenizer.decode(question)).toBe(image.question);
        expect(tokenizer.decode(answer)).toBe(image.answer);
        longestQuestion = Math.max(longestQuestion, question.length);
        longestAnswer = Math.max(longestAnswer, answer.length);
      }
      // The whole training sequence fits the context: BOS + image + prompt + answer + EOS.
      const prompt = queryPromptIds(revision, tokenizer, dataset.images[0].question);
      expect(1 + 16 + prompt.length + longestAnswer + 1).toBeLessThanOrEqual(config.text.max_context);
    }
    // Measured when the model was made: questions ≤ 39 tokens (178 bytes), answers ≤ 26
    // (a 4-class JSON of ~60 bytes); byte tokens alone would be 4–6× longer.
    expect(longestQuestion).toBeLessThanOrEqual(40);
    expect(longestAnswer).toBeLessThanOrEqual(26);
  }, 60_000); // tokenizes 1200 questions and answers: a few seconds, more on a loaded machine

  it('keeps the files small and the weights f32 in the HF naming', () => {
    const weights = new Uint8Array(demoFile('model.safetensors'));
    expect(weights.byteLength).toBeLessThan(2 * 1024 * 1024);
    const header = parseHeader(weights.subarray(8, 8 + readHeaderLength(weights.subarray(0, 8), weights.byteLength)), weights.byteLength);
    const tensors = header.tensors;
    expect(tensors.every((tensor) => tensor.dtype === 'F32')).toBe(true);
    expect(header.byName.has('model.text.wte')).toBe(true);
    expect(header.byName.get('model.text.wte')!.shape).toEqual([config.text.vocab_size, config.text.dim]);
  });
});

describe('demoConfig', () => {
  it('is the shipped config by default, and widens only the vision tower with a vision width', () => {
    const shipped = parseConfig(JSON.parse(demoFile('config.json').toString('utf8')));
    const vocabulary = Object.keys((JSON.parse(demoFile('tokenizer.json').toString('utf8')).model as { vocab: object }).vocab).length;
    const config = demoConfig(vocabulary);
    expect(config.vision).toEqual(shipped.vision);
    expect(config.text).toEqual(shipped.text);
    const wide = demoConfig(vocabulary, 96);
    // Heads of 16 and an MLP twice as wide, as the shipped 64 (4 heads, MLP 128).
    expect(wide.vision).toEqual({ ...config.vision, enc_dim: 96, enc_ff_dim: 192, enc_n_heads: 6 });
    expect(wide.text).toEqual(config.text);
    expect(() => demoConfig(vocabulary, 100)).toThrow(/multiple of 16, got 100/);
  });
});

describe('writeSafetensors', () => {
  it('writes a header the reader accepts, with the values at their offsets', () => {
    const bytes = writeSafetensors([
      { name: 'a', shape: [2], values: Float32Array.of(1, 2) },
      { name: 'b', shape: [1, 3], values: Float32Array.of(3, 4, 5) },
    ]);
    const length = readHeaderLength(bytes.subarray(0, 8), bytes.byteLength);
    expect((8 + length) % 8).toBe(0);
    const header = parseHeader(bytes.subarray(8, 8 + length), bytes.byteLength);
    const b = header.byName.get('b')!;
    expect(b.shape).toEqual([1, 3]);
    expect(Array.from(new Float32Array(bytes.slice(header.dataOffset + b.begin, header.dataOffset + b.end).buffer))).toEqual([3, 4, 5]);
    expect(demoVocabularySize(0)).toBe(288);
  });
});
