// The bridge from a loaded dataset to the trainer: a split's counting questions as training
// samples, the images decoded from the upload, and the feature cache's compute function
// (decoded RGB → the model's vision encoder and projection, spec §4).
import { readImageBytes } from '../dataset/load.ts';
import { decodeImage, ImageDecodeError } from '../dataset/decode-image.ts';
import type { CountingDataset, DatasetSource, SplitName } from '../dataset/types.ts';
import type { Engine } from '../gpu/engine.ts';
import { rgbImage, type RgbImage } from '../model/rgb-image.ts';
import { imageEmbeddings, type VisionModel } from '../model/vision-encoder.ts';
import { UnusableImageError, type ComputeImageEmbeddings } from './feature-cache.ts';
import type { TrainingSample } from './trainer.ts';

/** The split's images as (image path, question, answer), in dataset order. */
export function splitSamples(dataset: Pick<CountingDataset, 'images'>, split: SplitName): TrainingSample[] {
  return dataset.images
    .filter((image) => image.split === split)
    .map((image) => ({ imagePath: image.path, question: image.question, answer: image.answer }));
}

/** Decodes a dataset image (by its path in the upload) to RGB. */
export function datasetImageLoader(source: DatasetSource, dataset: Pick<CountingDataset, 'images'>): (path: string) => Promise<RgbImage> {
  const byPath = new Map(dataset.images.map((image) => [image.path, image]));
  return async (path) => {
    const image = byPath.get(path);
    if (!image) throw new Error(`${path} is not an image of the loaded dataset; load the dataset again.`);
    const decoded = decodeImage(await readImageBytes(source, image), image.path);
    return rgbImage(decoded.width, decoded.height, decoded.rgb);
  };
}

/**
 * datasetImageLoader for training and measuring: an image of the dataset whose bytes are gone or
 * do not decode is an UnusableImageError (the caller skips it); a path outside the dataset is not.
 */
export function usableImageLoader(source: DatasetSource, dataset: Pick<CountingDataset, 'images'>): (path: string) => Promise<RgbImage> {
  const paths = new Set(dataset.images.map((image) => image.path));
  const load = datasetImageLoader(source, dataset);
  return async (path) => {
    try {
      return await load(path);
    } catch (error) {
      if (!paths.has(path)) throw error; // not an image of this dataset: the caller's mistake
      throw new UnusableImageError(path, error instanceof ImageDecodeError ? error.reason : (error as Error).message);
    }
  };
}

/**
 * Computes an image's embeddings from its bytes in the upload, for ImageFeatureCache; an image
 * that cannot be decoded is an UnusableImageError, a failure of the vision encoder itself is not.
 */
export function datasetImageEmbeddings(engine: Engine, vision: VisionModel, source: DatasetSource, dataset: Pick<CountingDataset, 'images'>): ComputeImageEmbeddings {
  const load = usableImageLoader(source, dataset);
  return async (path) => imageEmbeddings(engine, vision, await load(path)).embeddings;
}
