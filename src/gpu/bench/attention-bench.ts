// Attention benchmark rows: the fused attention forward and backward at the fine-tuning length
// T = 800 (730 prefix + prompt + answer) with the decoder's 32 heads × 64 and the prefix mask
// (spec §7), the vision encoder's unmasked 729 tokens × 16 heads × 72, and one decode step
// against a 2048-row KV cache. Without `full`, the decoder rows use one head and the vision row is
// skipped, so the rows finish in about a minute on a CPU (SwiftShader).
//
// FLOPs count the useful work of the allowed (query, key) pairs only: the forward pass is two
// matmuls (Q·Kᵀ, P·V), 4·pairs·headDim per head; the backward pass is the conventional five
// (recomputed Q·Kᵀ, dO·Vᵀ, Pᵀ·dO, dS·K, dSᵀ·Q), 10·pairs·headDim per head.
import type { Engine } from '../engine.ts';
import { attention, attentionAllowed, attentionBackward, type AttentionMask } from '../ops/attention.ts';
import type { Tensor } from '../tensor.ts';
import type { BenchRow } from './bench-row.ts';
import { medianMs } from './timing.ts';

interface AttentionCase {
  name: string;
  queryCount: number;
  keyCount: number;
  heads: number;
  headDim: number;
  mask: AttentionMask;
  queryOffset: number;
  backward: boolean;
}

function cases(full: boolean): AttentionCase[] {
  const decoderHeads = full ? 32 : 1;
  const prefix: AttentionMask = { prefix: 730 };
  const list: AttentionCase[] = [
    { name: `attention T=800 ${decoderHeads}×64 prefix 730`, queryCount: 800, keyCount: 800, heads: decoderHeads, headDim: 64, mask: prefix, queryOffset: 0, backward: true },
    { name: `attention T=800 ${decoderHeads}×64 causal`, queryCount: 800, keyCount: 800, heads: decoderHeads, headDim: 64, mask: 'causal', queryOffset: 0, backward: true },
    { name: `attention decode 1 vs 2048 cache ${decoderHeads}×64`, queryCount: 1, keyCount: 2048, heads: decoderHeads, headDim: 64, mask: prefix, queryOffset: 2047, backward: false },
  ];
  if (full) {
    list.push({ name: 'attention vision T=729 16×72 none', queryCount: 729, keyCount: 729, heads: 16, headDim: 72, mask: 'none', queryOffset: 0, backward: false });
  }
  return list;
}

/** Allowed (query, key) pairs of one head under the mask. */
function allowedPairs(shape: AttentionCase): number {
  let pairs = 0;
  for (let query = 0; query < shape.queryCount; query++) {
    for (let key = 0; key < shape.keyCount; key++) if (attentionAllowed(shape.mask, shape.queryOffset + query, key)) pairs++;
  }
  return pairs;
}

function seededValues(count: number, seed: number): Float32Array {
  // A linear congruential sequence in [−1, 1): inputs only need to be deterministic and O(1).
  const values = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 31 - 1;
  }
  return values;
}

export async function benchAttention(engine: Engine, options: { full: boolean }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const shape of cases(options.full)) {
    const { queryCount, keyCount, heads, headDim, mask, queryOffset } = shape;
    const width = heads * headDim;
    const usefulPerHead = allowedPairs(shape) * headDim;
    const q = engine.upload(seededValues(queryCount * width, 1), [queryCount, width]);
    const k = engine.upload(seededValues(keyCount * width, 2), [keyCount, width]);
    const v = engine.upload(seededValues(keyCount * width, 3), [keyCount, width]);
    const gradOut = engine.upload(seededValues(queryCount * width, 4), [queryCount, width]);
    const attentionOptions = { heads, headDim, mask, queryOffset };

    const forwardMs = await medianMs(async () => {
      const { out, logsumexp } = attention(engine, q, k, v, attentionOptions);
      await engine.sync();
      out.dispose();
      logsumexp.dispose();
    });
    rows.push({ name: `${shape.name} forward`, ms: forwardMs, gflops: (4 * usefulPerHead * heads) / (forwardMs * 1e6) });

    if (shape.backward) {
      const saved = attention(engine, q, k, v, attentionOptions);
      const backwardMs = await medianMs(async () => {
        const grads = attentionBackward(engine, gradOut, q, k, v, saved.out, saved.logsumexp, attentionOptions);
        await engine.sync();
        for (const tensor of Object.values(grads) as Tensor[]) tensor.dispose();
      });
      rows.push({
        name: `${shape.name} backward`,
        ms: backwardMs,
        gflops: (10 * usefulPerHead * heads) / (backwardMs * 1e6),
        note: 'dQ pass + dK/dV pass, scores recomputed',
      });
      saved.out.dispose();
      saved.logsumexp.dispose();
    }
    for (const tensor of [q, k, v, gradOut]) tensor.dispose();
  }
  return rows;
}
