// The shipped demo model (public/demo-model/) and demo dataset (public/demo/coins.coco.zip), read
// from the repository for tests that run the real page flow in Node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../../src/dataset/decode-image.ts';
import { loadDataset, readImageBytes } from '../../src/dataset/load.ts';
import type { CountingDataset, DatasetImage, DatasetSource } from '../../src/dataset/types.ts';
import { memoryModelFiles, type ModelFiles } from '../../src/model/model-source.ts';
import { rgbImage, type RgbImage } from '../../src/model/rgb-image.ts';

export const REPOSITORY_ROOT = join(import.meta.dirname, '..', '..');
export const DEMO_MODEL_DIR = join(REPOSITORY_ROOT, 'public', 'demo-model');
export const DEMO_MODEL_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'] as const;

/** The demo model's files by name, in memory (replace one to load a variant, e.g. merged weights). */
export function demoModelContents(): Map<string, Uint8Array> {
  return new Map(DEMO_MODEL_FILES.map((file) => [file, new Uint8Array(readFileSync(join(DEMO_MODEL_DIR, file)))]));
}

export function demoModelFiles(contents = demoModelContents()): ModelFiles {
  return memoryModelFiles('public/demo-model', contents);
}

export function demoDatasetSource(): DatasetSource {
  return { kind: 'zip', name: 'coins.coco.zip', data: new Uint8Array(readFileSync(join(REPOSITORY_ROOT, 'public', 'demo', 'coins.coco.zip'))) };
}

/** The demo dataset, and its first test image decoded for Moondream.query. */
export async function demoTestImage(): Promise<{ source: DatasetSource; dataset: CountingDataset; sample: DatasetImage; image: RgbImage }> {
  const source = demoDatasetSource();
  const dataset = await loadDataset(source);
  const sample = dataset.images.find((entry) => entry.split === 'test')!;
  const decoded = decodeImage(await readImageBytes(source, sample), sample.path);
  return { source, dataset, sample, image: rgbImage(decoded.width, decoded.height, decoded.rgb) };
}
