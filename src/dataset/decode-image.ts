// Image bytes → RGB8 pixels, in a browser worker and in Node alike (pure-JS decoders, no DOM).
// spec §4.2 (moondream2.md): the model sees PIL `convert("RGB")` — greyscale and palette are
// expanded to three channels and an alpha channel is dropped without compositing.

import { decode as decodePng } from 'fast-png';
import { decode as decodeJpeg } from 'jpeg-js';

export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, row-major, R G B. */
  rgb: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format from the bytes' signature (the file name's extension is not trusted). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((value, i) => bytes[i] === value)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return undefined;
}

function unsupportedFormat(fileName: string): Error {
  return new Error(`${fileName}: not a PNG or JPEG image; re-export the dataset with PNG or JPEG images.`);
}

/** Decode a PNG or JPEG to RGB8. Throws an Error naming the file for other formats or corrupt data. */
export function decodeImage(bytes: Uint8Array, fileName: string): RgbImage {
  const format = sniffImageFormat(bytes);
  if (!format) throw unsupportedFormat(fileName);
  try {
    return format === 'png' ? decodePngToRgb(bytes) : decodeJpegToRgb(bytes);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(`${fileName}: the ${format.toUpperCase()} data is corrupt or truncated (${reason}).`, { cause });
  }
}

function decodeJpegToRgb(bytes: Uint8Array): RgbImage {
  // A cut-off JPEG would decode into a half-grey picture; PIL refuses it ("image file is
  // truncated"), and so do we. Tolerant decoding stays on for encoders that write odd MCU counts.
  if (!looksComplete(bytes, 'jpeg')) throw new Error('the file ends before its end-of-image marker');
  const decoded = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: true });
  const { width, height, data } = decoded;
  if (data.length !== width * height * 3) throw new Error(`expected ${width * height * 3} bytes, got ${data.length}`);
  return { width, height, rgb: data };
}

function decodePngToRgb(bytes: Uint8Array): RgbImage {
  const png = decodePng(bytes);
  const { width, height, depth, channels } = png;
  const rgb = new Uint8Array(width * height * 3);
  // Rows of sub-byte depths are packed and padded to a whole byte.
  const samplesPerRow = width * channels;
  const rowStride = depth < 8 ? Math.ceil((samplesPerRow * depth) / 8) : samplesPerRow;
  const data = png.data;
  const expected = rowStride * height;
  if (data.length < expected) throw new Error(`pixel data has ${data.length} samples, expected ${expected}`);

  const sample = (y: number, index: number): number => {
    if (depth === 8) return data[y * rowStride + index];
    if (depth === 16) return data[y * rowStride + index] >> 8; // PIL keeps the high byte
    const bitOffset = index * depth;
    const byte = data[y * rowStride + (bitOffset >> 3)];
    return (byte >> (8 - depth - (bitOffset & 7))) & ((1 << depth) - 1);
  };

  const palette = png.palette;
  // Grey of 1, 2 or 4 bits is scaled to the full 0..255 range, as PIL does (e.g. 4-bit × 17).
  const greyScale = png.palette || depth >= 8 ? 1 : 255 / ((1 << depth) - 1);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 3;
      if (palette) {
        const entry = palette[sample(y, x)];
        if (!entry) throw new Error(`palette index out of range at (${x}, ${y})`);
        rgb[out] = entry[0];
        rgb[out + 1] = entry[1];
        rgb[out + 2] = entry[2];
      } else if (channels <= 2) {
        // grey or grey+alpha: alpha dropped
        const grey = Math.round(sample(y, x * channels) * greyScale);
        rgb[out] = rgb[out + 1] = rgb[out + 2] = grey;
      } else {
        // RGB or RGBA: alpha dropped
        rgb[out] = sample(y, x * channels);
        rgb[out + 1] = sample(y, x * channels + 1);
        rgb[out + 2] = sample(y, x * channels + 2);
      }
    }
  }
  return { width, height, rgb };
}

/**
 * Width and height from the file header only, without decoding pixels: validating a dataset of
 * thousands of photos must not decode each one. Returns undefined when the header is unreadable.
 */
export function readImageSize(bytes: Uint8Array): { format: ImageFormat; width: number; height: number } | undefined {
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
    let offset = 2;
    while (offset + 4 <= bytes.length) {
      if (bytes[offset] !== 0xff) return undefined;
      const marker = bytes[offset + 1];
      if (marker === 0xff) { offset++; continue; } // fill byte
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { offset += 2; continue; }
      if (marker === 0xd9 || marker === 0xda) return undefined; // end or scan before any frame header
      const length = view.getUint16(offset + 2);
      // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc): precision(1) height(2) width(2)
      const isFrameHeader = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isFrameHeader) {
        if (offset + 9 > bytes.length) return undefined;
        const height = view.getUint16(offset + 5);
        const width = view.getUint16(offset + 7);
        return width > 0 && height > 0 ? { format, width, height } : undefined;
      }
      offset += 2 + length;
    }
  }
  return undefined;
}

/**
 * Whether the bytes end the way a complete file of the format ends (PNG: the IEND chunk; JPEG:
 * the EOI marker). A cheap check for files cut short by an interrupted download or upload.
 */
export function looksComplete(bytes: Uint8Array, format: ImageFormat): boolean {
  if (format === 'png') {
    const iend = [0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]; // "IEND" + its fixed CRC
    return bytes.length >= 20 && iend.every((value, i) => bytes[bytes.length - 8 + i] === value);
  }
  // Some encoders pad after EOI; accept it anywhere in the last few bytes.
  for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - 64); i--) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
  }
  return false;
}
