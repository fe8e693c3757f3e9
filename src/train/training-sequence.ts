// One training sample as the decoder sees it (ARCHITECTURE.md decision 4, spec §11.1):
//   [BOS] + image embeddings + prompt ids + answer ids + [EOS]
// where the prompt is the revision's query prompt (for the latest revision the derived format of
// §11.1: [1, 15381, 2] + ids(question) + [3, 3]; for 2024 the text template of §12) and the
// answer is encoded as the revision trains it (§11.3: a leading space in 2024) and closed by EOS.
// Labels sit on the answer tokens and EOS only, with the next-token shift: the logits at position
// t are scored against the token at t + 1, so with T positions and L answer tokens (EOS included),
// positions T−L−1 … T−2 carry answer tokens 0 … L−1 and every other position carries −100.
import { answerTargetIds, queryPromptIds, type PromptEncoder, type Revision } from '../model/revisions.ts';

/** No label at this position (PyTorch's ignore_index). */
export const IGNORE_LABEL = -100;

/** Image positions in `ids` (TextDecoder.embed fills them with the image embeddings). */
export const IMAGE_POSITION = -1;

export interface TrainingSequence {
  /** Token ids, with IMAGE_POSITION for each image embedding. */
  ids: Int32Array;
  /** targets[t] = the label for the logits at position t, or IGNORE_LABEL. */
  targets: Int32Array;
  /** Answer tokens including EOS (the labelled count). */
  answerTokens: number;
}

export function trainingSequence(revision: Revision, tokenizer: PromptEncoder, imageTokens: number, question: string, answer: string): TrainingSequence {
  return promptedSequence(revision, imageTokens, queryPromptIds(revision, tokenizer, question), answerTargetIds(revision, tokenizer, answer));
}

/** The same layout for any prompt ids (e.g. a caption template) and answer ids (EOS included). */
export function promptedSequence(revision: Revision, imageTokens: number, prompt: readonly number[], answerIds: readonly number[]): TrainingSequence {
  const length = 1 + imageTokens + prompt.length + answerIds.length;
  const maxContext = revision.config.text.max_context;
  if (length > maxContext) {
    throw new Error(`A training sample of ${length} positions (image ${imageTokens}, prompt ${prompt.length}, answer ${answerIds.length}) exceeds the model's context of ${maxContext}; shorten the question or the class names.`);
  }
  const ids = new Int32Array(length);
  ids[0] = revision.bosId;
  ids.fill(IMAGE_POSITION, 1, 1 + imageTokens);
  ids.set(prompt, 1 + imageTokens);
  ids.set(answerIds, 1 + imageTokens + prompt.length);
  const targets = new Int32Array(length).fill(IGNORE_LABEL);
  targets.set(answerIds, length - answerIds.length - 1);
  return { ids, targets, answerTokens: answerIds.length };
}

/**
 * The targets of a micro-batch whose sequences are padded to the longest: [sequences·length],
 * each sequence's own targets at its offset, IGNORE_LABEL on the padding.
 */
export function paddedTargets(sequences: readonly Pick<TrainingSequence, 'ids' | 'targets'>[]): { length: number; targets: Int32Array } {
  const length = Math.max(...sequences.map(({ ids }) => ids.length));
  const targets = new Int32Array(sequences.length * length).fill(IGNORE_LABEL);
  sequences.forEach(({ targets: own }, index) => targets.set(own, index * length));
  return { length, targets };
}
