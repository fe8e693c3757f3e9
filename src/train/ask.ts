// "Ask": any question about any image to the loaded model, with or without the trained LoRA
// adapter, its answer reported as it is written. The image is one of the dataset's or an image
// file the person drops on the page; either way it is decoded here like the dataset's images.
import { readImageBytes } from '../dataset/load.ts';
import { decodeImage } from '../dataset/decode-image.ts';
import type { CountingDataset, DatasetSource } from '../dataset/types.ts';
import type { LoraAdapters } from '../gpu/lora.ts';
import type { Moondream } from '../model/moondream.ts';
import { rgbImage } from '../model/rgb-image.ts';
import { TrainingInputError } from './input-error.ts';

/** One of the dataset's images, or an image file's bytes. */
export type AskImage = { imageIndex: number } | { bytes: Uint8Array; name: string };

export interface AskOptions {
  /** Answer with the trained run's LoRA adapter (when there is one). */
  withAdapter: boolean;
  /** Tokens generated at most (default 128). */
  maxTokens?: number;
}

export interface AskAnswer {
  answer: string;
  tokens: number;
  /** Whether the answer ended with EOS (else it reached maxTokens or the context). */
  hitEos: boolean;
  /** Whether the trained adapter answered. */
  withAdapter: boolean;
  seconds: number;
}

export const ASK_MAX_TOKENS = 128;

export async function askModel(
  model: Moondream,
  data: { source: DatasetSource; dataset: CountingDataset } | undefined,
  adapters: LoraAdapters | undefined,
  image: AskImage,
  question: string,
  options: AskOptions,
  onText?: (textSoFar: string) => void,
): Promise<AskAnswer> {
  if (!question.trim()) throw new TrainingInputError('Write a question to ask.');
  if (options.withAdapter && !adapters) throw new TrainingInputError('There is no trained LoRA adapter to answer with: train (or resume) a LoRA run, or ask without it.');
  let decoded;
  if ('imageIndex' in image) {
    const entry = data?.dataset.images[image.imageIndex];
    if (!data || !entry) throw new TrainingInputError(`There is no image ${image.imageIndex} in the loaded dataset.`);
    decoded = decodeImage(await readImageBytes(data.source, entry), entry.path);
  } else {
    try {
      decoded = decodeImage(image.bytes, image.name);
    } catch (error) {
      throw new TrainingInputError(`${image.name} cannot be read as an image: ${(error as Error).message}`);
    }
  }
  const pixels = rgbImage(decoded.width, decoded.height, decoded.rgb);
  const started = performance.now();
  const result = await model.query(pixels, question, {
    temperature: 0,
    maxTokens: options.maxTokens ?? ASK_MAX_TOKENS,
    lora: options.withAdapter ? adapters : undefined,
    onText,
  });
  return { answer: result.answer, tokens: result.tokens.length, hitEos: result.hitEos, withAdapter: options.withAdapter, seconds: (performance.now() - started) / 1000 };
}
