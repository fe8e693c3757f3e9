// Export layouts of the tools people label with, built to match each tool's documented output
// (file names, folders, json fields): CVAT COCO 1.0, COCO 2017, Label Studio, FiftyOne.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/dataset/load.ts';
import type { CountingDataset } from '../../../src/dataset/types.ts';
import { filesSource, solidPng, zipSource, type FileTree } from '../../helpers/dataset-builders.ts';

const png = solidPng(20, 16);
const codes = (dataset: CountingDataset) => dataset.issues.map((issue) => issue.code);
const found = (dataset: CountingDataset) => dataset.images.map((image) => [image.split, image.path, image.answer]);

/** A COCO file in a tool's own shape: `fields` adds what that tool writes beside the core ones. */
function coco(files: { name: string; boxes?: [number, number, number, number, number][] }[], categories: object[], fields: { image?: object; annotation?: object; top?: object } = {}): object {
  const annotations = files.flatMap((file, index) =>
    (file.boxes ?? []).map(([category, x, y, width, height]) => ({ image_id: index + 1, category_id: category, bbox: [x, y, width, height], area: width * height, iscrowd: 0, ...fields.annotation })),
  );
  return {
    ...fields.top,
    categories,
    images: files.map((file, index) => ({ id: index + 1, file_name: file.name, width: 20, height: 16, ...fields.image })),
    annotations: annotations.map((annotation, index) => ({ id: index + 1, ...annotation })),
  };
}

describe('CVAT "COCO 1.0" export', () => {
  // annotations/instances_<subset>.json; with "save images", images/ beside annotations/.
  const categories = [{ id: 1, name: 'car', supercategory: '' }, { id: 2, name: 'bus', supercategory: '' }];
  const cvatFields = { image: { license: 0, flickr_url: '', coco_url: '', date_captured: 0 }, annotation: { segmentation: [], attributes: { occluded: false } }, top: { licenses: [{ name: '', id: 0, url: '' }], info: { contributor: '', date_created: '', description: '', url: '', version: '', year: '' } } };

  it('one task: annotations/instances_default.json and images/', async () => {
    const tree: FileTree = {
      'annotations/instances_default.json': coco([{ name: 'frame_000000.png', boxes: [[1, 1, 1, 5, 5]] }, { name: 'frame_000001.png', boxes: [[2, 2, 2, 5, 5], [1, 10, 2, 5, 5]] }], categories, cvatFields),
      'images/frame_000000.png': png,
      'images/frame_000001.png': png,
    };
    const dataset = await loadDataset(zipSource(tree, '', 'task_1-2024_01_01-coco 1.0.zip'));
    expect(codes(dataset)).toEqual(['no-evaluation-split']);
    expect(found(dataset)).toEqual([
      ['train', 'images/frame_000000.png', '{\n  "car": 1\n}'],
      ['train', 'images/frame_000001.png', '{\n  "car": 1,\n  "bus": 1\n}'],
    ]);
  });

  it('a project with Train and Validation subsets: images/<subset>/', async () => {
    const tree: FileTree = {
      'annotations/instances_Train.json': coco([{ name: 'a.png', boxes: [[1, 1, 1, 5, 5]] }], categories, cvatFields),
      'annotations/instances_Validation.json': coco([{ name: 'a.png', boxes: [[2, 1, 1, 5, 5]] }], categories, cvatFields),
      'images/Train/a.png': png,
      'images/Validation/a.png': png,
    };
    const dataset = await loadDataset(zipSource(tree));
    expect(dataset.issues).toEqual([]);
    expect(found(dataset)).toEqual([
      ['train', 'images/Train/a.png', '{\n  "car": 1\n}'],
      ['val', 'images/Validation/a.png', '{\n  "bus": 1\n}'],
    ]);
  });
});

describe('the COCO 2017 layout', () => {
  const categories = [{ supercategory: 'person', id: 1, name: 'person' }, { supercategory: 'vehicle', id: 3, name: 'car' }];
  const tree: FileTree = {
    'annotations/instances_train2017.json': coco([{ name: '000000000009.jpg', boxes: [[1, 1, 1, 5, 5]] }], categories),
    'annotations/instances_val2017.json': coco([{ name: '000000000139.jpg', boxes: [[3, 1, 1, 5, 5], [3, 9, 1, 5, 5]] }], categories),
    // beside them in the same download, and not detection files
    'annotations/captions_train2017.json': { images: [], annotations: [{ image_id: 9, caption: 'a person' }] },
    'annotations/person_keypoints_val2017.json': coco([{ name: '000000000139.jpg' }], categories),
    'train2017/000000000009.jpg': png,
    'val2017/000000000139.jpg': png,
  };

  it('instances_<split>2017.json with train2017/ and val2017/; captions and keypoints files ignored', async () => {
    const dataset = await loadDataset(filesSource(tree, 'coco'));
    expect(dataset.issues).toEqual([]);
    expect(found(dataset)).toEqual([
      ['train', 'train2017/000000000009.jpg', '{\n  "person": 1\n}'],
      ['val', 'val2017/000000000139.jpg', '{\n  "car": 2\n}'],
    ]);
  });

  it('--split val loads the val split alone, asking for no train split', async () => {
    const dataset = await loadDataset(filesSource(tree, 'coco'), { split: 'val' });
    expect(dataset.issues).toEqual([]);
    expect(found(dataset)).toEqual([['val', 'val2017/000000000139.jpg', '{\n  "car": 2\n}']]);
  });
});

describe('Label Studio "COCO" export', () => {
  // result.json beside images/; ids from 0, no supercategory; file_name relative to result.json
  // with Windows backslashes, or (1.16) a path into Label Studio's media folder.
  const categories = [{ id: 0, name: 'Airplane' }, { id: 1, name: 'Car' }];
  const labelStudio = (names: string[]) => ({
    ...coco(names.map((name, index) => ({ name, boxes: [[index % 2, 2, 2, 6, 6]] })), categories, { annotation: { ignore: 0, segmentation: [] } }),
    info: { year: 2024, version: '1.0', description: '', contributor: 'Label Studio', url: '', date_created: '2024-05-01 10:00:00.000000' },
  });

  it.each([
    ['images\\\\cb0618f6-plane.png', 'images\\\\9d2c-car.png'],
    ['images/cb0618f6-plane.png', 'images/9d2c-car.png'],
    ['..\\\\..\\\\label-studio\\\\media\\\\upload\\\\4\\\\cb0618f6-plane.png', '..\\\\..\\\\label-studio\\\\media\\\\upload\\\\4\\\\9d2c-car.png'],
  ])('file_name %s', async (...names) => {
    const tree: FileTree = { 'result.json': labelStudio(names), 'images/cb0618f6-plane.png': png, 'images/9d2c-car.png': png };
    const dataset = await loadDataset(zipSource(tree, '', 'project-4-at-2024-05-01.zip'));
    expect(codes(dataset)).toEqual(['no-evaluation-split']);
    expect(found(dataset)).toEqual([
      ['train', 'images/cb0618f6-plane.png', '{\n  "Airplane": 1\n}'],
      ['train', 'images/9d2c-car.png', '{\n  "Car": 1\n}'],
    ]);
  });
});

describe('FiftyOne COCODetectionDataset export', () => {
  // labels.json beside data/; "license": null and "score" in annotations; one export per split.
  const categories = [{ id: 1, name: 'cat', supercategory: null }, { id: 2, name: 'dog', supercategory: null }];
  const fiftyOne = (name: string, category: number) =>
    coco([{ name, boxes: [[category, 1, 1, 5, 5]] }], categories, {
      image: { license: null, date_captured: null },
      annotation: { score: 0.95, supercategory: null },
      top: { info: { year: '', version: '', description: 'Exported from FiftyOne', contributor: '', url: 'https://voxel51.com/fiftyone', date_created: '2024-05-01T09:48:27' }, licenses: [] },
    });

  it('train/ and validation/ exports, each labels.json with data/; a nested and an absolute file_name', async () => {
    const tree: FileTree = {
      'train/labels.json': fiftyOne('2024/000880.png', 1),
      'train/data/2024/000880.png': png,
      'validation/labels.json': fiftyOne('/home/me/fiftyone/quickstart/data/001599.png', 2),
      'validation/data/001599.png': png,
    };
    const dataset = await loadDataset(filesSource(tree, 'quickstart-coco'));
    expect(dataset.issues).toEqual([]);
    expect(found(dataset)).toEqual([
      ['train', 'train/data/2024/000880.png', '{\n  "cat": 1\n}'],
      ['val', 'validation/data/001599.png', '{\n  "dog": 1\n}'],
    ]);
  });

  it('a single export is the train split, or the split --split names', async () => {
    const tree: FileTree = { 'labels.json': fiftyOne('000880.png', 1), 'data/000880.png': png };
    expect(found(await loadDataset(filesSource(tree)))).toEqual([['train', 'data/000880.png', '{\n  "cat": 1\n}']]);
    const asTest = await loadDataset(filesSource(tree), { split: 'test' });
    expect(asTest.issues).toEqual([]);
    expect(found(asTest)).toEqual([['test', 'data/000880.png', '{\n  "cat": 1\n}']]);
  });
});
