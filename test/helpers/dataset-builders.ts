// Small in-memory datasets for the dataset tests: COCO json objects, tiny real PNG images, and
// Roboflow-layout zips or file sets built from them.

import { encode as encodePng } from 'fast-png';
import { zipSync } from 'fflate';
import type { DatasetSource, SourceFile } from '../../src/dataset/types.ts';

/** A solid-colour RGB PNG of the given size. */
export function solidPng(width: number, height: number, rgb: [number, number, number] = [40, 80, 120]): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return encodePng({ width, height, data, channels: 3, depth: 8 });
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
