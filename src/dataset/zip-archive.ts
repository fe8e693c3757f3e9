// Reading a zip upload with fflate, without holding every decompressed entry in memory at once:
// list the entries once, then decompress only the entries asked for. Reading one image of a
// large zip must not walk the whole archive each time (the trainer reads images one by one), so
// entry offsets come from an index of the central directory built once per zip; fflate inflates.

import { inflateSync, unzipSync } from 'fflate';

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

/** Where one entry's data lies (APPNOTE.TXT §4.3.12 central directory header). */
interface EntryLocation {
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const indexes = new WeakMap<Uint8Array, Map<string, EntryLocation> | null>();

/**
 * Central directory index of a plain (non-zip64) archive, or null when the archive needs the
 * general reader (zip64, or anything unexpected): then fflate's own walk is used.
 */
export function centralDirectoryIndex(data: Uint8Array): Map<string, EntryLocation> | null {
  if (indexes.has(data)) return indexes.get(data)!;
  let index: Map<string, EntryLocation> | null = null;
  try {
    index = buildIndex(data);
  } catch {
    index = null;
  }
  indexes.set(data, index);
  return index;
}

function buildIndex(data: Uint8Array): Map<string, EntryLocation> | null {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // End of central directory record: signature 0x06054b50, within the last 22 + 65535 bytes.
  let end = data.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) {
    if (data.length - end > 22 + 0xffff) return null;
    end--;
  }
  if (end < 0) return null;
  const entryCount = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (entryCount === 0xffff || offset === 0xffffffff) return null; // zip64
  const decoder = new TextDecoder();
  const index = new Map<string, EntryLocation>();
  for (let entry = 0; entry < entryCount; entry++) {
    if (view.getUint32(offset, true) !== 0x02014b50) return null;
    const method = view.getUint16(offset + 10, true);
    const compressedSize = view.getUint32(offset + 20, true);
    const size = view.getUint32(offset + 24, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const localHeaderOffset = view.getUint32(offset + 42, true);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localHeaderOffset === 0xffffffff) return null;
    const name = decoder.decode(data.subarray(offset + 46, offset + 46 + nameLength));
    index.set(name, { method, compressedSize, size, localHeaderOffset });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return index;
}

function readIndexedEntry(data: Uint8Array, location: EntryLocation): Uint8Array | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const header = location.localHeaderOffset;
  if (view.getUint32(header, true) !== 0x04034b50) return undefined;
  // The local header's own name and extra lengths (they may differ from the central copy's).
  const start = header + 30 + view.getUint16(header + 26, true) + view.getUint16(header + 28, true);
  const stored = data.subarray(start, start + location.compressedSize);
  if (location.method === 0) return stored.slice();
  if (location.method === 8) return inflateSync(stored, { out: new Uint8Array(location.size) });
  return undefined;
}

/** Decompresses the named entries. Names not in the zip are absent from the result. */
export function readZipEntries(data: Uint8Array, names: Iterable<string>): Map<string, Uint8Array> {
  const wanted = [...names];
  const index = centralDirectoryIndex(data);
  const result = new Map<string, Uint8Array>();
  const rest = new Set<string>();
  for (const name of wanted) {
    const location = index?.get(name);
    const bytes = location ? readIndexedEntry(data, location) : undefined;
    if (bytes) result.set(name, bytes);
    else if (!index || location) rest.add(name); // let fflate try what the index could not read
  }
  if (rest.size > 0) {
    for (const [name, bytes] of Object.entries(unzipSync(data, { filter: (file) => rest.has(file.name) }))) result.set(name, bytes);
  }
  return result;
}
