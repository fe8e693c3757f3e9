// The bridge from a loaded dataset to the trainer: a split's counting questions as training
// samples, and the feature cache's compute function (image bytes from the upload → decoded RGB →
// the model's frozen vision encoder and projection, spec §4).
import { readImageBytes } from '../dataset/load.ts';
import { decodeImage } from '../dataset/decode-image.ts';
import type { CountingDataset, DatasetSource, SplitName } from '../dataset/types.ts';
import type { Engine } from '../gpu/engine.ts';
import { rgbImage } from '../model/rgb-image.ts';
import { imageEmbeddings } from '../model/vision-encoder.ts';
import type { ModelWeights } from '../model/weights.ts';
import type { ComputeImageEmbeddings } from './feature-cache.ts';
import type { TrainingSample } from './trainer.ts';

/** The split's images as (image path, question, answer), in dataset order. */
export function splitSamples(dataset: Pick<CountingDataset, 'images'>, split: SplitName): TrainingSample[] {
  return dataset.images
    .filter((image) => image.split === split)
    .map((image) => ({ imagePath: image.path, question: image.question, answer: image.answer }));
}

/** Computes an image's embeddings from its bytes in the upload, for ImageFeatureCache. */
export function datasetImageEmbeddings(engine: Engine, weights: ModelWeights, source: DatasetSource, dataset: Pick<CountingDataset, 'images'>): ComputeImageEmbeddings {
  const byPath = new Map(dataset.images.map((image) => [image.path, image]));
  return async (path) => {
    const image = byPath.get(path);
    if (!image) throw new Error(`${path} is not an image of the loaded dataset; load the dataset again.`);
    const decoded = decodeImage(await readImageBytes(source, image), image.path);
    return imageEmbeddings(engine, weights, rgbImage(decoded.width, decoded.height, decoded.rgb)).embeddings;
  };
}
