// Every validation case of src/dataset/README.md: its severity, its code, and a message naming
// the file and the entry. Broken inputs are built in memory from a small valid export.
import { describe, expect, it } from 'vitest';
import { hasErrors, loadDataset } from '../../../src/dataset/load.ts';
import type { CountingDataset, DatasetIssue } from '../../../src/dataset/types.ts';
import { cocoJson, noisyPng, roboflowTree, solidPng, zipSource, type FileTree, type TestImage } from '../../helpers/dataset-builders.ts';

const TRAIN_JSON = 'train/_annotations.coco.json';
const good: TestImage[] = [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png' }];
const validSplit: TestImage[] = [{ file: 'v.png', boxes: [[2, 1, 1, 4, 4]] }];

const load = (tree: FileTree, imageCheck: 'header' | 'decode' = 'header') => loadDataset(zipSource(tree), { imageCheck });
/** A valid train + valid export whose train split is replaced by `images`. */
const withTrain = (images: TestImage[], extra: FileTree = {}) => ({ ...roboflowTree({ train: images, valid: validSplit }), ...extra });
const only = (dataset: CountingDataset, code: string): DatasetIssue[] => dataset.issues.filter((issue) => issue.code === code);
const answerOf = (dataset: CountingDataset, file: string) => dataset.images.find((image) => image.fileName === file)?.answer;

function expectSingleIssue(dataset: CountingDataset, severity: 'error' | 'warning', code: string, ...mentions: RegExp[]): DatasetIssue {
  const found = only(dataset, code);
  expect(found, JSON.stringify(dataset.issues)).toHaveLength(1);
  expect(found[0].severity).toBe(severity);
  for (const mention of mentions) expect(found[0].message).toMatch(mention);
  return found[0];
}

describe('unreadable annotation files (errors)', () => {
  it('malformed JSON', async () => {
    const dataset = await load(withTrain(good, { [TRAIN_JSON]: '{"images": [,]}' }));
    const issue = expectSingleIssue(dataset, 'error', 'unreadable-json', /^train\/_annotations\.coco\.json: not valid JSON/);
    expect(issue.file).toBe(TRAIN_JSON);
    expect(dataset.images.filter((image) => image.split === 'train')).toEqual([]);
    // reported once, not again as a missing train split
    expect(dataset.issues.map((entry) => entry.code)).toEqual(['unreadable-json']);
  });

  it('truncated JSON: the dataset has no images and an error', async () => {
    const text = JSON.stringify(cocoJson(good));
    const tree = { ...roboflowTree({ train: good }), [TRAIN_JSON]: text.slice(0, text.length / 2) };
    const dataset = await load(tree);
    expectSingleIssue(dataset, 'error', 'unreadable-json', /train\/_annotations\.coco\.json/, /truncated/);
    expect(dataset.images).toEqual([]);
    expect(hasErrors(dataset)).toBe(true);
  });

  it('JSON that is not an object', async () => {
    expectSingleIssue(await load(withTrain(good, { [TRAIN_JSON]: '[1, 2]' })), 'error', 'not-coco', /train\/_annotations\.coco\.json/);
  });

  it.each(['images', 'annotations', 'categories'])('missing "%s"', async (field) => {
    const json = cocoJson(good);
    delete json[field];
    const dataset = await load(withTrain(good, { [TRAIN_JSON]: json }));
    expectSingleIssue(dataset, 'error', 'missing-field', new RegExp(`train/_annotations\\.coco\\.json: has no "${field}" array`));
  });

  it('no annotation file at all', async () => {
    const dataset = await load({ 'train/a.png': solidPng(4, 4) });
    expectSingleIssue(dataset, 'error', 'no-annotation-file', /test\.zip: no COCO annotation file found/);
  });

  it('an upload that is not a zip', async () => {
    const dataset = await loadDataset({ kind: 'zip', name: 'broken.zip', data: new TextEncoder().encode('not a zip at all, just text') });
    expectSingleIssue(dataset, 'error', 'unreadable-upload', /broken\.zip: not a readable zip archive/);
    expect(dataset.images).toEqual([]);
  });
});

describe('entries of the annotation file', () => {
  it('annotation pointing to an unknown image: warning, ignored, counts unchanged', async () => {
    const json = cocoJson(good);
    (json.annotations as object[]).push({ id: 99, image_id: 42, category_id: 1, bbox: [0, 0, 2, 2] });
    const dataset = await load(withTrain(good, { [TRAIN_JSON]: json }));
    expectSingleIssue(dataset, 'warning', 'unknown-image', /train\/_annotations\.coco\.json: annotations\[1\] points to image_id 42/);
    expect(hasErrors(dataset)).toBe(false);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 1\n}');
  });

  it('annotation pointing to an unknown category: error (the image would be miscounted)', async () => {
    const images: TestImage[] = [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4], [7, 2, 2, 3, 3]] }];
    expectSingleIssue(await load(withTrain(images)), 'error', 'unknown-category', /annotations\[1\] has category_id 7/);
  });

  it('annotation without a usable bbox: error', async () => {
    const json = cocoJson(good);
    (json.annotations as { bbox: unknown }[])[0].bbox = [1, 2, 3];
    expectSingleIssue(await load(withTrain(good, { [TRAIN_JSON]: json })), 'error', 'invalid-annotation', /annotations\[0\]/);
  });

  it('duplicate file names: error', async () => {
    const images: TestImage[] = [{ file: 'a.png' }, { file: 'b.png' }, { file: 'a.png', boxes: [[1, 0, 0, 2, 2]] }];
    expectSingleIssue(await load(withTrain(images)), 'error', 'duplicate-file-name', /images\[2\] repeats file_name "a\.png" of images\[0\]/);
  });

  it('duplicate image ids: error', async () => {
    const json = cocoJson(good);
    (json.images as { id: number }[])[1].id = 0;
    expectSingleIssue(await load(withTrain(good, { [TRAIN_JSON]: json })), 'error', 'duplicate-image-id', /images\[1\] repeats id 0/);
  });

  it('image entry without a size: error', async () => {
    const json = cocoJson(good);
    delete (json.images as { width?: number }[])[1].width;
    expectSingleIssue(await load(withTrain(good, { [TRAIN_JSON]: json })), 'error', 'invalid-image-entry', /images\[1\] needs/);
  });

  it('category without a name, repeated ids, no categories: errors', async () => {
    const broken = (categories: object[]) => load(roboflowTree({ train: good }, { categories }));
    expectSingleIssue(await broken([{ id: 1 }, { id: 2, name: 'dog' }]), 'error', 'invalid-category', /categories\[0\]/);
    expectSingleIssue(await broken([{ id: 1, name: 'cat' }, { id: 1, name: 'dog' }]), 'error', 'duplicate-category-id', /categories\[1\] repeats id 1/);
    expectSingleIssue(await broken([]), 'error', 'no-categories', /"categories" is empty/);
  });

  it('two categories with one name: warning, their objects counted together', async () => {
    const categories = [{ id: 1, name: 'cat' }, { id: 2, name: 'dog' }, { id: 3, name: 'cat' }];
    const images: TestImage[] = [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4], [3, 8, 8, 4, 4], [2, 8, 1, 4, 4]] }];
    const dataset = await load(roboflowTree({ train: images }, { categories }));
    expectSingleIssue(dataset, 'warning', 'duplicate-class-name', /categories with ids 1 and 3 are both named "cat"/);
    expect(dataset.classes).toEqual([{ id: 1, name: 'cat' }, { id: 2, name: 'dog' }]);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 2,\n  "dog": 1\n}');
  });

  it('a placeholder-shaped category that is used: warning, kept as a class', async () => {
    const images: TestImage[] = [{ file: 'a.png', boxes: [[0, 1, 1, 4, 4], [1, 8, 8, 4, 4]] }];
    const dataset = await load(roboflowTree({ train: images, valid: validSplit }));
    expectSingleIssue(dataset, 'warning', 'placeholder-has-annotations', /category "things" \(id 0\)/);
    expect(dataset.classes.map((entry) => entry.name)).toEqual(['things', 'cat', 'dog']);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "things": 1,\n  "cat": 1\n}');
  });
});

describe('image files', () => {
  it('listed but missing from the upload: warning, image left out', async () => {
    const dataset = await load(roboflowTree({ train: good, valid: validSplit }, { omit: ['train/b.png'] }));
    const issue = expectSingleIssue(dataset, 'warning', 'missing-image', /train\/_annotations\.coco\.json: image "b\.png" is listed but not in the upload/);
    expect(issue.split).toBe('train');
    expect(dataset.images.map((image) => image.fileName)).toEqual(['a.png', 'v.png']);
    expect(dataset.stats.train.images).toBe(1);
  });

  it('undecodable bytes: warning, image left out', async () => {
    const dataset = await load(withTrain(good, { 'train/b.png': 'this is not an image' }));
    expectSingleIssue(dataset, 'warning', 'undecodable-image', /image "b\.png" is not a PNG or JPEG image; re-export .* It is left out\./);
    expect(dataset.stats.train.images).toBe(1);
  });

  it.each(['header', 'decode'] as const)('a truncated PNG is caught by the %s check', async (mode) => {
    const png = solidPng(20, 16);
    const dataset = await load(withTrain(good, { 'train/b.png': png.subarray(0, png.length - 30) }), mode);
    expectSingleIssue(dataset, 'warning', 'undecodable-image', /"b\.png" stops before its end marker/);
  });

  it('corrupt pixel data with an intact ending is caught by the default check, which decodes', async () => {
    const corrupt = noisyPng(20, 16);
    corrupt.fill(0xff, 45, 70); // inside IDAT: breaks the deflate stream, keeps IHDR and IEND
    const tree = withTrain(good, { 'train/b.png': corrupt });
    expect(only(await load(tree, 'header'), 'undecodable-image')).toEqual([]);
    const dataset = await loadDataset(zipSource(tree));
    const issue = expectSingleIssue(dataset, 'warning', 'undecodable-image', /^train\/_annotations\.coco\.json: image "b\.png" has corrupt PNG data \(.+\); export or copy the image again\. It is left out\.$/);
    expect(issue.file).toBe('train/b.png');
    expect(dataset.images.map((image) => image.fileName)).toEqual(['a.png', 'v.png']);
  });

  it('file size differs from the listed size: warning, image kept at its real size', async () => {
    const dataset = await load(withTrain(good, { 'train/b.png': solidPng(30, 16) }));
    expectSingleIssue(dataset, 'warning', 'image-size-mismatch', /"b\.png" is 30×16 but listed as 20×16; its boxes are checked against its real 30×16 pixels/);
    expect(dataset.stats.train.images).toBe(2);
    expect(dataset.images.find((image) => image.fileName === 'b.png')).toMatchObject({ width: 30, height: 16 });
  });

  it('boxes are judged against the real size, and the two messages agree', async () => {
    // Listed as 20×16, really 40×32: the box at x = 25 lies inside the real image, the one at
    // x = 45 outside it. Judged by the json's size both would have been "outside".
    const images: TestImage[] = [{ file: 'a.png', boxes: [[1, 25, 2, 4, 4], [2, 45, 2, 4, 4]] }];
    const dataset = await load(withTrain(images, { 'train/a.png': solidPng(40, 32) }));
    expectSingleIssue(dataset, 'warning', 'image-size-mismatch', /"a\.png" is 40×32 but listed as 20×16; its boxes are checked against its real 40×32 pixels/);
    expectSingleIssue(dataset, 'warning', 'box-outside-image', /annotations\[1\] on "a\.png" has a box \[45, 2, 4, 4\] entirely outside the 40×32 image; it is not counted/);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 1\n}');

    // The other way round (really smaller than listed): a box that fits the listed 20×16 but
    // not the real 10×8 is outside.
    const smaller = await load(withTrain([{ file: 'a.png', boxes: [[1, 1, 1, 3, 3], [1, 12, 2, 4, 4]] }], { 'train/a.png': solidPng(10, 8) }));
    expectSingleIssue(smaller, 'warning', 'box-outside-image', /\[12, 2, 4, 4\] entirely outside the 10×8 image/);
    expect(answerOf(smaller, 'a.png')).toBe('{\n  "cat": 1\n}');
  });
});

describe('boxes (images are 20×16)', () => {
  it('entirely outside the image: warning, not counted', async () => {
    const dataset = await load(withTrain([{ file: 'a.png', boxes: [[1, 1, 1, 4, 4], [1, 25, 2, 4, 4]] }]));
    expectSingleIssue(dataset, 'warning', 'box-outside-image', /annotations\[1\] on "a\.png" has a box \[25, 2, 4, 4\] entirely outside/);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 1\n}');
  });

  it('reaching past the edge: warning, counted; within 1 px: no warning', async () => {
    const dataset = await load(withTrain([{ file: 'a.png', boxes: [[1, 17, 2, 6, 4], [2, 15.5, 12.5, 5.5, 4.5]] }]));
    expectSingleIssue(dataset, 'warning', 'box-crosses-edge', /annotations\[0\] on "a\.png"/);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 1,\n  "dog": 1\n}');
  });

  it('a crowd annotation: warning, counted once', async () => {
    const json = cocoJson([{ file: 'a.png', boxes: [[1, 1, 1, 8, 8], [2, 10, 1, 4, 4]] }]);
    (json.annotations as { iscrowd: number }[])[0].iscrowd = 1;
    const dataset = await load(withTrain([{ file: 'a.png' }], { [TRAIN_JSON]: json }));
    expectSingleIssue(dataset, 'warning', 'crowd-annotation', /annotations\[0\] on "a\.png" marks a crowd/);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 1,\n  "dog": 1\n}');
  });

  it('zero size: warning, not counted', async () => {
    const dataset = await load(withTrain([{ file: 'a.png', boxes: [[1, 3, 3, 0, 5], [1, 1, 1, 4, 4]] }]));
    expectSingleIssue(dataset, 'warning', 'empty-box', /annotations\[0\] on "a\.png" has a box of zero size/);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 1\n}');
  });

  it('same class, IoU 100/110 ≥ 0.9: near-duplicate warning; IoU 90/110 < 0.9: none', async () => {
    const dataset = await load(withTrain([
      { file: 'a.png', boxes: [[1, 0, 0, 10, 10], [1, 0, 0, 10, 11]] },
      { file: 'b.png', boxes: [[1, 0, 0, 10, 10], [1, 1, 0, 10, 10]] },
    ]));
    expectSingleIssue(dataset, 'warning', 'near-duplicate-box', /annotations\[0\] on "a\.png" and annotations\[1\] are two "cat" boxes overlapping with IoU 0\.91/);
    expect(answerOf(dataset, 'a.png')).toBe('{\n  "cat": 2\n}'); // still counted as labelled
  });

  it('identical boxes with two classes: conflicting-classes warning', async () => {
    const dataset = await load(withTrain([{ file: 'a.png', boxes: [[1, 2, 2, 5, 5], [2, 2, 2, 5, 5]] }]));
    expectSingleIssue(dataset, 'warning', 'conflicting-classes', /annotations\[0\] on "a\.png" \("cat"\) and annotations\[1\] \("dog"\) mark the same box/);
    expect(only(dataset, 'near-duplicate-box')).toEqual([]);
  });
});

describe('splits', () => {
  it('a train split that lists no images: error', async () => {
    const dataset = await load({ ...roboflowTree({ valid: validSplit }), 'train/_annotations.coco.json': cocoJson([]) });
    expectSingleIssue(dataset, 'error', 'empty-split', /train\/_annotations\.coco\.json: the train split lists no images/);
  });

  it('a train split whose images are all missing: error (and a warning per image)', async () => {
    const dataset = await load(roboflowTree({ train: good, valid: validSplit }, { omit: ['train/a.png', 'train/b.png'] }));
    expectSingleIssue(dataset, 'error', 'empty-split', /the train split has no usable images/);
    expect(only(dataset, 'missing-image')).toHaveLength(2);
  });

  it('an empty val or test split: warning, left out; with no other held-out split, evaluation is flagged', async () => {
    const dataset = await load({ ...roboflowTree({ train: good }), 'valid/_annotations.coco.json': cocoJson([]) });
    expectSingleIssue(dataset, 'warning', 'empty-split', /valid\/_annotations\.coco\.json: the val split lists no images; it is left out/);
    expectSingleIssue(dataset, 'warning', 'no-evaluation-split', /no valid or test split/);
    expect(hasErrors(dataset)).toBe(false);

    const withTest = await load({ ...roboflowTree({ train: good, test: validSplit }), 'valid/_annotations.coco.json': cocoJson([]) });
    expect(withTest.issues.map((issue) => issue.code)).toEqual(['empty-split']);
  });

  it('classes that differ between splits: error naming the difference', async () => {
    const other = [{ id: 0, name: 'things', supercategory: 'none' }, { id: 1, name: 'cat', supercategory: 'things' }, { id: 2, name: 'cow', supercategory: 'things' }];
    const dataset = await load({ ...roboflowTree({ train: good }), ...roboflowTree({ valid: validSplit }, { categories: other }) });
    const issue = expectSingleIssue(dataset, 'error', 'class-mismatch', /valid\/_annotations\.coco\.json: its classes differ from those of train\/_annotations\.coco\.json \(it lacks "dog" and adds "cow"\)/);
    expect(issue.split).toBe('val');
  });

  it('no train split: error', async () => {
    expectSingleIssue(await load(roboflowTree({ valid: validSplit })), 'error', 'no-train-split', /no train split/);
  });

  it('two annotation files for one split: error', async () => {
    const dataset = await load({ 'val.json': cocoJson(good), 'valid/labels.json': cocoJson(good), 'a.png': solidPng(20, 16), 'b.png': solidPng(20, 16) });
    expectSingleIssue(dataset, 'error', 'duplicate-split', /a second annotation file for the val split/);
  });

  it('an annotation file whose split cannot be told: error', async () => {
    const dataset = await load({ 'one.json': cocoJson(good), 'two.json': cocoJson(good) });
    expect(only(dataset, 'unknown-split').map((issue) => issue.file)).toEqual(['one.json', 'two.json']);
  });
});
