import { decode as gpt3Decode, encode as gpt3Encode } from 'gpt-3-encoder';
import { describe, expect, it } from 'vitest';
import { buildQuestion, formatAnswer } from '../../../src/dataset/question.ts';
import { answerTargetIds, getRevision, queryPromptIds } from '../../../src/model/revisions.ts';
import { HubTokenizer, IdTokenizer, loadTokenizer } from '../../../src/model/tokenizer.ts';
import { GPT2_END_OF_TEXT, GPT2_END_OF_TEXT_ID, gpt2TokenizerJson } from '../../helpers/gpt2-tokenizer.ts';

/** GPT-2's byte → printable-character table (bytes_to_unicode), written out for the test. */
function byteChars(): string[] {
  const chars: string[] = [];
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    chars.push(String.fromCodePoint(printable ? byte : next++));
  }
  return chars;
}

const MERGES = ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'Ġw or', 'l d', 'Ġwor ld'];
const EOS_ID = 300;

/** A byte-level BPE tokenizer.json: 256 byte tokens (ids 0–255), one token per merge (256…), EOS 300. */
function smallBpeTokenizer() {
  const vocab: Record<string, number> = {};
  byteChars().forEach((char, id) => (vocab[char] = id));
  MERGES.forEach((merge, index) => (vocab[merge.replace(' ', '')] = 256 + index));
  vocab['<|endoftext|>'] = EOS_ID;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: EOS_ID, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: MERGES },
  };
}

describe('HubTokenizer (byte-level BPE through @huggingface/tokenizers)', () => {
  const tokenizer = new HubTokenizer(smallBpeTokenizer(), { eos_token: '<|endoftext|>' });
  const code = (char: string) => char.charCodeAt(0);

  it('applies the merges: "hello world" → [hello, Ġworld]', () => {
    // hello = merge 3 → 259; Ġworld = merge 8 → 264 (hand-applied merge order above).
    expect(tokenizer.encode('hello world')).toEqual([259, 264]);
  });

  it('falls back to byte tokens where no merge applies, including multi-byte UTF-8 and newlines', () => {
    // "hi!" has no merges: bytes h, i, !. "é" is two bytes 0xC3 0xA9; "\n" is byte 10.
    expect(tokenizer.encode('hi!')).toEqual([code('h'), code('i'), code('!')]);
    expect(tokenizer.encode('é')).toEqual([0xc3, 0xa9]);
    expect(tokenizer.encode('\n\nhell')).toEqual([10, 10, 258]);
  });

  it('adds no special tokens by itself but recognises them in text', () => {
    expect(tokenizer.encode('hello<|endoftext|>')).toEqual([259, EOS_ID]);
    expect(tokenizer.tokenId('<|endoftext|>')).toBe(EOS_ID);
  });

  it('decodes back to the text, leaving out special tokens', () => {
    for (const text of ['hello world', 'hi! é\n\nhello', ' world hello']) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    expect(tokenizer.decode([259, EOS_ID])).toBe('hello');
    expect(tokenizer.decode([])).toBe(''); // an answer that is EOS at once
  });

  it('refuses a file that is not a tokenizer.json', () => {
    expect(() => new HubTokenizer({ vocab: {} })).toThrow(/no "model" section/);
  });

  it('loads through loadTokenizer from a hub source with an injected fetch', async () => {
    const requested: string[] = [];
    const fakeFetch = (async (url: string) => {
      requested.push(url);
      if (url.endsWith('tokenizer.json')) return new Response(JSON.stringify(smallBpeTokenizer()));
      return new Response('not found', { status: 404 });
    }) as typeof fetch;
    const loaded = await loadTokenizer({ kind: 'hub', repo: 'vikhyatk/moondream2', revision: '2024-04-02', file: 'tokenizer.json' }, { fetch: fakeFetch });
    expect(loaded.encode('hello')).toEqual([259]);
    expect(requested).toEqual([
      'https://huggingface.co/vikhyatk/moondream2/resolve/2024-04-02/tokenizer.json',
      'https://huggingface.co/vikhyatk/moondream2/resolve/2024-04-02/tokenizer_config.json',
    ]);
    const source = { kind: 'hub', repo: 'a/b', revision: 'main', file: 'tokenizer.json' } as const;
    const failing = (async () => new Response('', { status: 503 })) as unknown as typeof fetch;
    await expect(loadTokenizer(source, { fetch: failing })).rejects.toThrow(/^Could not download the tokenizer a\/b\/tokenizer\.json at main: .*HTTP 503/);
    const offline = (async () => Promise.reject(new TypeError('Failed to fetch'))) as unknown as typeof fetch;
    await expect(loadTokenizer(source, { fetch: offline })).rejects.toThrow(/tokenizer a\/b\/tokenizer\.json at main: Could not reach huggingface\.co .*Failed to fetch.*Check the network connection/);
  });
});

describe('the GPT-2 vocabulary of the 2024-04-02 and 2025-04-14 revisions (spec §10.2)', () => {
  // GPT-2's own files, read by @huggingface/tokenizers through HubTokenizer; the package's pure-JS
  // encoder (a port of OpenAI's encoder.py) is the independent expectation. Token ids are exact.
  const tokenizer = new HubTokenizer(gpt2TokenizerJson(), { eos_token: GPT2_END_OF_TEXT });
  const revisions = [getRevision('2024-04-02'), getRevision('2025-04-14')];

  const coinClasses = ['dime', 'nickel', 'penny', 'quarter'];
  const hardClasses = ['2€', 'café', 'naïve façade', '日本', '🐱 cat', 'R2-D2', 'class 10', "don't"];
  const questions = [buildQuestion(coinClasses), buildQuestion(hardClasses), buildQuestion(['cat'], { noun: 'coin' })];
  const answers = [
    formatAnswer(coinClasses, [2, 0, 10, 1]),
    formatAnswer(hardClasses, [1, 2, 3, 4, 5, 6, 7, 8]),
    formatAnswer(coinClasses, [0, 0, 0, 0]),
    formatAnswer(['cat'], [123456]),
  ];
  const hardStrings = [
    '2€ café',
    'naïve 日本 🐱',
    '0123456789 3.14 -7 1,000,000',
    'two  spaces,   three, and a trailing run   ',
    '    ',
    '\n',
    '\n\n\nthree newlines\n',
    'tab\there\r\nand CRLF',
    "it's I'll we've they're",
    '{\n  "a": 1\n}',
  ];

  it('gives the ids of the package encoder for the counting questions, their answers and hard strings', () => {
    for (const text of [...questions, ...answers, ...answers.map((answer) => ` ${answer}`), ...hardStrings]) {
      expect([text, tokenizer.encode(text)]).toEqual([text, gpt3Encode(text)]);
    }
  });

  it('decodes every such text back to itself', () => {
    for (const text of [...questions, ...answers, ...hardStrings]) {
      const ids = tokenizer.encode(text);
      expect(tokenizer.decode(ids)).toBe(text);
      expect(gpt3Decode(ids)).toBe(text);
    }
  });

  it('has the ids the spec names: 198 "\\n", 25 ":", 24361 "Question", 33706 "Answer", 628 "\\n\\n", 50256 <|endoftext|>', () => {
    expect(tokenizer.encode('\n\nQuestion:')).toEqual([198, 198, 24361, 25]);
    expect(tokenizer.encode('\n\nAnswer:')).toEqual([198, 198, 33706, 25]);
    expect(tokenizer.encode('\n\n')).toEqual([628]);
    expect(tokenizer.tokenId(GPT2_END_OF_TEXT)).toBe(GPT2_END_OF_TEXT_ID);
    for (const revision of revisions) {
      expect([revision.id, revision.bosId, revision.eosId]).toEqual([revision.id, GPT2_END_OF_TEXT_ID, GPT2_END_OF_TEXT_ID]);
    }
    // EOS is a special token: left out of decoded text, as upstream's skip_special_tokens does.
    expect(tokenizer.decode([...tokenizer.encode(' {}'), GPT2_END_OF_TEXT_ID])).toBe(' {}');
  });

  it("builds each revision's prompt: \\n\\nQuestion: + ' ' + question + \\n\\nAnswer: (text in 2024, ids in 2025)", () => {
    // Both revisions must give the same ids: 2024-04-02 tokenises the whole text template (§12),
    // 2025-04-14 puts its id templates around encode(" " + question) (§10.2, §1.2).
    for (const question of questions) {
      const expected = [198, 198, 24361, 25, ...gpt3Encode(` ${question}`), 198, 198, 33706, 25];
      for (const revision of revisions) {
        expect([revision.id, queryPromptIds(revision, tokenizer, question)]).toEqual([revision.id, expected]);
      }
    }
  });

  it('targets the answer with a leading space and EOS, as the 2024 notebook does (§11.3)', () => {
    for (const answer of answers) {
      for (const revision of revisions) {
        expect(answerTargetIds(revision, tokenizer, answer)).toEqual([...gpt3Encode(` ${answer}`), GPT2_END_OF_TEXT_ID]);
      }
    }
  });
});

describe('IdTokenizer (the tiny fixture\'s whitespace-separated ids)', () => {
  const tokenizer = new IdTokenizer(512);
  it('parses decimal ids and joins them back', () => {
    expect(tokenizer.encode('40 41 42 43')).toEqual([40, 41, 42, 43]);
    expect(tokenizer.encode(' 70  71\n')).toEqual([70, 71]);
    expect(tokenizer.encode('')).toEqual([]);
    expect(tokenizer.decode([136, 9, 239])).toBe('136 9 239');
  });
  it('rejects words that are not ids of the vocabulary', () => {
    expect(() => tokenizer.encode('40 cat')).toThrow(/'cat' is not a token id below 512/);
    expect(() => tokenizer.encode('512')).toThrow(/'512' is not a token id/);
  });
});
