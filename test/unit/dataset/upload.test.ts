// Uploads as zip tools and file managers make them: macOS Finder (NFD names, __MACOSX), Windows
// Explorer (CP437 names), other compression methods and archive formats, a zip inside a zip.
import { describe, expect, it } from 'vitest';
import { hasErrors, loadDataset, readImageBytes } from '../../../src/dataset/load.ts';
import type { CountingDataset, DatasetSource } from '../../../src/dataset/types.ts';
import { cocoJson, concatBytes, filesSource, roboflowTree, solidPng, zipOf, type TestImage } from '../../helpers/dataset-builders.ts';
import { cp437, rawZip, type RawZipEntry } from '../../helpers/zip-builder.ts';

const images: TestImage[] = [{ file: 'café.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'Ärger.png', boxes: [[2, 1, 1, 4, 4]] }];
const json = JSON.stringify(cocoJson(images));
const png = solidPng(20, 16);
const zipSource = (data: Uint8Array, name = 'export.zip'): DatasetSource => ({ kind: 'zip', name, data });
const errorsOf = (dataset: CountingDataset) => dataset.issues.filter((issue) => issue.severity === 'error').map((issue) => [issue.code, issue.message]);
const answers = (dataset: CountingDataset) => dataset.images.map((image) => [image.fileName, image.answer]);
const expected = [['café.png', '{\n  "cat": 1\n}'], ['Ärger.png', '{\n  "dog": 1\n}']];

describe('zips from desktop zip tools', () => {
  it('macOS Finder: UTF-8 NFD names without the UTF-8 flag, __MACOSX and .DS_Store beside them', async () => {
    const nfd = (text: string) => text.normalize('NFD');
    const entries: RawZipEntry[] = [
      { name: 'export/train/_annotations.coco.json', data: json, utf8Flag: false },
      { name: nfd('export/train/café.png'), data: png, utf8Flag: false },
      { name: nfd('export/train/Ärger.png'), data: png, utf8Flag: false },
      { name: 'export/.DS_Store', data: 'Bud1', utf8Flag: false },
      { name: nfd('__MACOSX/export/train/._café.png'), data: 'resource fork', utf8Flag: false },
    ];
    const source = zipSource(rawZip(entries));
    const dataset = await loadDataset(source);
    expect(dataset.issues.map((issue) => issue.code)).toEqual(['no-evaluation-split']);
    expect(answers(dataset)).toEqual(expected);
    expect(await readImageBytes(source, dataset.images[0])).toEqual(png);
  });

  it('Windows Explorer: CP437 names without the UTF-8 flag', async () => {
    const entries: RawZipEntry[] = [
      { name: 'train\\_annotations.coco.json', data: json }, // some tools even write backslashes
      { name: cp437('train/café.png'), data: png },
      { name: cp437('train/Ärger.png'), data: png },
    ];
    const dataset = await loadDataset(zipSource(rawZip(entries)));
    expect(errorsOf(dataset)).toEqual([]);
    expect(answers(dataset)).toEqual(expected);
  });

  it('bzip2 and LZMA entries (7-Zip, Python): one error naming the methods and saying to re-zip with Deflate', async () => {
    const entries: RawZipEntry[] = [
      { name: 'train/_annotations.coco.json', data: json, method: 12 },
      { name: 'train/café.png', data: png, method: 14 },
      { name: 'train/Ärger.png', data: png, method: 12 },
    ];
    const dataset = await loadDataset(zipSource(rawZip(entries), 'seven.zip'));
    expect(errorsOf(dataset)).toEqual([
      ['unsupported-zip', 'seven.zip: 3 entries are compressed with bzip2 (method 12), LZMA (method 14) (e.g. train/_annotations.coco.json), which moontune cannot decompress; zip the folder again with the standard Deflate method (Finder\'s Compress, Windows\' "Compressed (zipped) folder", `zip -r`, or 7-Zip with method Deflate).'],
    ]);
    expect(dataset.images).toEqual([]);
  });

  it('a password-protected zip: one error saying so', async () => {
    const dataset = await loadDataset(zipSource(rawZip([{ name: 'train/_annotations.coco.json', data: json, encrypted: true, method: 0 }]), 'locked.zip'));
    expect(errorsOf(dataset)).toEqual([
      ['unsupported-zip', 'locked.zip: 1 entry is password-protected (e.g. train/_annotations.coco.json); moontune cannot read encrypted zips — unzip it with its password and zip the folder again without one.'],
    ]);
  });

  it('entries of other methods only among the junk (__MACOSX) do not matter', async () => {
    const entries: RawZipEntry[] = [
      { name: 'train/_annotations.coco.json', data: json },
      { name: 'train/café.png', data: png },
      { name: 'train/Ärger.png', data: png },
      { name: '__MACOSX/train/._café.png', data: 'x', method: 12 },
    ];
    expect(hasErrors(await loadDataset(zipSource(rawZip(entries))))).toBe(false);
  });
});

describe('archives inside archives, and other archive formats', () => {
  const inner = zipOf({ ...roboflowTree({ train: [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }] }) });

  it('a zip holding only a zip is opened through, and its images read back', async () => {
    const source = zipSource(zipOf({ 'download/dataset-v2.zip': inner, 'download/README.txt': 'thanks' }), 'outer.zip');
    const dataset = await loadDataset(source);
    expect(errorsOf(dataset)).toEqual([]);
    expect(dataset.name).toBe('outer.zip');
    expect(answers(dataset)).toEqual([['a.png', '{\n  "cat": 1\n}']]);
    expect(await readImageBytes(source, dataset.images[0])).toEqual(solidPng(20, 16));
    // the messages say which zip they are about
    const missing = await loadDataset(zipSource(zipOf({ 'only.zip': zipOf({ 'notes.txt': 'x' }) }), 'outer.zip'));
    expect(errorsOf(missing)[0][1]).toMatch(/^only\.zip in outer\.zip: no COCO annotation file found/);
  });

  it('a zip holding several zips and no annotation file: says to unzip it', async () => {
    const dataset = await loadDataset(zipSource(zipOf({ 'a.zip': inner, 'b.zip': inner }), 'bundle.zip'));
    expect(errorsOf(dataset)).toEqual([['no-annotation-file', "bundle.zip: no COCO annotation file found, but 2 zip files (a.zip, b.zip); unzip it and load the dataset's own zip."]]);
  });

  it.each([
    ['a RAR archive', Uint8Array.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00])],
    ['a 7-Zip archive', Uint8Array.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04])],
    ['a gzip file (.tar.gz / .tgz)', Uint8Array.from([0x1f, 0x8b, 0x08, 0x00])],
  ])('%s is named, as a zip upload and as the one dropped file', async (what, signature) => {
    const bytes = concatBytes(signature, new Uint8Array(300));
    const message = `dataset.zip: is ${what}, not a zip; moontune reads zip files — extract it and zip the folder again (or choose the extracted folder itself).`;
    expect(errorsOf(await loadDataset(zipSource(bytes, 'dataset.zip')))).toEqual([['not-a-zip', message]]);
    const dropped = await loadDataset(filesSource({ 'dataset.rar': bytes }, 'dataset.zip'));
    expect(errorsOf(dropped)).toEqual([['not-a-zip', message]]);
  });

  it('a zip under another name, dropped alone, is opened as a zip', async () => {
    const dataset = await loadDataset(filesSource({ 'dataset.download': inner }, 'dataset.download'));
    expect(answers(dataset)).toEqual([['a.png', '{\n  "cat": 1\n}']]);
  });
});

describe('file names', () => {
  it('a json written on macOS (NFD file_name) finds NFC files, and names differing only in case are found', async () => {
    const nfdJson = JSON.stringify(cocoJson([{ file: 'café.png'.normalize('NFD') }, { file: 'IMG_0001.JPG' }]));
    const dataset = await loadDataset(filesSource({ 'train/_annotations.coco.json': nfdJson, 'train/café.png': png, 'train/img_0001.jpg': png }));
    expect(dataset.issues.map((issue) => issue.code)).toEqual(['no-evaluation-split']);
    expect(dataset.images.map((image) => image.path)).toEqual(['train/café.png', 'train/img_0001.jpg']);
  });
});
