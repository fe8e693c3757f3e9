// The converted dataset zip of the demo dataset, unpacked with fflate: dataset.json with the class
// order and question template, one JSONL per split whose lines are the dataset's own questions and
// answers, and every image byte for byte under the path its line names. A missing image errors the
// stream with the loader's message.
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { loadDataset, readImageBytes } from '../../../src/dataset/load.ts';
import { DATASET_EXPORT_FORMAT, datasetExportStream } from '../../../src/train/dataset-export.ts';
import { demoDatasetSource } from '../../helpers/demo-files.ts';

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('datasetExportStream', () => {
  it('writes dataset.json, a JSONL per split and the images the lines name', async () => {
    const source = demoDatasetSource();
    const dataset = await loadDataset(source);
    const files = unzipSync(await collect(datasetExportStream(source, dataset)));
    const info = JSON.parse(new TextDecoder().decode(files['dataset.json']));
    expect(info).toEqual({ format: DATASET_EXPORT_FORMAT, name: 'coins.coco.zip', classes: ['penny', 'nickel', 'dime', 'quarter'], question: dataset.question, images: { train: 1000, val: 100, test: 100 } });
    for (const split of ['train', 'val', 'test'] as const) {
      const lines = new TextDecoder().decode(files[`${split}.jsonl`]).trimEnd().split('\n').map((line) => JSON.parse(line));
      const images = dataset.images.filter((image) => image.split === split);
      expect(lines.map(({ question, answer }) => ({ question, answer }))).toEqual(images.map(({ question, answer }) => ({ question, answer })));
      for (const [index, line] of lines.entries()) {
        if (index % 25 !== 0) continue; // a sample of the images, byte for byte
        expect(files[line.image], line.image).toEqual(await readImageBytes(source, images[index]));
      }
    }
    expect(Object.keys(files).filter((name) => name.startsWith('images/'))).toHaveLength(1200);
  });

  it('errors the stream when an image is no longer in the upload', async () => {
    const source = demoDatasetSource();
    const dataset = await loadDataset(source);
    const gone = { ...dataset, images: [...dataset.images, { ...dataset.images[0], path: 'train/vanished.jpg' }] };
    await expect(collect(datasetExportStream(source, gone))).rejects.toThrow(/train\/vanished\.jpg is not in the upload any more; load the dataset again/);
  });
});
