// Figures the report shows, derived from a CountingDataset's stats (no DOM, no Svelte).
import type { CountingDataset, SplitName } from '../dataset/types.ts';

export const SPLIT_NAMES: SplitName[] = ['train', 'val', 'test'];

export interface Bar {
  label: string;
  value: number;
}

/** Objects of each class over all splits, in class order. */
export function classBars(dataset: CountingDataset): Bar[] {
  return dataset.classes.map((datasetClass, classIndex) => ({
    label: datasetClass.name,
    value: SPLIT_NAMES.reduce((sum, split) => sum + (dataset.stats[split].objectsPerClass[classIndex] ?? 0), 0),
  }));
}

/** Images with exactly k objects over all splits, for k = 0 … the largest count seen. */
export function objectCountBars(dataset: CountingDataset): Bar[] {
  const longest = Math.max(0, ...SPLIT_NAMES.map((split) => dataset.stats[split].imagesWithObjectCount.length));
  return Array.from({ length: longest }, (_, count) => ({
    label: String(count),
    value: SPLIT_NAMES.reduce((sum, split) => sum + (dataset.stats[split].imagesWithObjectCount[count] ?? 0), 0),
  }));
}

/** Indices into dataset.images of one split's images, in dataset order. */
export function imageIndicesOf(dataset: CountingDataset, split: SplitName): number[] {
  const indices: number[] = [];
  dataset.images.forEach((image, index) => {
    if (image.split === split) indices.push(index);
  });
  return indices;
}
