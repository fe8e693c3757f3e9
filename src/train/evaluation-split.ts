// Which split accuracy is measured on: the test split, else the val split, else — for a dataset
// with a train split only, as the dataset check's `no-evaluation-split` warning says — the train
// images, with a note that says so. The page and the CLI both ask here, so they measure the same.
import type { CountingDataset, SplitName } from '../dataset/types.ts';

export interface EvaluationSplit {
  split: SplitName;
  /** Images in that split. */
  images: number;
  /** Why the split is not the test split; absent when it is. */
  note?: string;
}

export function evaluationSplit(dataset: Pick<CountingDataset, 'images'>): EvaluationSplit {
  const count = (split: SplitName) => dataset.images.filter((image) => image.split === split).length;
  const test = count('test');
  if (test > 0) return { split: 'test', images: test };
  const val = count('val');
  if (val > 0) return { split: 'val', images: val, note: 'The dataset has no test split, so accuracy is measured on its val images.' };
  return {
    split: 'train',
    images: count('train'),
    note: 'The dataset has no val or test split, so accuracy is measured on the train images: training sees them, so the numbers flatter the model. Add a valid/ or test/ folder for an honest measurement.',
  };
}
