import { describe, expect, it } from 'vitest';
import type { DatasetImage } from '../../../src/dataset/types.ts';
import { datasetFingerprint } from '../../../src/train/dataset-fingerprint.ts';

const image = (path: string, answer: string): DatasetImage => ({
  split: 'train', fileName: path, path, width: 64, height: 48, objects: [], question: 'How many?', answer,
});
const dataset = (images: DatasetImage[], classes = ['penny', 'dime']) => ({ classes: classes.map((name, id) => ({ id, name })), images });

describe('datasetFingerprint', () => {
  it('is a hex SHA-256, the same for the same data', async () => {
    const a = await datasetFingerprint(dataset([image('a.jpg', '{}')]));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await datasetFingerprint(dataset([image('a.jpg', '{}')]))).toBe(a);
  });

  it('changes with an answer, a path, a split, the image order or the class names', async () => {
    const base = await datasetFingerprint(dataset([image('a.jpg', '{}'), image('b.jpg', '{}')]));
    const variants = [
      dataset([image('a.jpg', '{\n  "penny": 1\n}'), image('b.jpg', '{}')]),
      dataset([image('a.jpg', '{}'), image('c.jpg', '{}')]),
      dataset([{ ...image('a.jpg', '{}'), split: 'test' }, image('b.jpg', '{}')]),
      dataset([image('b.jpg', '{}'), image('a.jpg', '{}')]),
      dataset([image('a.jpg', '{}'), image('b.jpg', '{}')], ['penny', 'nickel']),
    ];
    for (const variant of variants) expect(await datasetFingerprint(variant)).not.toBe(base);
  });
});
