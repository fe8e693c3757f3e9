// The converted dataset as a zip, for training where one browser tab is not enough (another
// machine, a multi-GPU cluster; docs/EXPORTS.md says how):
//
//   dataset.json        name, class names in order, the question template, images per split
//   train.jsonl         one line per image: {"image": "images/…", "question": "…", "answer": "…"}
//   val.jsonl, test.jsonl  (splits that have images)
//   images/<path>       every image as it came in the upload, stored without recompression
//
// The questions and answers are byte for byte the ones moontune trains and measures on. The zip
// is produced as a stream, one image at a time, so a large dataset is never held whole.
import { Zip, ZipDeflate, ZipPassThrough, strToU8 } from 'fflate';
import { readImageBytes } from '../dataset/load.ts';
import type { CountingDataset, DatasetSource, SplitName } from '../dataset/types.ts';

export const DATASET_EXPORT_FORMAT = 'moontune-counting-v1';
const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

/** The zip path of an image: its path in the upload, under images/. */
export function exportedImagePath(imagePath: string): string {
  return `images/${imagePath}`;
}

interface ZipEntry {
  readonly name: string;
  /** JSON and JSONL are deflated; images are already compressed and go in as they are. */
  readonly compress: boolean;
  read(): Promise<Uint8Array>;
}

/** The dataset's zip as a stream of bytes (the images are read from `source` as the stream is consumed). */
export function datasetExportStream(source: DatasetSource, dataset: CountingDataset): ReadableStream<Uint8Array> {
  const text = (name: string, content: string): ZipEntry => ({ name, compress: true, read: async () => strToU8(content) });
  const splits = SPLITS.filter((split) => dataset.images.some((image) => image.split === split));
  const entries: ZipEntry[] = [
    text('dataset.json', `${JSON.stringify({
      format: DATASET_EXPORT_FORMAT,
      name: dataset.name,
      classes: dataset.classes.map((entry) => entry.name),
      question: dataset.question,
      images: Object.fromEntries(splits.map((split) => [split, dataset.images.filter((image) => image.split === split).length])),
    }, null, 2)}\n`),
    ...splits.map((split) => text(`${split}.jsonl`, dataset.images
      .filter((image) => image.split === split)
      .map((image) => `${JSON.stringify({ image: exportedImagePath(image.path), question: image.question, answer: image.answer })}\n`)
      .join(''))),
    ...dataset.images.map((image): ZipEntry => ({ name: exportedImagePath(image.path), compress: false, read: () => readImageBytes(source, image) })),
  ];

  let zip: Zip;
  let next = 0;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      zip = new Zip((error, chunk, final) => {
        if (error) return controller.error(error);
        controller.enqueue(chunk);
        if (final) controller.close();
      });
    },
    // One entry per pull: the consumer's pace decides how many images are read ahead.
    async pull() {
      if (next === entries.length) {
        next++;
        zip.end();
        return;
      }
      if (next > entries.length) return;
      const entry = entries[next++];
      const data = await entry.read();
      const file = entry.compress ? new ZipDeflate(entry.name, { level: 6 }) : new ZipPassThrough(entry.name);
      zip.add(file);
      file.push(data, true);
    },
    cancel() {
      zip.terminate();
    },
  });
}
