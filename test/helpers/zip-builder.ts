// A zip writer for tests that need zips as other tools make them (APPNOTE.TXT): names as raw
// bytes with or without the UTF-8 flag (macOS Finder, Windows Explorer), other compression
// methods (7-Zip's bzip2, LZMA), encryption flags, Info-ZIP's Unicode path field, and zip64
// records. fflate's zipSync writes only the common case.
import { deflateSync } from 'fflate';
import { concatBytes, crc32 } from './dataset-builders.ts';

export interface RawZipEntry {
  /** The name as stored: a string is written as UTF-8. */
  name: string | Uint8Array;
  data: Uint8Array | string;
  /** 0 stored, 8 deflate (compressed here); any other number is written as-is over stored bytes. */
  method?: number;
  /** Set general-purpose bit 11 (the name is UTF-8). Default: when the name is a non-ASCII string. */
  utf8Flag?: boolean;
  /** Set bit 0 (encrypted). */
  encrypted?: boolean;
  /** Info-ZIP Unicode Path extra field (0x7075) carrying this name. */
  unicodePath?: string;
}

export interface RawZipOptions {
  /** Write zip64 records: saturated sizes and offsets with a 0x0001 extra, zip64 end record and locator. */
  zip64?: boolean;
}

const encoder = new TextEncoder();

export function rawZip(entries: RawZipEntry[], options: RawZipOptions = {}): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const nameBytes = typeof entry.name === 'string' ? encoder.encode(entry.name) : entry.name;
    const raw = typeof entry.data === 'string' ? encoder.encode(entry.data) : entry.data;
    const method = entry.method ?? 8;
    const stored = method === 8 ? deflateSync(raw) : raw;
    const utf8 = entry.utf8Flag ?? (typeof entry.name === 'string' && /[^\x00-\x7f]/.test(entry.name));
    const flags = (utf8 ? 0x800 : 0) | (entry.encrypted ? 1 : 0);
    const extras: Uint8Array[] = [];
    if (entry.unicodePath !== undefined) {
      const unicode = encoder.encode(entry.unicodePath);
      extras.push(field(0x7075, concatBytes(Uint8Array.of(1), u32(crc32(nameBytes)), unicode)));
    }
    if (options.zip64) extras.push(field(0x0001, concatBytes(u64(raw.length), u64(stored.length), u64(offset))));
    const extra = concatBytes(...extras);
    const saturated = (value: number) => (options.zip64 ? 0xffffffff : value);

    const local = concatBytes(
      u32(0x04034b50), u16(options.zip64 ? 45 : 20), u16(flags), u16(method), u16(0), u16(0x21),
      u32(crc32(raw)), u32(saturated(stored.length)), u32(saturated(raw.length)), u16(nameBytes.length), u16(extra.length),
      nameBytes, extra, stored,
    );
    centrals.push(concatBytes(
      u32(0x02014b50), u16(0x031e), u16(options.zip64 ? 45 : 20), u16(flags), u16(method), u16(0), u16(0x21),
      u32(crc32(raw)), u32(saturated(stored.length)), u32(saturated(raw.length)), u16(nameBytes.length), u16(extra.length), u16(0),
      u16(0), u16(0), u32(0), u32(saturated(offset)), nameBytes, extra,
    ));
    locals.push(local);
    offset += local.length;
  }
  const central = concatBytes(...centrals);
  const tail: Uint8Array[] = [];
  if (options.zip64) {
    const zip64EndOffset = offset + central.length;
    tail.push(concatBytes(
      u32(0x06064b50), u64(44), u16(45), u16(45), u32(0), u32(0),
      u64(entries.length), u64(entries.length), u64(central.length), u64(offset),
    ));
    tail.push(concatBytes(u32(0x07064b50), u32(0), u64(zip64EndOffset), u32(1)));
  }
  const count = options.zip64 ? 0xffff : entries.length;
  tail.push(concatBytes(u32(0x06054b50), u16(0), u16(0), u16(count), u16(count), u32(options.zip64 ? 0xffffffff : central.length), u32(options.zip64 ? 0xffffffff : offset), u16(0)));
  return concatBytes(...locals, central, ...tail);
}

/** The bytes of `text` in code page 437, as Windows Explorer stores zip entry names. */
export function cp437(text: string): Uint8Array {
  const high = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»';
  return Uint8Array.from([...text], (char) => {
    if (char.charCodeAt(0) < 0x80) return char.charCodeAt(0);
    const index = high.indexOf(char);
    if (index < 0) throw new Error(`${char} is not in the part of CP437 this helper knows`);
    return 0x80 + index;
  });
}

function field(id: number, data: Uint8Array): Uint8Array {
  return concatBytes(u16(id), u16(data.length), data);
}

function u16(value: number): Uint8Array {
  return Uint8Array.of(value & 0xff, (value >> 8) & 0xff);
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0, true);
  return bytes;
}

function u64(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
  return bytes;
}
