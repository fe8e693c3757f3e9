// What an image file says about itself before any pixel is decoded: its format (from the
// signature, not the file name), its size, where the image ends, and its EXIF orientation.
// Phones and editors write files that are longer than the image inside them — a motion photo
// is a JPEG followed by an MP4 video, some editors append data after a PNG's IEND — so "ends
// properly" means "has its end marker", not "ends with it".

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

/**
 * The largest image decoded, in pixels: Pillow's decompression-bomb threshold (`MAX_IMAGE_PIXELS`,
 * 89,478,485 ≈ 89.5 megapixels). A decoded image takes 3 bytes a pixel; the model sees it as
 * 378-pixel crops anyway (spec §4), so nothing is lost by downscaling a larger one.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format from the bytes' signature (the file name's extension is not trusted). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((value, i) => bytes[i] === value)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

/** Other image formats people export, named in messages (signatures from each format's spec). */
export function describeOtherImageFormat(bytes: Uint8Array): string | undefined {
  const ascii = (start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'a WebP image';
  if (ascii(4, 8) === 'ftyp' && /^(heic|heix|hevc|heim|heis|mif1|msf1)$/.test(ascii(8, 12))) return 'a HEIC/HEIF image (the iPhone default)';
  if (ascii(4, 8) === 'ftyp' && /^avi[fs]$/.test(ascii(8, 12))) return 'an AVIF image';
  if (ascii(0, 3) === 'GIF') return 'a GIF image';
  if (ascii(0, 2) === 'BM') return 'a BMP image';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'a TIFF image';
  return undefined;
}

/** Width and height from the header alone (PNG IHDR, JPEG SOFn); undefined when unreadable. */
export function readImageSize(bytes: Uint8Array): ImageHeader | undefined {
  const format = sniffImageFormat(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'png') {
    // IHDR must be the first chunk: length(4) "IHDR"(4) width(4) height(4)
    if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return undefined;
    const width = view.getUint32(16);
    const height = view.getUint32(20);
    return width > 0 && height > 0 ? { format, width, height } : undefined;
  }
  if (format === 'jpeg') {
    for (const segment of jpegSegments(bytes)) {
      if (segment.marker === 0xda || segment.marker === 0xd9) return undefined; // scan or end before any frame header
      // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc): length(2) precision(1) height(2) width(2)
      if (isFrameHeader(segment.marker)) {
        if (segment.start + 7 > bytes.length) return undefined;
        const height = view.getUint16(segment.start + 3);
        const width = view.getUint16(segment.start + 5);
        return width > 0 && height > 0 ? { format, width, height } : undefined;
      }
    }
  }
  return undefined;
}

const isFrameHeader = (marker: number) => marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

/**
 * Where the image ends: the byte after PNG's IEND chunk or JPEG's EOI marker, or undefined when
 * the file stops before it (cut short by an interrupted download or copy). Bytes after the end
 * (a motion photo's video, an editor's trailer) are not part of the image; Pillow ignores them too.
 */
export function imageEnd(bytes: Uint8Array, format: ImageFormat): number | undefined {
  return format === 'png' ? pngEnd(bytes) : jpegEnd(bytes);
}

function pngEnd(bytes: Uint8Array): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Chunks after the signature: length(4) type(4) data(length) crc(4) (PNG spec §5.3).
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const next = offset + 12 + view.getUint32(offset);
    if (next > bytes.length) return undefined;
    if (String.fromCharCode(...bytes.subarray(offset + 4, offset + 8)) === 'IEND') return next;
    offset = next;
  }
  return undefined;
}

function jpegEnd(bytes: Uint8Array): number | undefined {
  for (const segment of jpegSegments(bytes)) {
    if (segment.marker === 0xd9) return segment.start;
  }
  return undefined;
}

/**
 * The markers of a JPEG in order (ITU T.81 §B.1), `start` being the offset just past each
 * marker's two bytes. A scan's entropy-coded data is stepped over: in it 0xFF is followed by 0x00
 * (a stuffed byte) or a restart marker, so the first other 0xFF xx is the next marker. Segments
 * inside segments (the EXIF thumbnail, a second picture after EOI) are never entered.
 */
function* jpegSegments(bytes: Uint8Array): Generator<{ marker: number; start: number }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 2; // past SOI
  while (offset + 2 <= bytes.length) {
    if (bytes[offset] !== 0xff) return; // not a marker: damaged
    const marker = bytes[offset + 1];
    if (marker === 0xff) { offset++; continue; } // fill byte before a marker
    const start = offset + 2;
    yield { marker, start };
    if (marker === 0xd9) return;
    // Markers without a length: TEM, RSTn.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { offset = start; continue; }
    if (start + 2 > bytes.length) return;
    offset = start + view.getUint16(start);
    if (marker === 0xda) offset = afterEntropyCodedData(bytes, offset);
  }
}

function afterEntropyCodedData(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] !== 0xff) continue;
    const next = bytes[i + 1];
    if (next === 0x00 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) continue;
    return i;
  }
  return bytes.length;
}

/**
 * The EXIF orientation of a JPEG (tag 0x0112 in IFD0 of its APP1 "Exif" segment, EXIF 2.32
 * §4.6.4): 1 is upright, 2–8 say how a viewer should turn or mirror the stored pixels. Undefined
 * when the file has no such tag.
 */
export function readExifOrientation(bytes: Uint8Array): number | undefined {
  if (sniffImageFormat(bytes) !== 'jpeg') return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const segment of jpegSegments(bytes)) {
    if (segment.marker === 0xda || segment.marker === 0xd9) return undefined;
    if (segment.marker !== 0xe1 || segment.start + 10 > bytes.length) continue;
    if (String.fromCharCode(...bytes.subarray(segment.start + 2, segment.start + 8)) !== 'Exif\0\0') continue;
    const tiff = segment.start + 8;
    const segmentEnd = Math.min(bytes.length, segment.start + view.getUint16(segment.start));
    const little = bytes[tiff] === 0x49; // "II" little-endian, "MM" big-endian
    const u16 = (at: number) => view.getUint16(at, little);
    const u32 = (at: number) => view.getUint32(at, little);
    if (tiff + 8 > segmentEnd) return undefined;
    const ifd = tiff + u32(tiff + 4);
    if (ifd + 2 > segmentEnd) return undefined;
    const count = u16(ifd);
    for (let entry = 0; entry < count; entry++) {
      const at = ifd + 2 + entry * 12;
      if (at + 12 > segmentEnd) return undefined;
      if (u16(at) === 0x0112) return u16(at + 8); // SHORT value, left-justified in the entry
    }
    return undefined;
  }
  return undefined;
}

/** Orientations that swap width and height (EXIF 5–8: a quarter turn, mirrored or not). */
export const isQuarterTurn = (orientation: number) => orientation >= 5 && orientation <= 8;
