// Next-token choice from a row of logits (spec §8.5): greedy at temperature 0, otherwise
// temperature softmax restricted to the top-p nucleus. Runs on the host over read-back logits.

export interface SamplingSettings {
  /** 0 = greedy (argmax). */
  readonly temperature: number;
  /** Nucleus mass; 1 keeps every token. */
  readonly topP: number;
}

/** Index of the largest value (the first one on ties, like torch.argmax on CPU). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * The nucleus as (token, probability) pairs, renormalised, most likely first: tokens are kept
 * while the mass before them is ≤ topP, so the top token is always kept (spec §8.5).
 */
export function nucleus(logits: ArrayLike<number>, temperature: number, topP: number): { token: number; probability: number }[] {
  if (!(temperature > 0)) throw new Error(`nucleus needs a positive temperature, got ${temperature}; use argmax for greedy decoding.`);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const weights: { token: number; probability: number }[] = [];
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const weight = Math.exp((logits[i] - max) / temperature);
    if (weight > 0) weights.push({ token: i, probability: weight });
    total += weight;
  }
  weights.sort((a, b) => b.probability - a.probability || a.token - b.token);
  const kept: { token: number; probability: number }[] = [];
  let before = 0;
  let keptMass = 0;
  for (const entry of weights) {
    const probability = entry.probability / total;
    if (before > topP) break;
    kept.push({ token: entry.token, probability });
    keptMass += probability;
    before += probability;
  }
  return kept.map((entry) => ({ token: entry.token, probability: entry.probability / keptMass }));
}

/** Picks the next token; `random` returns uniform numbers in [0, 1) (seed it for reproducible runs). */
export function sampleToken(logits: ArrayLike<number>, settings: SamplingSettings, random: () => number = Math.random): number {
  if (settings.temperature === 0) return argmax(logits);
  const candidates = nucleus(logits, settings.temperature, settings.topP);
  let draw = random();
  for (const candidate of candidates) {
    draw -= candidate.probability;
    if (draw < 0) return candidate.token;
  }
  return candidates[candidates.length - 1].token; // rounding left a sliver of mass
}
