// Evaluation: answer every test question with greedy decoding (temperature 0, as the counting
// guide measured) on the model with the run's adapters (if any), then score the answers
// (metrics.ts). Each image's prefix (BOS + image embeddings) is prefilled into a KV cache sized
// for the longest sample rather than the whole context, then `generate` runs the prompt and the
// answer (spec §8). An image that cannot be decoded is skipped and named, not fatal.
import type { LoraAdapters } from '../gpu/lora.ts';
import { generate } from '../model/generate.ts';
import type { TokenConstraint } from '../model/token-constraint.ts';
import { deriveDimensions } from '../model/config.ts';
import { KVCache } from '../model/kv-cache.ts';
import { queryPromptIds } from '../model/revisions.ts';
import { UnusableImageError, type ImageFeatureCache, type SkippedImage } from './feature-cache.ts';
import { evaluatePredictions, type EvaluatedSample, type EvaluationReport } from './metrics.ts';
import type { TrainerModel, TrainingSample } from './trainer.ts';
import { IMAGE_POSITION } from './training-sequence.ts';

export interface EvaluateOptions {
  /** Tokens generated per answer at most (TrainingConfig.evalMaxTokens). */
  maxTokens: number;
  onProgress?: (done: number, total: number) => void;
  /** Decode only answers of this language (countAnswerConstraint); default unconstrained. */
  constraint?: TokenConstraint;
  /** LoRA adapters to answer with (a LoRA run's); none: the model as loaded (or as fully fine-tuned). */
  lora?: LoraAdapters;
}

/** The scores, and the images left out because they cannot be decoded. */
export interface Evaluation extends EvaluationReport {
  skippedImages: SkippedImage[];
}

export async function evaluateSamples(
  model: TrainerModel,
  features: ImageFeatureCache,
  samples: readonly TrainingSample[],
  classNames: readonly string[],
  options: EvaluateOptions,
): Promise<Evaluation> {
  const { engine, decoder, revision, tokenizer } = model;
  const { text } = revision.config;
  const { imageTokens } = deriveDimensions(revision.config);
  const prefixLength = 1 + imageTokens;
  const prompts = samples.map((sample) => Int32Array.from(queryPromptIds(revision, tokenizer, sample.question)));
  const longestPrompt = Math.max(0, ...prompts.map((prompt) => prompt.length));
  const room = text.max_context - prefixLength - longestPrompt;
  if (samples.length > 0 && room < 1) throw new Error(`The image and a ${longestPrompt}-token question fill the model's ${text.max_context}-position context; shorten the question.`);
  const maxTokens = Math.min(options.maxTokens, room);
  const cache = new KVCache(engine, text.n_layers, Math.min(text.max_context, prefixLength + longestPrompt + maxTokens), text.dim);
  const prefixIds = new Int32Array(prefixLength).fill(IMAGE_POSITION);
  prefixIds[0] = revision.bosId;

  const evaluated: EvaluatedSample[] = [];
  const skippedImages: SkippedImage[] = [];
  try {
    for (const [index, sample] of samples.entries()) {
      let image;
      try {
        image = await features.get(sample.imagePath);
      } catch (error) {
        if (!(error instanceof UnusableImageError)) throw error;
        skippedImages.push({ path: error.path, reason: error.reason });
        options.onProgress?.(index + 1, samples.length);
        continue;
      }
      cache.truncate(0);
      engine.scope(() => {
        decoder.forward(null, decoder.embed(null, prefixIds, image), { cache, lora: options.lora });
      });
      image.dispose();
      const { tokens } = await generate(decoder, cache, prompts[index], {
        temperature: 0,
        topP: 1,
        maxTokens,
        eosId: revision.eosId,
        suppressedTokens: revision.suppressedTokens,
        constraint: options.constraint,
        lora: options.lora,
      });
      evaluated.push({ path: sample.imagePath, question: sample.question, expected: sample.answer, answer: tokenizer.decode(tokens) });
      options.onProgress?.(index + 1, samples.length);
    }
  } finally {
    cache.dispose();
  }
  return { ...evaluatePredictions(classNames, evaluated), skippedImages };
}
