// CPU reference of prompt assembly and greedy answer decoding (spec §8.1, §8.2, §8.5).
import type { Revision } from '../revisions.ts';
import { argmax } from '../sampling.ts';
import type { Matrix } from './layers.ts';
import type { TextDecoderReference } from './text.ts';

/** Feeds [BOS, image embeddings] at positions 0 … imageTokens (spec §8.1). */
export function prefillImage(decoder: TextDecoderReference, revision: Revision, imageEmbeddings: Matrix): Matrix {
  if (decoder.position !== 0) throw new Error('The image prefix must start at position 0.');
  const bos = decoder.embed([revision.bosId]);
  const input = new Float64Array(bos.length + imageEmbeddings.length);
  input.set(bos);
  input.set(imageEmbeddings, bos.length);
  return decoder.forward(input);
}

export interface GreedyResult {
  readonly tokens: number[];
  readonly hitEos: boolean;
  /** The final hidden state of the prompt's last position (before post_ln). */
  readonly promptHidden: Matrix;
  readonly promptLogits: Matrix;
  /** The token picked after the last emitted one (EOS, or the one max_tokens cut off). */
  readonly nextToken: number;
  /** Raw logits (before suppression) after feeding each emitted token. */
  readonly stepLogits: Matrix[];
}

/**
 * Prefills `promptIds` and decodes greedily: the first token is the argmax of the prompt's last
 * logits with no suppression; later steps set the revision's suppressed ids to −∞; decoding stops
 * before emitting EOS or after `maxTokens` tokens (spec §8.5).
 */
export function greedyDecode(decoder: TextDecoderReference, revision: Revision, promptIds: readonly number[], maxTokens: number): GreedyResult {
  const dim = revision.config.text.dim;
  const hidden = decoder.forward(decoder.embed(promptIds));
  const promptHidden = hidden.slice(hidden.length - dim);
  const promptLogits = decoder.logits(promptHidden);
  const tokens: number[] = [];
  const stepLogits: Matrix[] = [];
  let token = argmax(promptLogits);
  // Upstream's loop: emit, feed, pick the next one; the check comes before emitting.
  while (token !== revision.eosId && tokens.length < maxTokens) {
    tokens.push(token);
    const logits = decoder.logits(decoder.forward(decoder.embed([token])));
    stepLogits.push(logits.slice());
    for (const id of revision.suppressedTokens) logits[id] = -Infinity;
    token = argmax(logits);
  }
  return { tokens, hitEos: token === revision.eosId, nextToken: token, promptHidden, promptLogits, stepLogits };
}
