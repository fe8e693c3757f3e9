// Answer generation (spec §8.5): prefill the prompt into the KV cache, sample the first token
// from the last position's logits with no suppression, then feed one token at a time, setting
// the suppressed ids (the answer id) to −∞ before every later sample, until EOS (never emitted)
// or max tokens. Logits are read back per token. With a constraint, every step's logits (the
// first one's too) are masked to the tokens that keep the answer in the constraint's language
// before the token is chosen (token-constraint.ts).
import type { LoraAdapters } from '../gpu/lora.ts';
import type { AttentionMask } from '../gpu/ops/attention.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { KVCache } from './kv-cache.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';
import type { TextDecoder } from './text-decoder.ts';
import type { TokenConstraint } from './token-constraint.ts';

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to emit (upstream default 768). */
  maxTokens: number;
  eosId: number;
  /** Ids set to −∞ after the first token (spec §8.5: the answer id). */
  suppressedTokens: readonly number[];
  /** Uniform [0, 1) source for sampling (seeded for reproducible runs); unused when greedy. */
  random?: () => number;
  /** Attention mask; default the decoder's revision mask (pass decoder.mask(false) for a query without an image, spec §7). */
  mask?: AttentionMask;
  /** Called with each emitted token, in order (streaming). */
  onToken?: (token: number, index: number) => void;
  /** Only answers of this language (its EOS must be `eosId`); default unconstrained. */
  constraint?: TokenConstraint;
  /** LoRA adapters to decode with (the cache's prefix must have been computed with the same ones). */
  lora?: LoraAdapters;
}

export interface GenerateResult {
  tokens: number[];
  /** Whether decoding stopped at EOS (rather than at maxTokens). */
  hitEos: boolean;
}

/**
 * Prefills `promptIds` (wte rows, or `promptEmbeddings` [n, dim] when given) at the cache's
 * next position and generates an answer. The cache must already hold the image prefix (or
 * BOS). It advances by the prompt and by every emitted token.
 */
export async function generate(
  decoder: TextDecoder,
  cache: KVCache,
  prompt: Int32Array | Tensor,
  options: GenerateOptions,
): Promise<GenerateResult> {
  const { engine } = decoder;
  const { maxTokens, eosId, suppressedTokens, onToken } = options;
  const promptLength = prompt instanceof Int32Array ? prompt.length : prompt.shape[0];
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`maxTokens must be a positive integer, got ${maxTokens}`);
  // spec §8.5: prefix + prompt + generated ≤ context.
  if (cache.length + promptLength + maxTokens > cache.maxContext) {
    throw new Error(
      `The context of ${cache.maxContext} positions cannot hold ${cache.length} (image prefix) + ${promptLength} (prompt) + ${maxTokens} (max answer tokens); ` +
        `lower max tokens to ${Math.max(0, cache.maxContext - cache.length - promptLength)} or shorten the prompt.`,
    );
  }
  const random = options.random ?? (() => {
    if (options.temperature === 0) return 0;
    throw new Error('Sampling with temperature > 0 needs a random source (options.random).');
  });
  const nextLogits = async (input: Int32Array | Tensor): Promise<Float32Array> => {
    const embeddings = input instanceof Int32Array ? decoder.embed(null, input) : input;
    const hidden = decoder.forward(null, embeddings, { cache, mask: options.mask, lora: options.lora });
    if (embeddings !== input) embeddings.dispose();
    const logitsTensor = decoder.lastLogits(hidden);
    hidden.dispose();
    const logits = await engine.readFloat(logitsTensor);
    logitsTensor.dispose();
    return logits;
  };

  const { constraint } = options;
  if (constraint && constraint.options.eosId !== eosId) throw new Error(`The constraint ends answers with token ${constraint.options.eosId}, but this model's EOS is ${eosId}; build it for this model.`);
  let state = constraint?.start ?? 0;
  let masked: Float32Array | undefined;
  const choose = (logits: Float32Array) => {
    if (!constraint) return sampleToken(logits, options, random);
    masked = constraint.maskLogits(state, logits, masked);
    return sampleToken(masked, options, random);
  };

  let token = choose(await nextLogits(prompt));
  const tokens: number[] = [];
  while (token !== eosId && tokens.length < maxTokens) {
    tokens.push(token);
    onToken?.(token, tokens.length - 1);
    if (constraint) state = constraint.advance(state, token);
    const logits = await nextLogits(Int32Array.of(token));
    for (const id of suppressedTokens) logits[id] = -Infinity;
    token = choose(logits);
  }
  return { tokens, hitEos: token === eosId };
}
