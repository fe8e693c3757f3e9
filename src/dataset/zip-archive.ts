// Reading a zip upload without holding every decompressed entry in memory: the central directory
// (APPNOTE.TXT §4.3.12) is read once into an index, then only the entries asked for are
// inflated (fflate's inflate). Reading it ourselves, rather than through an unzip library, is
// what lets moontune read the names other zip tools write: UTF-8 without the flag (macOS
// Finder), CP437 (Windows Explorer), Info-ZIP's Unicode path field; zip64 archives; and say
// which compression method an entry uses when it is one moontune cannot inflate.

import { inflateSync } from 'fflate';

export interface ZipEntry {
  /** Entry name, decoded (see decodeName), '/'-separated as stored. */
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  compressedSize: number;
  /** APPNOTE §4.4.5 compression method: 0 stored, 8 deflate, … */
  method: number;
  /** General-purpose flag bit 0: the entry is encrypted (password-protected). */
  encrypted: boolean;
  localHeaderOffset: number;
}

/** Methods moontune reads: stored and deflate, what every zip tool writes by default. */
export const READABLE_METHODS: ReadonlySet<number> = new Set([0, 8]);

/** Names of the other methods found in the wild (APPNOTE §4.4.5). */
const METHOD_NAMES: Record<number, string> = {
  1: 'Shrink',
  6: 'Implode',
  9: 'Deflate64',
  12: 'bzip2',
  14: 'LZMA',
  93: 'Zstandard',
  95: 'xz',
  96: 'JPEG (WinZip)',
  98: 'PPMd',
  99: 'AES encryption (WinZip)',
};

export function compressionMethodName(method: number): string {
  return METHOD_NAMES[method] ? `${METHOD_NAMES[method]} (method ${method})` : `method ${method}`;
}

/** A zip that cannot be listed; the message names the zip and says what to do. */
export class ZipFormatError extends Error {}

const indexes = new WeakMap<Uint8Array, Map<string, ZipEntry>>();

/** The file entries (not folders) of a zip, in central-directory order. */
export function listZipEntries(data: Uint8Array, zipName: string): ZipEntry[] {
  return [...zipIndex(data, zipName).values()].filter((entry) => !entry.name.endsWith('/'));
}

/** Decompresses the named entries. Names not in the zip, or not readable, are absent from the result. */
export function readZipEntries(data: Uint8Array, names: Iterable<string>): Map<string, Uint8Array> {
  const index = zipIndex(data, 'the zip');
  const result = new Map<string, Uint8Array>();
  for (const name of names) {
    const entry = index.get(name);
    const bytes = entry ? readEntry(data, entry) : undefined;
    if (bytes) result.set(name, bytes);
  }
  return result;
}

function zipIndex(data: Uint8Array, zipName: string): Map<string, ZipEntry> {
  let index = indexes.get(data);
  if (!index) {
    index = new Map(readCentralDirectory(data, zipName).map((entry) => [entry.name, entry]));
    indexes.set(data, index);
  }
  return index;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const ZIP64_END = 0x06064b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

function readCentralDirectory(data: Uint8Array, zipName: string): ZipEntry[] {
  const fail = (reason: string): never => {
    throw new ZipFormatError(`${zipName}: not a readable zip archive (${reason}); check that the download finished and re-export the dataset as a zip.`);
  };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const u16 = (at: number) => view.getUint16(at, true);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));

  // The end record sits in the last 22 + 65535 bytes (its comment is at most 65535 bytes).
  let end = data.length - 22;
  const lowest = Math.max(0, data.length - 22 - 0xffff);
  while (end >= lowest && u32(end) !== END_OF_CENTRAL_DIRECTORY) end--;
  if (end < lowest) fail(data.length < 22 ? 'the file is empty or tiny' : 'no end-of-archive record: the file is cut short or is not a zip');
  if (u16(end + 4) !== 0 || u16(end + 6) !== 0) {
    fail('it is one part of a split (spanned) archive; join the parts, or zip the folder again as one file');
  }
  let entryCount = u16(end + 10);
  let offset = u32(end + 16);
  if (entryCount === 0xffff || offset === 0xffffffff) {
    // zip64 (APPNOTE §4.3.14–15): the real counts are in the zip64 end record.
    const locator = end - 20;
    if (locator < 0 || u32(locator) !== ZIP64_END_LOCATOR) fail('zip64 end record missing');
    const zip64End = u64(locator + 8);
    if (zip64End + 56 > data.length || u32(zip64End) !== ZIP64_END) fail('zip64 end record damaged');
    entryCount = u64(zip64End + 32);
    offset = u64(zip64End + 48);
  }

  const entries: ZipEntry[] = [];
  for (let index = 0; index < entryCount; index++) {
    if (offset + 46 > data.length || u32(offset) !== CENTRAL_HEADER) fail('central directory damaged');
    const flags = u16(offset + 8);
    const nameLength = u16(offset + 28);
    const extraLength = u16(offset + 30);
    const commentLength = u16(offset + 32);
    const nameBytes = data.subarray(offset + 46, offset + 46 + nameLength);
    const extra = data.subarray(offset + 46 + nameLength, offset + 46 + nameLength + extraLength);
    let size = u32(offset + 24);
    let compressedSize = u32(offset + 20);
    let localHeaderOffset = u32(offset + 42);
    // Zip64 extended information (§4.5.3): present, in this order, for the fields saturated above.
    const zip64 = extraField(extra, 0x0001);
    if (zip64) {
      const extraView = new DataView(zip64.buffer, zip64.byteOffset, zip64.byteLength);
      let at = 0;
      const next = () => {
        const value = at + 8 <= zip64.length ? Number(extraView.getBigUint64(at, true)) : undefined;
        at += 8;
        return value;
      };
      if (size === 0xffffffff) size = next() ?? size;
      if (compressedSize === 0xffffffff) compressedSize = next() ?? compressedSize;
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = next() ?? localHeaderOffset;
    }
    entries.push({
      name: decodeName(nameBytes, flags, extra),
      size,
      compressedSize,
      method: u16(offset + 10),
      encrypted: (flags & 1) !== 0,
      localHeaderOffset,
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The data of the extra field with this header id (§4.5.1), if present. */
function extraField(extra: Uint8Array, id: number): Uint8Array | undefined {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let at = 0; at + 4 <= extra.length; ) {
    const length = view.getUint16(at + 2, true);
    if (view.getUint16(at, true) === id) return extra.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
  return undefined;
}

/**
 * An entry name as its tool meant it. Flag bit 11 says UTF-8 (§4.4.4). Without it, Info-ZIP's
 * Unicode Path field (0x7075: version, CRC of the name, UTF-8 name) wins; else bytes that are
 * valid UTF-8 are UTF-8 (macOS Finder writes UTF-8 without the flag); else they are CP437, the
 * zip default, as Windows Explorer writes them (§4.4.4, appendix D).
 */
function decodeName(bytes: Uint8Array, flags: number, extra: Uint8Array): string {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  if (flags & 0x800) return new TextDecoder('utf-8').decode(bytes);
  const unicodePath = extraField(extra, 0x7075);
  if (unicodePath && unicodePath.length > 5 && unicodePath[0] === 1) {
    try {
      return utf8.decode(unicodePath.subarray(5));
    } catch {
      // a broken field: fall back to the name itself
    }
  }
  if (bytes.every((byte) => byte < 0x80)) return String.fromCharCode(...bytes);
  try {
    return utf8.decode(bytes);
  } catch {
    return Array.from(bytes, (byte) => (byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80])).join('');
  }
}

/** Code page 437, bytes 0x80–0xFF (APPNOTE appendix D refers to it as the zip default). */
const CP437_HIGH = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function readEntry(data: Uint8Array, entry: ZipEntry): Uint8Array | undefined {
  if (entry.encrypted || !READABLE_METHODS.has(entry.method)) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const header = entry.localHeaderOffset;
  if (header + 30 > data.length || view.getUint32(header, true) !== LOCAL_HEADER) return undefined;
  // The local header's own name and extra lengths (they may differ from the central copy's).
  const start = header + 30 + view.getUint16(header + 26, true) + view.getUint16(header + 28, true);
  if (start + entry.compressedSize > data.length) return undefined;
  const stored = data.subarray(start, start + entry.compressedSize);
  try {
    // A copy either way, so transferring the result never detaches the zip.
    return entry.method === 0 ? stored.slice() : inflateSync(stored, { out: new Uint8Array(entry.size) });
  } catch {
    return undefined; // damaged data: reported by the caller as unreadable
  }
}
