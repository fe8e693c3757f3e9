// CPU reference of the fine-tuning loss (spec §11.1): mean cross-entropy over the labelled
// positions, where labels[t] is the token the logits at position t must predict (−100 = unscored).

export const IGNORE_LABEL = -100;

export interface CrossEntropyResult {
  /** Loss of each scored position, in position order. */
  readonly perToken: number[];
  readonly mean: number;
}

export function crossEntropy(logits: Float64Array, vocabSize: number, labels: readonly number[]): CrossEntropyResult {
  if (logits.length !== labels.length * vocabSize) throw new Error(`crossEntropy: ${labels.length} labels need ${labels.length * vocabSize} logits, got ${logits.length}`);
  const perToken: number[] = [];
  labels.forEach((label, position) => {
    if (label === IGNORE_LABEL) return;
    const row = logits.subarray(position * vocabSize, (position + 1) * vocabSize);
    let max = -Infinity;
    for (const value of row) max = Math.max(max, value);
    let total = 0;
    for (const value of row) total += Math.exp(value - max);
    perToken.push(max + Math.log(total) - row[label]);
  });
  if (perToken.length === 0) throw new Error('crossEntropy: no labelled position.');
  return { perToken, mean: perToken.reduce((a, b) => a + b, 0) / perToken.length };
}

/**
 * Shifted labels for a sequence whose answer occupies the last `answerLength` positions (answer
 * tokens + EOS): logits at T−L−1 … T−2 predict the tokens at T−L … T−1 (spec §11.1).
 */
export function shiftedAnswerLabels(ids: readonly number[], answerLength: number): number[] {
  const labels = new Array<number>(ids.length).fill(IGNORE_LABEL);
  for (let t = ids.length - answerLength; t < ids.length; t++) labels[t - 1] = ids[t];
  return labels;
}
