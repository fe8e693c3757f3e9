// Greedy answers for a batch of sequences at once (evaluation): one batched prefill of every
// sequence's inputs (right-padded to the longest), then one batched decode step per token in
// which each sequence feeds its last token at its own position; the argmax runs on the GPU, so a
// step reads back one id per sequence. A sequence stops at EOS or at its token limit; the others
// go on. Spec §8.5 as generate.ts: the first token comes from the prompt's logits with nothing
// suppressed, later ones with the suppressed ids (the answer id) skipped.
import type { LoraAdapters } from '../gpu/lora.ts';
import { argmaxRows } from '../gpu/ops/argmax.ts';
import { embedding } from '../gpu/ops/embedding.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { GenerateResult } from './generate.ts';
import type { KVCache } from './kv-cache.ts';
import type { TextDecoder } from './text-decoder.ts';

export interface GenerateBatchOptions {
  /** Most tokens each sequence may emit. */
  maxTokens: number;
  eosId: number;
  /** Ids skipped after the first token (spec §8.5: the answer id). */
  suppressedTokens: readonly number[];
  lora?: LoraAdapters;
}

/**
 * `inputs` [B·T, dim]: every sequence's input embeddings (prefix and prompt), sequence s in rows
 * [s·T, s·T + lengths[s]) and padding after. `cache` holds B empty sequences with room for
 * T + maxTokens positions each. Returns each sequence's tokens (without EOS).
 */
export async function generateBatch(decoder: TextDecoder, cache: KVCache, inputs: Tensor, lengths: readonly number[], options: GenerateBatchOptions): Promise<GenerateResult[]> {
  const { engine } = decoder;
  const sequences = lengths.length;
  const rows = inputs.shape[0] / sequences;
  if (cache.sequences !== sequences || cache.lengths.some((length) => length !== 0)) {
    throw new Error(`generateBatch: the cache must hold ${sequences} empty sequences (it holds ${cache.sequences}).`);
  }
  if (!Number.isInteger(rows) || lengths.some((length) => length < 1 || length > rows)) throw new Error(`generateBatch: lengths [${lengths.join(', ')}] do not fit ${inputs}`);
  if (rows + options.maxTokens > cache.maxContext) {
    throw new Error(`generateBatch: ${rows} input positions and ${options.maxTokens} answer tokens exceed the cache's ${cache.maxContext} positions per sequence.`);
  }

  // Prefill, then read the logits of each sequence's last real row.
  const hidden = decoder.forward(null, inputs, { cache, lora: options.lora });
  lengths.forEach((length, s) => (cache.lengths[s] = length));
  const lastRows = engine.upload(Int32Array.from(lengths, (length, s) => s * rows + length - 1), [sequences], 'i32', 'generate.lastRows');
  let ids = argmaxRows(engine, engine.scope(() => decoder.logits(null, embedding(engine, hidden, lastRows))));
  hidden.dispose();
  lastRows.dispose();

  const suppressed = options.suppressedTokens.length > 0 ? engine.upload(Int32Array.from(options.suppressedTokens), [options.suppressedTokens.length], 'i32') : undefined;
  const results: GenerateResult[] = Array.from({ length: sequences }, () => ({ tokens: [], hitEos: false }));
  const done = new Array<boolean>(sequences).fill(false);
  try {
    for (;;) {
      const chosen = (await engine.read(ids)) as Int32Array;
      chosen.forEach((token, s) => {
        if (done[s]) return;
        if (token === options.eosId) {
          results[s].hitEos = true;
          done[s] = true;
        } else {
          results[s].tokens.push(token);
          if (results[s].tokens.length >= options.maxTokens) done[s] = true;
        }
      });
      if (done.every(Boolean)) break;
      // Every sequence takes a step (finished ones too: their rows are ignored), so the shapes
      // of the step never change.
      const next = engine.scope(() => {
        const embedded = decoder.embedTokenIds(ids);
        const stepHidden = decoder.forward(null, embedded, { cache, lora: options.lora });
        return argmaxRows(engine, decoder.logits(null, stepHidden), suppressed);
      });
      ids.dispose();
      ids = next;
    }
  } finally {
    ids.dispose();
    suppressed?.dispose();
  }
  return results;
}
