// Evaluation: answer every test question with greedy decoding (temperature 0, as the counting
// guide measured) on the model with the run's adapters (if any), then score the answers
// (metrics.ts). Images are answered in batches (generate-batch.ts): each batch's sequences
// [BOS + image + prompt] are prefilled together into a KV cache of one sequence per image, sized
// for the longest sample rather than the whole context, and decoded together with the argmax on
// the GPU (spec §8). With a token constraint (its mask is computed on the host from each step's
// logits) images are answered one at a time with `generate`. An image that cannot be decoded is
// skipped and named, not fatal.
import type { LoraAdapters } from '../gpu/lora.ts';
import { generate } from '../model/generate.ts';
import { generateBatch } from '../model/generate-batch.ts';
import type { TokenConstraint } from '../model/token-constraint.ts';
import { deriveDimensions } from '../model/config.ts';
import { KVCache } from '../model/kv-cache.ts';
import { queryPromptIds } from '../model/revisions.ts';
import { UnusableImageError, type ImageFeatureCache, type SkippedImage } from './feature-cache.ts';
import { evaluatePredictions, type EvaluatedSample, type EvaluationReport } from './metrics.ts';
import type { Tensor } from '../gpu/tensor.ts';
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
  /** Images answered together; default EVALUATION_BATCH (1: one at a time). */
  batchSize?: number;
}

/** Images per evaluation batch: one decode step for all of them costs about what one image's does. */
export const EVALUATION_BATCH = 16;

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
  const positions = Math.min(text.max_context, prefixLength + longestPrompt + maxTokens);
  const batchSize = options.constraint ? 1 : (options.batchSize ?? EVALUATION_BATCH);
  if (batchSize > 1) return evaluateInBatches(model, features, samples, classNames, prompts, { ...options, maxTokens, batchSize, positions });
  const cache = new KVCache(engine, text.n_layers, positions, text.dim);
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

/** Features of the samples' images, leaving out (and naming) those that cannot be decoded. */
async function usableImages(features: ImageFeatureCache, samples: readonly { index: number; sample: TrainingSample }[], skippedImages: SkippedImage[]) {
  const usable: { index: number; sample: TrainingSample; image: Tensor }[] = [];
  for (const { index, sample } of samples) {
    try {
      usable.push({ index, sample, image: await features.get(sample.imagePath) });
    } catch (error) {
      if (!(error instanceof UnusableImageError)) throw error;
      skippedImages.push({ path: error.path, reason: error.reason });
    }
  }
  return usable;
}

async function evaluateInBatches(
  model: TrainerModel,
  features: ImageFeatureCache,
  samples: readonly TrainingSample[],
  classNames: readonly string[],
  prompts: readonly Int32Array[],
  options: EvaluateOptions & { maxTokens: number; batchSize: number; positions: number },
): Promise<Evaluation> {
  const { engine, decoder, revision, tokenizer } = model;
  const { text } = revision.config;
  const { imageTokens } = deriveDimensions(revision.config);
  const evaluated: EvaluatedSample[] = [];
  const skippedImages: SkippedImage[] = [];
  // As many images at once as asked, fewer where the batch would pass the binding limit (its
  // activations, its KV cache, a row of logits per image).
  const longest = 1 + imageTokens + Math.max(...prompts.map((prompt) => prompt.length));
  const batchSize = Math.min(options.batchSize, decoder.sequencesPerPass(longest, { labelled: 1, cachePositions: options.positions }));
  for (let first = 0; first < samples.length; first += batchSize) {
    const chunk = samples.slice(first, first + batchSize).map((sample, i) => ({ index: first + i, sample }));
    const usable = await usableImages(features, chunk, skippedImages);
    if (usable.length > 0) {
      // [BOS, image…, prompt…] per image, right-padded to the longest.
      const sequences = usable.map(({ index, image }) => {
        const ids = new Int32Array(1 + imageTokens + prompts[index].length).fill(IMAGE_POSITION);
        ids[0] = revision.bosId;
        ids.set(prompts[index], 1 + imageTokens);
        return { ids, image };
      });
      const length = Math.max(...sequences.map(({ ids }) => ids.length));
      const cache = new KVCache(engine, text.n_layers, options.positions, text.dim, sequences.length);
      const inputs = decoder.embedBatch(null, sequences, length);
      for (const { image } of usable) image.dispose();
      try {
        const answers = await generateBatch(decoder, cache, inputs, sequences.map(({ ids }) => ids.length), {
          maxTokens: options.maxTokens,
          eosId: revision.eosId,
          suppressedTokens: revision.suppressedTokens,
          lora: options.lora,
        });
        answers.forEach(({ tokens }, i) => {
          const { sample } = usable[i];
          evaluated.push({ path: sample.imagePath, question: sample.question, expected: sample.answer, answer: tokenizer.decode(tokens) });
        });
      } finally {
        inputs.dispose();
        cache.dispose();
      }
    }
    options.onProgress?.(Math.min(first + batchSize, samples.length), samples.length);
  }
  return { ...evaluatePredictions(classNames, evaluated), skippedImages };
}
