// Reading a zip upload with fflate, without holding every decompressed entry in memory at once:
// list the entries once, then decompress only the entries asked for (in batches, because each
// fflate pass walks the whole central directory).

import { unzipSync } from 'fflate';

export interface ZipEntryInfo {
  /** Entry name as stored, '/'-separated. */
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
}

/** Lists the file entries (not folders) of a zip. Throws an Error the user can act on for a corrupt zip. */
export function listZipEntries(data: Uint8Array, zipName: string): ZipEntryInfo[] {
  const entries: ZipEntryInfo[] = [];
  try {
    unzipSync(data, {
      filter: (file) => {
        if (!file.name.endsWith('/')) entries.push({ name: file.name, size: file.originalSize });
        return false; // list only, decompress nothing
      },
    });
  } catch (cause) {
    throw new Error(
      `${zipName}: not a readable zip archive (${cause instanceof Error ? cause.message : String(cause)}); ` +
        'check that the download finished and re-export the dataset as a zip.',
      { cause },
    );
  }
  return entries;
}

/** Decompresses the named entries. Names not in the zip are absent from the result. */
export function readZipEntries(data: Uint8Array, names: Iterable<string>): Map<string, Uint8Array> {
  const wanted = new Set(names);
  const files = unzipSync(data, { filter: (file) => wanted.has(file.name) });
  return new Map(Object.entries(files));
}
