// Which split a measurement uses: test, else val, else the train images with a note that says so.
import { describe, expect, it } from 'vitest';
import type { SplitName } from '../../../src/dataset/types.ts';
import { evaluationSplit } from '../../../src/train/evaluation-split.ts';

const datasetWith = (splits: SplitName[]) => ({ images: splits.map((split, index) => ({ split, path: `${split}/${index}.png` })) }) as Parameters<typeof evaluationSplit>[0];

describe('evaluationSplit', () => {
  it('takes the test split when it has images, without a note', () => {
    expect(evaluationSplit(datasetWith(['train', 'val', 'test', 'test']))).toEqual({ split: 'test', images: 2 });
  });

  it('falls back to val, saying so', () => {
    const target = evaluationSplit(datasetWith(['train', 'val', 'val', 'val']));
    expect(target).toMatchObject({ split: 'val', images: 3 });
    expect(target.note).toMatch(/no test split.*val images/);
  });

  it('measures a train-only dataset on its train images, and says they flatter the model', () => {
    const target = evaluationSplit(datasetWith(['train', 'train']));
    expect(target).toMatchObject({ split: 'train', images: 2 });
    expect(target.note).toMatch(/no val or test split.*train images.*training sees them.*Add a valid\/ or test\/ folder/);
  });
});
