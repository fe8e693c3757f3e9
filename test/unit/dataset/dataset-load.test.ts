import { describe, expect, it } from 'vitest';
import { encode as encodeJpeg } from 'jpeg-js';
import { buildQuestion, DEFAULT_QUESTION_TEMPLATE, hasErrors, loadDataset, readImageBytes } from '../../../src/dataset/load.ts';
import type { CountingDataset } from '../../../src/dataset/types.ts';
import { cocoJson, filesSource, roboflowCategories, roboflowTree, solidPng, zipOf, zipSource, type TestImage } from '../../helpers/dataset-builders.ts';

// Classes: 1 = cat, 2 = dog (0 is Roboflow's placeholder "things").
const train: TestImage[] = [
  { file: 'a.png', boxes: [[1, 1, 1, 4, 4], [1, 8, 1, 4, 4], [2, 1, 8, 5, 5]] },
  { file: 'b.png', boxes: [[2, 2, 2, 3, 3]] },
  { file: 'c.png' },
];
const valid: TestImage[] = [{ file: 'a.png', boxes: [[1, 0, 0, 3, 3]] }]; // same file name and ids as train's a.png
const test: TestImage[] = [{ file: 'x.png', boxes: [[2, 0, 0, 3, 3], [2, 5, 5, 3, 3]] }];

const byFile = (dataset: CountingDataset, split: string, file: string) =>
  dataset.images.find((image) => image.split === split && image.fileName === file)!;

describe('loadDataset: Roboflow COCO zip', () => {
  it('reads all three splits, drops the placeholder class, answers each image', async () => {
    const dataset = await loadDataset(zipSource(roboflowTree({ train, valid, test })));
    expect(dataset.issues).toEqual([]);
    expect(hasErrors(dataset)).toBe(false);
    expect(dataset.classes).toEqual([{ id: 1, name: 'cat' }, { id: 2, name: 'dog' }]);
    expect(dataset.images.map((image) => `${image.split}/${image.fileName}`)).toEqual(['train/a.png', 'train/b.png', 'train/c.png', 'val/a.png', 'test/x.png']);

    const question = 'How many of each type of the object (cat, dog) are there? Respond in JSON format with the object type as the key and a integer count as the value.';
    expect(dataset.images.every((image) => image.question === question)).toBe(true);
    expect(byFile(dataset, 'train', 'a.png').answer).toBe('{\n  "cat": 2,\n  "dog": 1\n}');
    expect(byFile(dataset, 'train', 'b.png').answer).toBe('{\n  "dog": 1\n}');
    expect(byFile(dataset, 'train', 'c.png').answer).toBe('{}');
    // ids restart per split: val's image 0 has its own single cat, not train's image 0 boxes
    expect(byFile(dataset, 'val', 'a.png').answer).toBe('{\n  "cat": 1\n}');
    expect(byFile(dataset, 'val', 'a.png').path).toBe('valid/a.png');
    expect(byFile(dataset, 'test', 'x.png').answer).toBe('{\n  "dog": 2\n}');
  });

  it('computes per-split statistics', async () => {
    const dataset = await loadDataset(zipSource(roboflowTree({ train, valid, test })));
    expect(dataset.stats.train).toEqual({ images: 3, objects: 4, objectsPerClass: [2, 2], imagesWithObjectCount: [1, 1, 0, 1] });
    expect(dataset.stats.val).toEqual({ images: 1, objects: 1, objectsPerClass: [1, 0], imagesWithObjectCount: [0, 1] });
    expect(dataset.stats.test).toEqual({ images: 1, objects: 2, objectsPerClass: [0, 2], imagesWithObjectCount: [0, 0, 1] });
  });

  it('orders classes by category id, not by position in the file', async () => {
    const categories = [
      { id: 2, name: 'zebra', supercategory: 'animals' },
      { id: 0, name: 'animals', supercategory: 'none' },
      { id: 1, name: 'yak', supercategory: 'animals' },
    ];
    const dataset = await loadDataset(zipSource(roboflowTree({ train: [{ file: 'a.png', boxes: [[2, 0, 0, 2, 2], [1, 5, 5, 2, 2]] }] }, { categories })));
    expect(dataset.classes.map((entry) => entry.name)).toEqual(['yak', 'zebra']);
    expect(dataset.images[0].answer).toBe('{\n  "yak": 1,\n  "zebra": 1\n}');
  });

  it('drops the placeholder of a one-class Roboflow project, which shares the class\'s name', async () => {
    // The shape of real one-class exports: {id 0, "lego-face", "none"}, {id 1, "lego-face", "lego-face"}.
    const categories = [{ id: 0, name: 'lego-face', supercategory: 'none' }, { id: 1, name: 'lego-face', supercategory: 'lego-face' }];
    const images: TestImage[] = [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4], [1, 8, 8, 4, 4]] }];
    const dataset = await loadDataset(zipSource(roboflowTree({ train: images, test: images }, { categories })));
    expect(dataset.issues).toEqual([]);
    expect(dataset.classes).toEqual([{ id: 1, name: 'lego-face' }]);
    expect(dataset.images[0].question).toBe(buildQuestion(['lego-face']));
    expect(dataset.images[0].answer).toBe('{\n  "lego-face": 2\n}');
  });

  it('keeps every category of a plain COCO file (no placeholder)', async () => {
    const categories = [{ id: 1, name: 'cat', supercategory: 'animal' }, { id: 2, name: 'dog', supercategory: 'animal' }];
    const dataset = await loadDataset(zipSource(roboflowTree({ train }, { categories })));
    expect(dataset.classes.map((entry) => entry.name)).toEqual(['cat', 'dog']);
  });

  it('matches classes across splits by name when their ids differ', async () => {
    const swapped = [{ id: 0, name: 'things', supercategory: 'none' }, { id: 1, name: 'dog', supercategory: 'things' }, { id: 2, name: 'cat', supercategory: 'things' }];
    const tree = { ...roboflowTree({ train }), ...roboflowTree({ valid: [{ file: 'v.png', boxes: [[1, 0, 0, 3, 3]] }] }, { categories: swapped }) };
    const dataset = await loadDataset(zipSource(tree));
    expect(byFile(dataset, 'val', 'v.png').answer).toBe('{\n  "dog": 1\n}');
  });

  it('looks through one wrapping folder and accepts val/validation names', async () => {
    for (const folder of ['val', 'validation', 'valid', 'Valid']) {
      const dataset = await loadDataset(zipSource(roboflowTree({ train, [folder]: valid }), 'my-export-v3/'));
      expect(dataset.issues).toEqual([]);
      expect(dataset.stats.val.images).toBe(1);
      expect(byFile(dataset, 'val', 'a.png').path).toBe(`my-export-v3/${folder}/a.png`);
    }
  });

  it('ignores __MACOSX and .DS_Store entries added by macOS zips', async () => {
    // macOS puts __MACOSX beside the wrapping folder, so the wrapper is only seen once it is dropped.
    const wrapped = Object.fromEntries(Object.entries(roboflowTree({ train, valid })).map(([path, content]) => [`wrapped/${path}`, content]));
    const tree = { ...wrapped, '__MACOSX/wrapped/train/._a.png': 'junk', 'wrapped/train/.DS_Store': 'junk' };
    const dataset = await loadDataset(zipSource(tree));
    expect(dataset.issues).toEqual([]);
    expect(dataset.images).toHaveLength(4);
  });

  it('applies a custom noun and template', async () => {
    const dataset = await loadDataset(zipSource(roboflowTree({ train })), { question: { noun: 'currency' } });
    expect(dataset.images[0].question).toBe(
      'How many of each type of the currency (cat, dog) are there? Respond in JSON format with the currency type as the key and a integer count as the value.',
    );
    const custom = await loadDataset(zipSource(roboflowTree({ train })), { question: { template: 'Count {classes} $& {noun}s.' } });
    expect(custom.images[0].question).toBe('Count cat, dog $& objects.');
  });

  it('reports progress through every stage', async () => {
    const stages = new Set<string>();
    await loadDataset(zipSource(roboflowTree({ train })), { onProgress: (progress) => stages.add(progress.stage) });
    expect([...stages]).toEqual(['unzipping', 'parsing', 'checking images', 'building questions']);
  });

  it('reads image bytes back from the zip', async () => {
    const source = zipSource(roboflowTree({ train, valid }), 'wrap/');
    const dataset = await loadDataset(source);
    const bytes = await readImageBytes(source, byFile(dataset, 'val', 'a.png'));
    expect(bytes).toEqual(solidPng(20, 16));
    await expect(readImageBytes(source, { ...dataset.images[0], path: 'nope.png' })).rejects.toThrow(/nope\.png is not in the upload/);
  });
});

describe('loadDataset: folders and single files', () => {
  it('reads the same export given as a folder of files', async () => {
    const source = filesSource(roboflowTree({ train, valid, test }));
    const dataset = await loadDataset(source);
    expect(dataset.issues).toEqual([]);
    expect(dataset.images).toHaveLength(5);
    expect(await readImageBytes(source, byFile(dataset, 'test', 'x.png'))).toEqual(solidPng(20, 16));
  });

  it('reads a single COCO json plus its images as the train split, warning that nothing is held out', async () => {
    const source = filesSource({ 'labels.json': cocoJson(train), 'a.png': solidPng(20, 16), 'b.png': solidPng(20, 16), 'c.png': solidPng(20, 16) });
    const dataset = await loadDataset(source);
    expect(dataset.images.map((image) => image.split)).toEqual(['train', 'train', 'train']);
    expect(dataset.issues.map((issue) => [issue.severity, issue.code])).toEqual([['warning', 'no-evaluation-split']]);
  });

  it('finds classic COCO images in an images/ folder and splits by json file name', async () => {
    const source = filesSource({
      'annotations/instances_train.json': cocoJson([{ file: 'a.png' }]),
      'annotations/instances_val.json': cocoJson([{ file: 'b.png' }]),
      'annotations/images/a.png': solidPng(20, 16),
      'annotations/images/b.png': solidPng(20, 16),
    });
    const dataset = await loadDataset(source);
    expect(dataset.issues).toEqual([]);
    expect(dataset.images.map((image) => [image.split, image.path])).toEqual([['train', 'annotations/images/a.png'], ['val', 'annotations/images/b.png']]);
  });

  it('reads JPEG images (size from the JPEG header)', async () => {
    const jpeg = new Uint8Array(encodeJpeg({ width: 24, height: 12, data: new Uint8Array(24 * 12 * 4).fill(128) }, 80).data);
    const json = cocoJson([{ file: 'photo.jpg', width: 24, height: 12, boxes: [[2, 1, 1, 5, 5]] }]);
    const dataset = await loadDataset(filesSource({ 'train/_annotations.coco.json': json, 'train/photo.jpg': jpeg, 'test/_annotations.coco.json': json, 'test/photo.jpg': jpeg }));
    expect(dataset.issues).toEqual([]);
    expect(dataset.images.map((image) => image.answer)).toEqual(['{\n  "dog": 1\n}', '{\n  "dog": 1\n}']);
  });

  it('opens a zip dropped as the only file', async () => {
    const zip = zipOf(roboflowTree({ train }));
    const source = { kind: 'files' as const, name: 'drop', files: [{ path: 'export.zip', size: zip.length, read: async () => zip }] };
    const dataset = await loadDataset(source);
    expect(dataset.images).toHaveLength(3);
    expect(await readImageBytes(source, dataset.images[1])).toEqual(solidPng(20, 16));
  });
});

describe('question defaults', () => {
  it('is the original guide\'s question with the noun "object"', () => {
    expect(DEFAULT_QUESTION_TEMPLATE.noun).toBe('object');
    expect(buildQuestion(['dime', 'nickel'], { noun: 'currency' })).toBe(
      'How many of each type of the currency (dime, nickel) are there? Respond in JSON format with the currency type as the key and a integer count as the value.',
    );
  });

  it('uses the roboflow placeholder builder consistently', () => {
    expect(roboflowCategories(['a'])).toEqual([{ id: 0, name: 'things', supercategory: 'none' }, { id: 1, name: 'a', supercategory: 'things' }]);
  });
});
