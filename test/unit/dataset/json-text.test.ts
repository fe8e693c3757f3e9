// Annotation files as other tools write them, through the loader: UTF-16 from PowerShell, NaN from
// Python's json.dump, Git LFS pointers, legacy 8-bit encodings.
import { describe, expect, it } from 'vitest';
import { hasErrors, loadDataset } from '../../../src/dataset/load.ts';
import { readJsonFile } from '../../../src/dataset/json-text.ts';
import type { CountingDataset } from '../../../src/dataset/types.ts';
import { cocoJson, concatBytes, gitLfsPointer, roboflowCategories, roboflowTree, zipSource, type TestImage } from '../../helpers/dataset-builders.ts';

const TRAIN_JSON = 'train/_annotations.coco.json';
const images: TestImage[] = [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4], [2, 8, 1, 4, 4]] }];
const withTrainJson = (json: Uint8Array | string) => zipSource({ ...roboflowTree({ train: images, valid: images }), [TRAIN_JSON]: json });
const trainAnswer = (dataset: CountingDataset) => dataset.images.find((image) => image.split === 'train')?.answer;

/** UTF-16 bytes of a string, little- or big-endian, with or without a BOM. */
function utf16(text: string, { bigEndian = false, bom = true } = {}): Uint8Array {
  const units = [...(bom ? '\ufeff' : ''), ...text].flatMap((char) => {
    const codes: number[] = [];
    for (let i = 0; i < char.length; i++) codes.push(char.charCodeAt(i));
    return codes;
  });
  const bytes = new Uint8Array(units.length * 2);
  const view = new DataView(bytes.buffer);
  units.forEach((unit, i) => view.setUint16(i * 2, unit, !bigEndian));
  return bytes;
}

describe('text encodings', () => {
  // A class name outside ASCII shows that the text was decoded, not just parsed.
  const categories = roboflowCategories(['chat noir', 'cœur €']);
  const json = JSON.stringify(cocoJson(images, categories), null, 2);

  it.each([
    ['UTF-16LE with BOM (Windows PowerShell)', utf16(json)],
    ['UTF-16BE with BOM', utf16(json, { bigEndian: true })],
    ['UTF-16LE without BOM', utf16(json, { bom: false })],
    ['UTF-8 with BOM (Notepad)', concatBytes(Uint8Array.from([0xef, 0xbb, 0xbf]), new TextEncoder().encode(json))],
  ])('%s reads as the same dataset, without an issue', async (_, bytes) => {
    const reading = readJsonFile(bytes);
    expect(reading).toEqual({ ok: true, value: JSON.parse(json), pythonNonFinite: 0 });
    const dataset = await loadDataset(zipSource({ ...roboflowTree({ train: images, valid: images }, { categories }), [TRAIN_JSON]: bytes }));
    expect(dataset.issues).toEqual([]);
    expect(trainAnswer(dataset)).toBe('{\n  "chat noir": 1,\n  "c\\u0153ur \\u20ac": 1\n}');
  });

  it('Windows-1252 text is an error naming the byte, not garbled class names', async () => {
    // "café" with é as 0xE9 (Windows-1252), as an old editor saves it.
    const latin = new TextEncoder().encode(JSON.stringify(cocoJson(images, roboflowCategories(['cafX', 'dog'])))).map((byte, i, all) => (byte === 0x58 && all[i - 1] === 0x66 ? 0xe9 : byte));
    const offset = latin.indexOf(0xe9);
    const dataset = await loadDataset(withTrainJson(latin));
    const errors = dataset.issues.filter((issue) => issue.severity === 'error');
    expect(errors.map((issue) => [issue.code, issue.message])).toEqual([
      ['not-utf8', `${TRAIN_JSON}: is not UTF-8 text (byte 0xe9 at offset ${offset}); it was likely saved in a legacy encoding such as Windows-1252, which would garble class names — save it as UTF-8 (or export it again) and load it again.`],
    ]);
  });
});

describe("Python's NaN and Infinity", () => {
  /** The first annotation's `area` or first box number written as a bare token, as json.dump writes it. */
  const withValue = (field: 'area' | 'bbox', token: string) => {
    const json = cocoJson(images);
    const first = (json.annotations as { area: unknown; bbox: unknown[] }[])[0];
    if (field === 'area') first.area = '@';
    else first.bbox[0] = '@';
    return JSON.stringify(json, null, 2).replace('"@"', token);
  };

  it.each(['NaN', 'Infinity', '-Infinity'])('%s in an unused field (area): a warning, the dataset is usable', async (token) => {
    const text = withValue('area', token);
    expect(text).toContain(`"area": ${token}`);
    const dataset = await loadDataset(withTrainJson(text));
    expect(dataset.issues.map((issue) => [issue.severity, issue.code])).toEqual([['warning', 'python-nan']]);
    expect(dataset.issues[0].message).toBe(
      `${TRAIN_JSON}: contains 1 NaN or Infinity value, which JSON does not allow (Python's json.dump writes them); they are read as null. Fix the values where they were made, or write the file with json.dump(..., allow_nan=False) to catch them.`,
    );
    expect(trainAnswer(dataset)).toBe('{\n  "cat": 1,\n  "dog": 1\n}');
  });

  it('NaN in a box: the warning, and the annotation is invalid (an error: its image would be miscounted)', async () => {
    const dataset = await loadDataset(withTrainJson(withValue('bbox', 'NaN')));
    expect(dataset.issues.map((issue) => issue.code)).toEqual(['python-nan', 'invalid-annotation']);
    expect(hasErrors(dataset)).toBe(true);
  });

  it('the tokens inside strings are left alone', () => {
    const reading = readJsonFile(new TextEncoder().encode('{"name": "NaN \\" Infinity", "x": NaN, "y": [-Infinity, 1]}'));
    expect(reading).toEqual({ ok: true, value: { name: 'NaN " Infinity', x: null, y: [null, 1] }, pythonNonFinite: 2 });
  });

  it('a file broken otherwise is still "not valid JSON"', () => {
    const reading = readJsonFile(new TextEncoder().encode('{"x": NaN, "y": [1,'));
    expect(reading).toMatchObject({ ok: false, code: 'unreadable-json' });
  });
});

describe('Git LFS pointer in place of the json', () => {
  it('is an error that names it and says to pull', async () => {
    const dataset = await loadDataset(withTrainJson(gitLfsPointer(48_213_004)));
    const [issue] = dataset.issues;
    expect(dataset.issues).toHaveLength(1);
    expect(issue).toMatchObject({ severity: 'error', code: 'git-lfs-pointer', file: TRAIN_JSON });
    expect(issue.message).toBe(`${TRAIN_JSON}: is a Git LFS pointer (${gitLfsPointer(48_213_004).length} bytes standing for a 48.2 MB file), not the annotation file; run \`git lfs pull\` in the clone it came from (or download the file itself) and try again.`);
  });
});
