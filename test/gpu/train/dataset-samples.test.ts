// From a dataset upload to image embeddings: the fixture image (test/fixtures/moondream-tiny)
// read from a files upload, decoded and encoded, gives the golden image_embeddings within the
// vision tests' 1e-4 (values O(1), GPU sums in another order than PyTorch).
import { describe, expect, it } from 'vitest';
import type { DatasetImage, DatasetSource } from '../../../src/dataset/types.ts';
import { loadMoondream } from '../../../src/model/moondream.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { datasetImageEmbeddings, splitSamples } from '../../../src/train/dataset-samples.ts';
import { ImageFeatureCache } from '../../../src/train/feature-cache.ts';
import { fixtureBytes, goldenFile } from '../../helpers/fixture-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

const image = (split: DatasetImage['split'], path: string, answer: string): DatasetImage => ({
  split, fileName: path, path, width: 150, height: 100, objects: [], question: 'How many?', answer,
});

describe('dataset samples', () => {
  const dataset = { images: [image('train', 'train/a.png', '{}'), image('test', 'test/b.png', '{\n  "penny": 1\n}'), image('train', 'train/image.png', '{}')] };

  it('lists a split in dataset order', () => {
    expect(splitSamples(dataset, 'train')).toEqual([
      { imagePath: 'train/a.png', question: 'How many?', answer: '{}' },
      { imagePath: 'train/image.png', question: 'How many?', answer: '{}' },
    ]);
    expect(splitSamples(dataset, 'val')).toEqual([]);
  });

  it('computes an upload image\'s embeddings with the model\'s vision encoder', async () => {
    const engine = await testEngine();
    const model = await loadMoondream(engine, memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]])), { precision: 'f32' });
    const png = fixtureBytes('image.png');
    const source: DatasetSource = { kind: 'files', name: 'upload', files: [{ path: 'train/image.png', size: png.length, read: async () => png }] };
    const cache = new ImageFeatureCache(engine, datasetImageEmbeddings(engine, model.vision, source, dataset));
    const embeddings = await cache.get('train/image.png');
    const expected = goldenFile().float32('image_embeddings');
    const actual = await engine.readFloat(embeddings);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    expect(actual.length).toBe(expected.length);
    expect(worst).toBeLessThan(1e-4);
    embeddings.dispose();
    await expect(cache.get('train/missing.png')).rejects.toThrow(/not an image of the loaded dataset/);
    await expect(cache.get('train/a.png')).rejects.toThrow(/train\/a\.png is not in the upload any more/);
    model.dispose();
  });
});
