import { describe, expect, it } from 'vitest';
import { encode as encodePng } from 'fast-png';
import { encode as encodeJpeg } from 'jpeg-js';
import { decodeImage } from '../../../src/dataset/decode-image.ts';
import { imageEnd, readImageSize, sniffImageFormat } from '../../../src/dataset/image-header.ts';

// A 3×2 image with six distinct colours; every variant below must decode to exactly these
// (the expected RGB is hand-derived per variant, as PIL convert("RGB") would give).
const RGB = [
  [255, 0, 0], [0, 255, 0], [0, 0, 255],
  [10, 20, 30], [200, 100, 50], [255, 255, 255],
];
const flatRgb = Uint8Array.from(RGB.flat());

describe('decodeImage: PNG variants to RGB8 (spec §4.2: like PIL convert("RGB"))', () => {
  it('RGB 8-bit', () => {
    const png = encodePng({ width: 3, height: 2, data: flatRgb, channels: 3, depth: 8 });
    expect(decodeImage(png, 'a.png')).toEqual({ width: 3, height: 2, rgb: flatRgb });
  });

  it('RGBA: alpha dropped, not composited', () => {
    const rgba = Uint8Array.from(RGB.flatMap((pixel, i) => [...pixel, i * 40]));
    const png = encodePng({ width: 3, height: 2, data: rgba, channels: 4, depth: 8 });
    expect(decodeImage(png, 'a.png').rgb).toEqual(flatRgb);
  });

  it('16-bit RGB keeps the high byte', () => {
    const data = Uint16Array.from(RGB.flat().map((value) => value * 256 + 0x7f));
    const png = encodePng({ width: 3, height: 2, data, channels: 3, depth: 16 });
    expect(decodeImage(png, 'a.png').rgb).toEqual(flatRgb);
  });

  it('greyscale and greyscale+alpha expand to three equal channels', () => {
    const grey = Uint8Array.from([0, 50, 100, 150, 200, 255]);
    const expected = Uint8Array.from([...grey].flatMap((value) => [value, value, value]));
    expect(decodeImage(encodePng({ width: 3, height: 2, data: grey, channels: 1, depth: 8 }), 'g.png').rgb).toEqual(expected);
    const greyAlpha = Uint8Array.from([...grey].flatMap((value) => [value, 7]));
    expect(decodeImage(encodePng({ width: 3, height: 2, data: greyAlpha, channels: 2, depth: 8 }), 'ga.png').rgb).toEqual(expected);
  });

  it('palette (8-bit indices) expands through the palette', () => {
    const palette = RGB.map(([r, g, b]) => [r, g, b] as [number, number, number]);
    const indices = Uint8Array.from([5, 4, 3, 2, 1, 0]);
    const png = encodePng({ width: 3, height: 2, data: indices, channels: 1, depth: 8, palette });
    expect(decodeImage(png, 'p.png').rgb).toEqual(Uint8Array.from([5, 4, 3, 2, 1, 0].flatMap((i) => RGB[i])));
  });

  it('4-bit greyscale scales to 0..255 (value × 17)', () => {
    // rows of 3 pixels × 4 bits = 12 bits, padded to 2 bytes: [0x0f, 0x80] = 0, 15, 8 | [0x31, 0xa0] = 3, 1, 10
    const packed = Uint8Array.from([0x0f, 0x80, 0x31, 0xa0]);
    const png = encodePng({ width: 3, height: 2, data: packed, channels: 1, depth: 4 });
    const values = [0, 15, 8, 3, 1, 10].map((v) => v * 17);
    expect(decodeImage(png, 'g4.png').rgb).toEqual(Uint8Array.from(values.flatMap((v) => [v, v, v])));
  });

  it('1-bit palette indices', () => {
    const palette: [number, number, number][] = [[9, 8, 7], [250, 240, 230]];
    // rows of 3 pixels × 1 bit, padded to a byte: 101 | 011
    const packed = Uint8Array.from([0b10100000, 0b01100000]);
    const png = encodePng({ width: 3, height: 2, data: packed, channels: 1, depth: 1, palette });
    const expected = [1, 0, 1, 0, 1, 1].flatMap((i) => palette[i]);
    expect(decodeImage(png, 'p1.png').rgb).toEqual(Uint8Array.from(expected));
  });
});

describe('decodeImage: JPEG', () => {
  it('decodes a baseline JPEG to RGB within JPEG error', () => {
    const width = 16, height = 8;
    const rgba = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) rgba.set([200, 60, 30, 255], i * 4);
    const jpeg = new Uint8Array(encodeJpeg({ width, height, data: rgba }, 95).data);
    const image = decodeImage(jpeg, 'a.jpg');
    expect([image.width, image.height, image.rgb.length]).toEqual([width, height, width * height * 3]);
    // Tolerance ±4: a flat colour survives JPEG at quality 95 within a few levels (YCbCr rounding).
    for (let i = 0; i < image.rgb.length; i += 3) {
      expect(Math.abs(image.rgb[i] - 200)).toBeLessThanOrEqual(4);
      expect(Math.abs(image.rgb[i + 1] - 60)).toBeLessThanOrEqual(4);
      expect(Math.abs(image.rgb[i + 2] - 30)).toBeLessThanOrEqual(4);
    }
    expect(readImageSize(jpeg)).toEqual({ format: 'jpeg', width, height });
    expect(imageEnd(jpeg, 'jpeg')).toBe(jpeg.length);
    expect(imageEnd(jpeg.subarray(0, jpeg.length - 10), 'jpeg')).toBeUndefined();
    expect(() => decodeImage(jpeg.subarray(0, jpeg.length - 10), 'cut.jpg')).toThrow(/^cut\.jpg stops before its end marker: the JPEG file was cut short/);
  });
});

describe('decodeImage: errors name the file and say what to do', () => {
  const png = encodePng({ width: 3, height: 2, data: flatRgb, channels: 3, depth: 8 });

  it('rejects other formats', () => {
    const gif = new TextEncoder().encode('GIF89a....');
    expect(sniffImageFormat(gif)).toBeUndefined();
    expect(() => decodeImage(gif, 'x.gif')).toThrow(/^x\.gif is a GIF image, which moontune does not read; convert it to JPEG or PNG/);
  });

  it('rejects a truncated PNG', () => {
    expect(() => decodeImage(png.subarray(0, png.length - 20), 'cut.png')).toThrow(/^cut\.png stops before its end marker: the PNG file was cut short/);
    expect(imageEnd(png, 'png')).toBe(png.length);
    expect(imageEnd(png.subarray(0, png.length - 1), 'png')).toBeUndefined();
  });

  it('rejects a corrupt JPEG', () => {
    const junk = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34]);
    expect(() => decodeImage(junk, 'bad.jpg')).toThrow(/^bad\.jpg has a damaged JPEG header/);
    expect(readImageSize(junk)).toBeUndefined();
  });

  it('reads the size from the header alone', () => {
    expect(readImageSize(png)).toEqual({ format: 'png', width: 3, height: 2 });
    expect(readImageSize(png.subarray(0, 16))).toBeUndefined();
  });
});
