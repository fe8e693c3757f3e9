// What image headers say, on files as phones and editors write them: trailing data after the
// image, EXIF orientation (both byte orders, with an embedded thumbnail), other formats.
import { describe, expect, it } from 'vitest';
import { describeOtherImageFormat, imageEnd, readExifOrientation, readImageSize } from '../../../src/dataset/image-header.ts';
import { concatBytes, solidJpeg, solidPng, withExifOrientation } from '../../helpers/dataset-builders.ts';

const text = (value: string) => new TextEncoder().encode(value);
/** What a motion photo appends after the still: an MP4 (ftyp box first), here 2 kB of it. */
const mp4Tail = concatBytes(Uint8Array.from([0, 0, 0, 0x18]), text('ftypmp42'), new Uint8Array(2048).map((_, i) => (i * 37) & 0xff));

describe('imageEnd: where the image stops, not where the file does', () => {
  it('a JPEG followed by a video (motion photo) ends at its own EOI', () => {
    const jpeg = solidJpeg(16, 8);
    const motion = concatBytes(jpeg, mp4Tail);
    expect(imageEnd(motion, 'jpeg')).toBe(jpeg.length);
    expect(readImageSize(motion)).toEqual({ format: 'jpeg', width: 16, height: 8 });
  });

  it('a PNG with bytes after IEND ends at IEND', () => {
    const png = solidPng(5, 4);
    expect(imageEnd(concatBytes(png, text('editor trailer data')), 'png')).toBe(png.length);
  });

  it('the EOI of an EXIF thumbnail inside APP1 is not the end of the image', () => {
    const thumbnail = solidJpeg(8, 8);
    const jpeg = withExifOrientation(solidJpeg(16, 8), 6, { thumbnail });
    expect(imageEnd(jpeg, 'jpeg')).toBe(jpeg.length);
    expect(imageEnd(jpeg.subarray(0, jpeg.length - 4), 'jpeg')).toBeUndefined();
  });

  it('a cut file has no end, with or without the tail', () => {
    const jpeg = solidJpeg(16, 8);
    expect(imageEnd(jpeg.subarray(0, jpeg.length - 2), 'jpeg')).toBeUndefined();
    const png = solidPng(5, 4);
    expect(imageEnd(png.subarray(0, png.length - 12), 'png')).toBeUndefined();
  });
});

describe('readExifOrientation', () => {
  it.each([1, 3, 6, 8])('reads orientation %i in both byte orders', (orientation) => {
    expect(readExifOrientation(withExifOrientation(solidJpeg(16, 8), orientation))).toBe(orientation);
    expect(readExifOrientation(withExifOrientation(solidJpeg(16, 8), orientation, { bigEndian: true }))).toBe(orientation);
  });

  it('is undefined without EXIF, and for PNGs', () => {
    expect(readExifOrientation(solidJpeg(16, 8))).toBeUndefined();
    expect(readExifOrientation(solidPng(4, 4))).toBeUndefined();
  });

  it('does not change the size the header reports (the pixels as stored)', () => {
    expect(readImageSize(withExifOrientation(solidJpeg(16, 8), 6))).toEqual({ format: 'jpeg', width: 16, height: 8 });
  });
});

describe('describeOtherImageFormat', () => {
  it('names the formats phones and the web use', () => {
    const box = (brand: string) => concatBytes(Uint8Array.from([0, 0, 0, 0x18]), text(`ftyp${brand}`), new Uint8Array(16));
    expect(describeOtherImageFormat(box('heic'))).toMatch(/HEIC/);
    expect(describeOtherImageFormat(box('avif'))).toMatch(/AVIF/);
    expect(describeOtherImageFormat(concatBytes(text('RIFF'), new Uint8Array(4), text('WEBPVP8 ')))).toMatch(/WebP/);
    expect(describeOtherImageFormat(box('mp42'))).toBeUndefined();
    expect(describeOtherImageFormat(text('hello world'))).toBeUndefined();
  });
});
