import { describe, expect, it } from 'vitest';
import { unzipSync, zipSync } from 'fflate';
import { listZipEntries, readZipEntries } from '../../../src/dataset/zip-archive.ts';
import { cp437, rawZip } from '../../helpers/zip-builder.ts';
import { crc32 } from '../../helpers/dataset-builders.ts';

const text = (value: string) => new TextEncoder().encode(value);
const bytes = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => (i * seed + (i >> 3)) & 0xff);

// Stored and deflated entries, a folder entry, non-ASCII names, an entry comment and an archive
// comment (so the end record is not the last 22 bytes).
const files = {
  'train/_annotations.coco.json': [text('{"images": []}'.repeat(50)), { level: 9, comment: 'labels' }],
  'train/a.png': [bytes(3000, 7), { level: 0 }],
  'valid/été €.png': [bytes(500, 13), { level: 6 }],
  'empty.txt': [new Uint8Array(0), { level: 0 }],
} as const;
const zip = withArchiveComment(zipSync({ ...files, 'folder/': new Uint8Array(0) } as never), 'exported for a test');

function withArchiveComment(archive: Uint8Array, comment: string): Uint8Array {
  const commentBytes = text(comment);
  const result = new Uint8Array(archive.length + commentBytes.length);
  result.set(archive);
  result.set(commentBytes, archive.length);
  // APPNOTE §4.3.16: the end record's last field is the comment length
  new DataView(result.buffer).setUint16(archive.length - 2, commentBytes.length, true);
  return result;
}

describe('zip archive reading', () => {
  it('lists file entries with their sizes, not folders', () => {
    expect(listZipEntries(zip, 't.zip').map(({ name, size }) => ({ name, size }))).toEqual([
      { name: 'train/_annotations.coco.json', size: 700 },
      { name: 'train/a.png', size: 3000 },
      { name: 'valid/été €.png', size: 500 },
      { name: 'empty.txt', size: 0 },
    ]);
  });

  it('reads any subset exactly as fflate unzips the whole archive', () => {
    const reference = unzipSync(zip);
    const names = ['valid/été €.png', 'train/a.png', 'empty.txt', 'train/_annotations.coco.json'];
    const result = readZipEntries(zip, names);
    for (const name of names) expect(result.get(name), name).toEqual(reference[name]);
    expect(readZipEntries(zip, ['train/a.png']).size).toBe(1);
  });

  it('reads each entry\'s method and sizes from the central directory', () => {
    const byName = new Map(listZipEntries(zip, 't.zip').map((entry) => [entry.name, entry]));
    expect(byName.get('train/a.png')).toMatchObject({ method: 0, compressedSize: 3000, size: 3000, encrypted: false });
    expect(byName.get('valid/été €.png')).toMatchObject({ method: 8, size: 500 });
  });

  it('leaves out names that are not in the archive', () => {
    expect([...readZipEntries(zip, ['nope.png', 'train/a.png']).keys()]).toEqual(['train/a.png']);
  });

  it('returns copies, so transferring them never detaches the zip', () => {
    const first = readZipEntries(zip, ['train/a.png']).get('train/a.png')!;
    expect(first.buffer).not.toBe(zip.buffer);
  });

  it('names the zip and says what to do when it is not a zip', () => {
    expect(() => listZipEntries(text('hello'), 'photos.zip')).toThrow(/photos\.zip: not a readable zip archive .*re-export/);
    expect(() => listZipEntries(zip.subarray(0, zip.length - 40), 'cut.zip')).toThrow(/cut\.zip: not a readable zip archive \(no end-of-archive record: the file is cut short/);
  });
});

describe('zips as other tools write them', () => {
  it('the test zip writer computes CRC-32 right (the catalogue check value of "123456789")', () => {
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
  });

  it('zip64 records: sizes and offsets from the zip64 extra field and end record', () => {
    const archive = rawZip([{ name: 'train/a.txt', data: 'hello '.repeat(40) }, { name: 'b.txt', data: 'stored', method: 0 }], { zip64: true });
    expect(listZipEntries(archive, 'z.zip').map(({ name, size, method }) => [name, size, method])).toEqual([['train/a.txt', 240, 8], ['b.txt', 6, 0]]);
    const read = readZipEntries(archive, ['train/a.txt', 'b.txt']);
    expect(new TextDecoder().decode(read.get('train/a.txt'))).toBe('hello '.repeat(40));
    expect(new TextDecoder().decode(read.get('b.txt'))).toBe('stored');
  });

  it('names: the UTF-8 flag, UTF-8 without it (macOS), CP437 (Windows Explorer), Info-ZIP\'s Unicode path', () => {
    const archive = rawZip([
      { name: 'flagged/été.png', data: 'a', utf8Flag: true },
      { name: 'mac/cafe\u0301.png', data: 'b', utf8Flag: false }, // NFD, as macOS writes names
      { name: cp437('win/Ärger café.png'), data: 'c' },
      { name: cp437('info/naïve.png'), data: 'd', unicodePath: 'info/naïve ✓.png' },
    ]);
    expect(listZipEntries(archive, 'n.zip').map((entry) => entry.name)).toEqual(['flagged/été.png', 'mac/cafe\u0301.png', 'win/Ärger café.png', 'info/naïve ✓.png']);
    expect(new TextDecoder().decode(readZipEntries(archive, ['win/Ärger café.png']).get('win/Ärger café.png'))).toBe('c');
  });

  it('entries of other methods and encrypted entries are listed with what they are, and not read', () => {
    const archive = rawZip([{ name: 'a.txt', data: 'BZh91AY&SY', method: 12 }, { name: 'b.txt', data: 'secret', method: 0, encrypted: true }, { name: 'c.txt', data: 'plain' }]);
    expect(listZipEntries(archive, 'm.zip').map(({ name, method, encrypted }) => [name, method, encrypted])).toEqual([['a.txt', 12, false], ['b.txt', 0, true], ['c.txt', 8, false]]);
    expect([...readZipEntries(archive, ['a.txt', 'b.txt', 'c.txt']).keys()]).toEqual(['c.txt']);
  });

  it('a part of a split archive is named as one', () => {
    const archive = rawZip([{ name: 'a.txt', data: 'x' }]);
    new DataView(archive.buffer).setUint16(archive.length - 22 + 4, 2, true); // "number of this disk"
    expect(() => listZipEntries(archive, 'export.z02')).toThrow(/export\.z02: .*one part of a split \(spanned\) archive/);
  });
});
