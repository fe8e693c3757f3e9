// Token sampling for answer decoding (spec §8.5): greedy when temperature is 0, otherwise
// softmax(logits / T) restricted by the spec's top-p rule, drawn with a seeded random source.

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Nucleus mass, (0, 1]. */
  topP: number;
}

/** Index of the largest value (the first one on ties, as torch.argmax). NaN never wins. */
export function argmax(values: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isNaN(values[i]) && (best < 0 || values[i] > values[best])) best = i;
  }
  if (best < 0) throw new Error('Cannot pick a token: every logit is NaN; the model produced invalid numbers.');
  return best;
}

/**
 * The top-p distribution of spec §8.5: p = softmax(logits / T); sorted descending with cumulative
 * sum c, entry k is dropped when c_k − p_k > top_p (the mass before it already exceeds top_p; the
 * top token is always kept); the rest is renormalised. Returns the kept token ids (most likely
 * first) and their probabilities.
 */
export function topPDistribution(logits: ArrayLike<number>, temperature: number, topP: number): { ids: number[]; probabilities: number[] } {
  if (!(temperature > 0)) throw new Error(`topPDistribution needs a positive temperature, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`top_p must be in (0, 1], got ${topP}`);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  if (max === -Infinity || Number.isNaN(max)) throw new Error('Cannot sample: no token has a finite logit.');
  const weights = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    weights[i] = Math.exp((logits[i] - max) / temperature);
    sum += weights[i];
  }
  // Stable sort: equal probabilities keep id order.
  const order = Array.from(weights.keys()).sort((a, b) => weights[b] - weights[a] || a - b);
  const ids: number[] = [];
  const probabilities: number[] = [];
  let cumulative = 0;
  for (const id of order) {
    const probability = weights[id] / sum;
    if (cumulative > topP) break; // c_k − p_k = mass before this entry
    cumulative += probability;
    ids.push(id);
    probabilities.push(probability);
  }
  const kept = probabilities.reduce((total, p) => total + p, 0);
  return { ids, probabilities: probabilities.map((p) => p / kept) };
}

/** One token from logits: argmax when temperature is 0, else a top-p draw using random() ∈ [0, 1). */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, random: () => number): number {
  if (options.temperature === 0) return argmax(logits);
  const { ids, probabilities } = topPDistribution(logits, options.temperature, options.topP);
  const draw = random();
  let cumulative = 0;
  for (let k = 0; k < ids.length; k++) {
    cumulative += probabilities[k];
    if (draw < cumulative) return ids[k];
  }
  return ids[ids.length - 1]; // rounding: the draw landed past the last cumulative sum
}
