// Image files as phones, editors and clones leave them, through the whole loader: what is kept,
// what is left out, and what the one message says.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/dataset/load.ts';
import type { CountingDataset, DatasetIssue } from '../../../src/dataset/types.ts';
import { MAX_IMAGE_PIXELS } from '../../../src/dataset/image-header.ts';
import { cocoJson, concatBytes, gitLfsPointer, pngClaimingSize, roboflowTree, solidJpeg, solidPng, withExifOrientation, zipSource, type FileTree, type TestImage } from '../../helpers/dataset-builders.ts';

const TRAIN_JSON = 'train/_annotations.coco.json';
const validSplit: TestImage[] = [{ file: 'v.png', boxes: [[2, 1, 1, 4, 4]] }];

/** A train split of the given images (files given in `files`, sized as the json says unless replaced) plus a valid split. */
function tree(images: TestImage[], files: FileTree): FileTree {
  const replaced = Object.fromEntries(Object.entries(files).map(([name, bytes]) => [`train/${name}`, bytes]));
  return { ...roboflowTree({ train: images, valid: validSplit }, { omit: Object.keys(replaced) }), ...replaced };
}
const codes = (dataset: CountingDataset) => dataset.issues.map((issue) => issue.code);
const only = (dataset: CountingDataset, code: string): DatasetIssue[] => dataset.issues.filter((issue) => issue.code === code);
const trainFiles = (dataset: CountingDataset) => dataset.images.filter((image) => image.split === 'train').map((image) => image.fileName);
const text = (value: string) => new TextEncoder().encode(value);

describe('images with data after their end (phones, editors): kept, no issue', () => {
  it('a motion photo (JPEG + MP4) and a PNG with bytes after IEND', async () => {
    const mp4 = concatBytes(Uint8Array.from([0, 0, 0, 0x18]), text('ftypmp42'), new Uint8Array(4096).fill(0x11));
    const images: TestImage[] = [{ file: 'motion.jpg', width: 24, height: 16, boxes: [[1, 2, 2, 5, 5]] }, { file: 'edited.png' }];
    for (const imageCheck of ['decode', 'header'] as const) {
      const dataset = await loadDataset(zipSource(tree(images, { 'motion.jpg': concatBytes(solidJpeg(24, 16), mp4), 'edited.png': concatBytes(solidPng(20, 16), text('trailer')) })), { imageCheck });
      expect(dataset.issues, imageCheck).toEqual([]);
      expect(trainFiles(dataset)).toEqual(['motion.jpg', 'edited.png']);
    }
  });
});

describe('EXIF orientation: pixels as stored (as Pillow), said once per dataset', () => {
  it('two rotated photos give one warning; boxes are read on the stored pixels', async () => {
    // Stored 24×16 and listed so; a viewer would show them 16×24. The box at x = 18 fits the
    // stored width (24), not the turned one (16): it is counted.
    const images: TestImage[] = [
      { file: 'a.jpg', width: 24, height: 16, boxes: [[1, 18, 2, 4, 4]] },
      { file: 'b.jpg', width: 24, height: 16 },
      { file: 'c.jpg', width: 24, height: 16 },
    ];
    const dataset = await loadDataset(zipSource(tree(images, {
      'a.jpg': withExifOrientation(solidJpeg(24, 16), 6),
      'b.jpg': withExifOrientation(solidJpeg(24, 16), 3, { bigEndian: true }),
      'c.jpg': withExifOrientation(solidJpeg(24, 16), 1),
    })));
    expect(codes(dataset)).toEqual(['exif-orientation']);
    const [issue] = dataset.issues;
    expect(issue.severity).toBe('warning');
    expect(issue.message).toMatch(/^2 images carry an EXIF orientation \(e\.g\. train\/a\.jpg: shown turned 90° clockwise by photo viewers\); moontune uses their pixels as stored, as Pillow does/);
    expect(issue.message).toMatch(/re-export the dataset with the orientation applied/);
    expect(dataset.images.find((image) => image.fileName === 'a.jpg')).toMatchObject({ width: 24, height: 16, answer: '{\n  "cat": 1\n}' });
  });

  it('a photo listed with the turned size: the mismatch names the rotation', async () => {
    const images: TestImage[] = [{ file: 'a.jpg', width: 16, height: 24 }];
    const dataset = await loadDataset(zipSource(tree(images, { 'a.jpg': withExifOrientation(solidJpeg(24, 16), 8) })));
    expect(codes(dataset)).toEqual(['image-size-mismatch', 'exif-orientation']);
    expect(dataset.issues[0].message).toMatch(/"a\.jpg" is 24×16 but listed as 16×24; .*its width and height are swapped, so it was likely labelled as a viewer shows its EXIF orientation/);
    expect(dataset.issues[1].message).toMatch(/^an image carries an EXIF orientation .*All of them are listed with width and height swapped/);
  });
});

describe('files that are not usable images: one warning each, left out', () => {
  it('a Git LFS pointer in place of an image', async () => {
    const dataset = await loadDataset(zipSource(tree([{ file: 'a.png' }, { file: 'b.jpg' }], { 'b.jpg': gitLfsPointer(2_345_678) })));
    const [issue] = only(dataset, 'git-lfs-pointer');
    expect(issue).toMatchObject({ severity: 'warning', file: 'train/b.jpg' });
    expect(issue.message).toBe(`${TRAIN_JSON}: image "b.jpg" is a Git LFS pointer (${gitLfsPointer(0).length + 6} bytes standing for a 2.3 MB file), not the image; run \`git lfs pull\` in the clone it came from (or download the file itself) and try again. It is left out.`);
    expect(trainFiles(dataset)).toEqual(['a.png']);
  });

  it('a HEIC photo saved under a .jpg name', async () => {
    const heic = concatBytes(Uint8Array.from([0, 0, 0, 0x18]), text('ftypheic'), new Uint8Array(64));
    const dataset = await loadDataset(zipSource(tree([{ file: 'a.png' }, { file: 'b.jpg' }], { 'b.jpg': heic })));
    expect(only(dataset, 'undecodable-image').map((issue) => issue.message)).toEqual([
      `${TRAIN_JSON}: image "b.jpg" is a HEIC/HEIF image (the iPhone default), which moontune does not read; convert it to JPEG or PNG (or re-export the dataset with JPEG or PNG images). It is left out.`,
    ]);
  });

  it('a very large image is "too large", not corrupt, in both checks', async () => {
    // 10000×9000 = 90 MP, just over Pillow's 89.5 MP; only its header is real.
    const huge = pngClaimingSize(solidPng(20, 16), 10_000, 9_000);
    expect(10_000 * 9_000).toBeGreaterThan(MAX_IMAGE_PIXELS);
    for (const imageCheck of ['decode', 'header'] as const) {
      const dataset = await loadDataset(zipSource(tree([{ file: 'a.png' }, { file: 'big.png', width: 10_000, height: 9_000 }], { 'big.png': huge })), { imageCheck });
      expect(codes(dataset), imageCheck).toEqual(['image-too-large']);
      expect(dataset.issues[0].message).toBe(`${TRAIN_JSON}: image "big.png" is too large to decode: 10000×9000 is 90 megapixels, over the 89.5 moontune decodes; downscale it (the model sees 378-pixel crops anyway). It is left out.`);
      expect(trainFiles(dataset)).toEqual(['a.png']);
    }
  });
});
