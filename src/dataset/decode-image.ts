// Image bytes → RGB8 pixels, in a browser worker and in Node alike (pure-JS decoders, no DOM).
// spec §4.2 (moondream2.md): the model sees PIL `convert("RGB")` — greyscale and palette are
// expanded to three channels and an alpha channel is dropped without compositing.

import { decode as decodePng } from 'fast-png';
import { decode as decodeJpeg } from 'jpeg-js';
import { describeGitLfsPointer, GIT_LFS_ADVICE, readGitLfsPointer } from '../files/git-lfs-pointer.ts';
import { describeOtherImageFormat, imageEnd, MAX_IMAGE_PIXELS, readImageSize, sniffImageFormat, type ImageHeader } from './image-header.ts';

export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 bytes, row-major, R G B. */
  rgb: Uint8Array;
}

/** Why an image cannot be used; `reason` completes "image.jpg …" and says what to do. */
export type ImageProblemKind = 'not-an-image' | 'git-lfs-pointer' | 'truncated' | 'corrupt' | 'too-large';

export class ImageDecodeError extends Error {
  constructor(
    readonly kind: ImageProblemKind,
    readonly reason: string,
    fileName: string,
    options?: ErrorOptions,
  ) {
    super(`${fileName} ${reason}`, options);
  }
}

/**
 * Decode a PNG or JPEG to RGB8, as Pillow's `Image.open(…).convert("RGB")` does: the pixels as
 * stored (an EXIF orientation is not applied), bytes after the image's end marker ignored.
 * Throws an ImageDecodeError naming the file for anything else.
 */
export function decodeImage(bytes: Uint8Array, fileName: string): RgbImage {
  const header = checkImageHeader(bytes, fileName);
  const end = imageEnd(bytes, header.format);
  if (end === undefined) {
    throw new ImageDecodeError('truncated', `stops before its end marker: the ${header.format.toUpperCase()} file was cut short (an interrupted download or copy); copy it again.`, fileName);
  }
  try {
    return header.format === 'png' ? decodePngToRgb(bytes.subarray(0, end)) : decodeJpegToRgb(bytes.subarray(0, end));
  } catch (cause) {
    // Decoder messages may end in a dangling ": " (pako's "Error while decompressing the data: ").
    const reason = (cause instanceof Error ? cause.message : String(cause)).replace(/[\s:]+$/, '');
    throw new ImageDecodeError('corrupt', `has corrupt ${header.format.toUpperCase()} data (${reason}); export or copy the image again.`, fileName, { cause });
  }
}

/**
 * The header of a PNG or JPEG small enough to decode; throws an ImageDecodeError for other files
 * (other formats, Git LFS pointers, damaged headers) and for images over MAX_IMAGE_PIXELS.
 */
export function checkImageHeader(bytes: Uint8Array, fileName: string): ImageHeader {
  const pointer = readGitLfsPointer(bytes);
  if (pointer) throw new ImageDecodeError('git-lfs-pointer', `${describeGitLfsPointer(pointer)}, not the image; ${GIT_LFS_ADVICE}.`, fileName);
  const format = sniffImageFormat(bytes);
  if (!format) {
    const other = describeOtherImageFormat(bytes);
    throw new ImageDecodeError(
      'not-an-image',
      other
        ? `is ${other}, which moontune does not read; convert it to JPEG or PNG (or re-export the dataset with JPEG or PNG images).`
        : 'is not a PNG or JPEG image; re-export the dataset with JPEG or PNG images.',
      fileName,
    );
  }
  const header = readImageSize(bytes);
  if (!header) throw new ImageDecodeError('corrupt', `has a damaged ${format.toUpperCase()} header; export or copy the image again.`, fileName);
  const pixels = header.width * header.height;
  if (pixels > MAX_IMAGE_PIXELS) {
    throw new ImageDecodeError(
      'too-large',
      `is too large to decode: ${header.width}×${header.height} is ${(pixels / 1e6).toFixed(0)} megapixels, over the ${(MAX_IMAGE_PIXELS / 1e6).toFixed(1)} moontune decodes; downscale it (the model sees 378-pixel crops anyway).`,
      fileName,
    );
  }
  return header;
}

function decodeJpegToRgb(bytes: Uint8Array): RgbImage {
  // Tolerant decoding stays on for encoders that write odd MCU counts. jpeg-js's own limits
  // (100 MP, 512 MB) are raised to ours so that a large photo is never called corrupt.
  const decoded = decodeJpeg(bytes, {
    useTArray: true,
    formatAsRGBA: false,
    tolerantDecoding: true,
    maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
    maxMemoryUsageInMB: Math.ceil((MAX_IMAGE_PIXELS * JPEG_DECODER_BYTES_PER_PIXEL) / 2 ** 20),
  });
  const { width, height, data } = decoded;
  if (data.length !== width * height * 3) throw new Error(`expected ${width * height * 3} bytes, got ${data.length}`);
  return { width, height, rgb: data };
}

/**
 * What jpeg-js allocates per pixel while decoding, as it counts it: per component (up to 4, CMYK)
 * a 4-byte coefficient and a 1-byte sample, then the RGB output; rounded up for block padding.
 */
const JPEG_DECODER_BYTES_PER_PIXEL = 24;

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
