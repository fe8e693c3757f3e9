// Small in-memory datasets for the dataset tests: COCO json objects, tiny real PNG and JPEG images
// (with the extras phones write), and Roboflow-layout zips or file sets built from them.

import { encode as encodePng } from 'fast-png';
import { encode as encodeJpeg } from 'jpeg-js';
import { zipSync } from 'fflate';
import type { DatasetSource, SourceFile } from '../../src/dataset/types.ts';

/** A solid-colour RGB PNG of the given size. */
export function solidPng(width: number, height: number, rgb: [number, number, number] = [40, 80, 120]): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return encodePng({ width, height, data, channels: 3, depth: 8 });
}

/** An RGB PNG whose bytes vary (so that its deflate stream is long enough to damage in tests). */
export function noisyPng(width: number, height: number): Uint8Array {
  return encodePng({ width, height, data: new Uint8Array(width * height * 3).map((_, i) => i * 7), channels: 3, depth: 8 });
}

export interface TestImage {
  file: string;
  width?: number;
  height?: number;
  /** [categoryId, x, y, width, height] per box. */
  boxes?: [number, number, number, number, number][];
}

/** Roboflow's categories: the placeholder (id 0, supercategory "none") and the real classes from id 1. */
export function roboflowCategories(names: string[], group = 'things'): object[] {
  return [{ id: 0, name: group, supercategory: 'none' }, ...names.map((name, index) => ({ id: index + 1, name, supercategory: group }))];
}

/** A COCO annotation file in Roboflow's shape. Image and annotation ids start at 0. */
export function cocoJson(images: TestImage[], categories: object[] = roboflowCategories(['cat', 'dog'])): Record<string, unknown> {
  const annotations: object[] = [];
  images.forEach((image, imageId) => {
    for (const [categoryId, x, y, width, height] of image.boxes ?? []) {
      annotations.push({ id: annotations.length, image_id: imageId, category_id: categoryId, bbox: [x, y, width, height], area: width * height, segmentation: [], iscrowd: 0 });
    }
  });
  return {
    info: { year: '2024', version: '1', description: 'test' },
    licenses: [{ id: 1, url: '', name: 'Public Domain' }],
    categories,
    images: images.map((image, id) => ({ id, license: 1, file_name: image.file, width: image.width ?? 20, height: image.height ?? 16 })),
    annotations,
  };
}

export type FileTree = Record<string, Uint8Array | string | object>;

const toBytes = (content: Uint8Array | string | object): Uint8Array =>
  content instanceof Uint8Array ? content : new TextEncoder().encode(typeof content === 'string' ? content : JSON.stringify(content));

/**
 * A Roboflow export as a file tree: for each split folder, its json and a PNG for every image
 * listed (sized as listed), unless `omit` names the file.
 */
export function roboflowTree(splits: Record<string, TestImage[]>, options: { categories?: object[]; omit?: string[] } = {}): FileTree {
  const tree: FileTree = {};
  for (const [folder, images] of Object.entries(splits)) {
    tree[`${folder}/_annotations.coco.json`] = cocoJson(images, options.categories);
    for (const image of images) {
      const path = `${folder}/${image.file}`;
      if (!options.omit?.includes(path)) tree[path] = solidPng(image.width ?? 20, image.height ?? 16);
    }
  }
  return tree;
}

export function zipOf(tree: FileTree, prefix = ''): Uint8Array {
  const entries: Record<string, Uint8Array> = {};
  for (const [path, content] of Object.entries(tree)) entries[prefix + path] = toBytes(content);
  return zipSync(entries);
}

export function zipSource(tree: FileTree, prefix = '', name = 'test.zip'): DatasetSource {
  return { kind: 'zip', name, data: zipOf(tree, prefix) };
}

export function filesSource(tree: FileTree, name = 'folder'): DatasetSource {
  const files: SourceFile[] = Object.entries(tree).map(([path, content]) => {
    const bytes = toBytes(content);
    return { path, size: bytes.length, read: async () => bytes };
  });
  return { kind: 'files', name, files };
}

/** A flat-colour baseline JPEG (jpeg-js, quality 90). */
export function solidJpeg(width: number, height: number, rgb: [number, number, number] = [40, 80, 120]): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < rgba.length; i += 4) rgba.set([...rgb, 255], i);
  return new Uint8Array(encodeJpeg({ width, height, data: rgba }, 90).data);
}

/**
 * The JPEG with an APP1 "Exif" segment after SOI holding one IFD0 entry, Orientation (0x0112)
 * = `orientation`, in the byte order given (EXIF 2.32 §4.5.2, §4.6.4). `thumbnail` bytes are
 * appended inside the segment, as cameras embed a whole small JPEG there.
 */
export function withExifOrientation(jpeg: Uint8Array, orientation: number, options: { bigEndian?: boolean; thumbnail?: Uint8Array } = {}): Uint8Array {
  const little = !options.bigEndian;
  const tiff = new Uint8Array(8 + 2 + 12 + 4);
  const view = new DataView(tiff.buffer);
  tiff.set(little ? [0x49, 0x49] : [0x4d, 0x4d], 0);
  view.setUint16(2, 42, little);
  view.setUint32(4, 8, little); // IFD0 right after the header
  view.setUint16(8, 1, little); // one entry
  view.setUint16(10, 0x0112, little); // Orientation
  view.setUint16(12, 3, little); // SHORT
  view.setUint32(14, 1, little); // count 1
  view.setUint16(18, orientation, little); // value, left-justified
  view.setUint32(22, 0, little); // no next IFD
  const thumbnail = options.thumbnail ?? new Uint8Array(0);
  const payload = concatBytes(new TextEncoder().encode('Exif\0\0'), tiff, thumbnail);
  const segment = new Uint8Array(4 + payload.length);
  segment.set([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
  segment.set(payload, 4);
  return concatBytes(jpeg.subarray(0, 2), segment, jpeg.subarray(2));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const result = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/** CRC-32 (IEEE 802.3, as zip and PNG use it), bit by bit: small and obviously right. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The PNG with its IHDR saying `width`×`height` (CRC rewritten): a header of a huge image without its pixels. */
export function pngClaimingSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const result = png.slice();
  const view = new DataView(result.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(result.subarray(12, 29))); // CRC over "IHDR" and its 13 data bytes
  return result;
}

/** A Git LFS pointer file (git-lfs docs/spec.md) for a file of `size` bytes. */
export function gitLfsPointer(size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize ${size}\n`;
}
