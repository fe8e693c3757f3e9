import { describe, expect, it } from 'vitest';
import { unzipSync, zipSync } from 'fflate';
import { centralDirectoryIndex, listZipEntries, readZipEntries } from '../../../src/dataset/zip-archive.ts';

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
    expect(listZipEntries(zip, 't.zip')).toEqual([
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

  it('indexes the central directory itself (no walk per read)', () => {
    const index = centralDirectoryIndex(zip)!;
    expect([...index.keys()]).toEqual(['train/_annotations.coco.json', 'train/a.png', 'valid/été €.png', 'empty.txt', 'folder/']);
    expect(index.get('train/a.png')).toMatchObject({ method: 0, compressedSize: 3000, size: 3000 });
    expect(index.get('valid/été €.png')).toMatchObject({ method: 8, size: 500 });
    expect(centralDirectoryIndex(text('not a zip'))).toBeNull();
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
  });
});
