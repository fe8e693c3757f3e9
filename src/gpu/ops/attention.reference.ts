// Plain-TypeScript multi-head attention, forward and backward, the naive way (a full score
// matrix per head, float64). The GPU kernels in attention.ts are tested against it, and its
// forward is smooth enough in float64 to check gradients by finite differences.

export type AttentionMask = 'none' | 'causal' | { prefix: number };

export interface AttentionReferenceShape {
  heads: number;
  headDim: number;
  queryCount: number;
  keyCount: number;
  mask: AttentionMask;
  scale?: number;
  queryOffset?: number;
}

type Values = Float64Array | Float32Array | number[];

/** spec §7: may the query at absolute position `queryPosition` attend to key position `key`? */
export function attentionAllowed(mask: AttentionMask, queryPosition: number, key: number): boolean {
  if (mask === 'none') return true;
  if (mask === 'causal') return key <= queryPosition;
  return (queryPosition < mask.prefix && key < mask.prefix) || key <= queryPosition;
}

/** Softmax probabilities of one (head, query) row over all keys, plus its logsumexp (scaled scores). */
function probabilityRow(
  q: Values,
  k: Values,
  shape: AttentionReferenceShape,
  head: number,
  query: number,
): { probabilities: Float64Array; logsumexp: number } {
  const { heads, headDim, keyCount, mask } = shape;
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  const width = heads * headDim;
  const position = (shape.queryOffset ?? 0) + query;
  const scores = new Float64Array(keyCount).fill(-Infinity);
  let max = -Infinity;
  for (let key = 0; key < keyCount; key++) {
    if (!attentionAllowed(mask, position, key)) continue;
    let score = 0;
    for (let d = 0; d < headDim; d++) score += q[query * width + head * headDim + d] * k[key * width + head * headDim + d];
    scores[key] = score * scale;
    max = Math.max(max, scores[key]);
  }
  const probabilities = new Float64Array(keyCount);
  if (max === -Infinity) return { probabilities, logsumexp: -Infinity };
  let sum = 0;
  for (let key = 0; key < keyCount; key++) sum += Math.exp(scores[key] - max);
  for (let key = 0; key < keyCount; key++) probabilities[key] = Math.exp(scores[key] - max) / sum;
  return { probabilities, logsumexp: max + Math.log(sum) };
}

/**
 * out[i, h·D + d] = Σ_j softmax_j(scale · q_i·k_j, masked) · v[j, h·D + d], with q [Tq, heads·D]
 * and k, v [Tk, heads·D]; logsumexp [heads, Tq] of the scaled, masked scores.
 */
export function attentionReference(
  q: Values,
  k: Values,
  v: Values,
  shape: AttentionReferenceShape,
): { out: Float64Array; logsumexp: Float64Array } {
  const { heads, headDim, queryCount, keyCount } = shape;
  const width = heads * headDim;
  const out = new Float64Array(queryCount * width);
  const logsumexp = new Float64Array(heads * queryCount);
  for (let head = 0; head < heads; head++) {
    for (let query = 0; query < queryCount; query++) {
      const row = probabilityRow(q, k, shape, head, query);
      logsumexp[head * queryCount + query] = row.logsumexp;
      for (let key = 0; key < keyCount; key++) {
        const p = row.probabilities[key];
        if (p === 0) continue;
        for (let d = 0; d < headDim; d++) out[query * width + head * headDim + d] += p * v[key * width + head * headDim + d];
      }
    }
  }
  return { out, logsumexp };
}

/** Gradients of Σ gradOut ∘ attention(q, k, v) with respect to q, k and v. */
export function attentionBackwardReference(
  gradOut: Values,
  q: Values,
  k: Values,
  v: Values,
  shape: AttentionReferenceShape,
): { gradQ: Float64Array; gradK: Float64Array; gradV: Float64Array } {
  const { heads, headDim, queryCount, keyCount } = shape;
  const scale = shape.scale ?? 1 / Math.sqrt(headDim);
  const width = heads * headDim;
  const gradQ = new Float64Array(queryCount * width);
  const gradK = new Float64Array(keyCount * width);
  const gradV = new Float64Array(keyCount * width);
  for (let head = 0; head < heads; head++) {
    const column = head * headDim;
    for (let query = 0; query < queryCount; query++) {
      const { probabilities } = probabilityRow(q, k, shape, head, query);
      // dP_j = dO_i · v_j; dS_j = P_j (dP_j − Σ_l P_l dP_l).
      const gradProbabilities = new Float64Array(keyCount);
      let weighted = 0;
      for (let key = 0; key < keyCount; key++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += gradOut[query * width + column + d] * v[key * width + column + d];
        gradProbabilities[key] = dot;
        weighted += probabilities[key] * dot;
      }
      for (let key = 0; key < keyCount; key++) {
        const p = probabilities[key];
        if (p === 0) continue;
        const gradScore = p * (gradProbabilities[key] - weighted) * scale;
        for (let d = 0; d < headDim; d++) {
          gradV[key * width + column + d] += p * gradOut[query * width + column + d];
          gradQ[query * width + column + d] += gradScore * k[key * width + column + d];
          gradK[key * width + column + d] += gradScore * q[query * width + column + d];
        }
      }
    }
  }
  return { gradQ, gradK, gradV };
}
