// One COCO annotation file (a split's `_annotations.coco.json`): parsed and checked for the
// structure moontune relies on. Ids are only meaningful inside one file — Roboflow restarts image
// and annotation ids in every split — so nothing here is keyed across files.

import type { DatasetIssue, SplitName } from './types.ts';
import { readJsonFile } from './json-text.ts';

export interface CocoCategory {
  id: number;
  name: string;
  supercategory?: string;
}

export interface CocoImage {
  id: number;
  fileName: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  /** Position in the file's `annotations` array, for messages. */
  index: number;
  imageId: number;
  categoryId: number;
  bbox: [number, number, number, number];
  /** COCO `iscrowd: 1`: one box around a group of objects. */
  crowd: boolean;
}

export interface CocoFile {
  path: string;
  split: SplitName;
  /** Real classes in id order, the Roboflow placeholder removed; two may share a name (counted as one). */
  classes: CocoCategory[];
  images: CocoImage[];
  /** Annotations of known images and known classes. */
  annotations: CocoAnnotation[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

/**
 * Parses one annotation file. Returns undefined when the file cannot be used at all; every
 * problem found is pushed to `issues`.
 */
export function parseCocoFile(bytes: Uint8Array, path: string, split: SplitName, issues: DatasetIssue[]): CocoFile | undefined {
  const issue = (severity: DatasetIssue['severity'], code: string, message: string) =>
    issues.push({ severity, code, message: `${path}: ${message}`, file: path, split });
  const errorsBefore = issues.filter((entry) => entry.severity === 'error').length;

  const reading = readJsonFile(bytes);
  if (!reading.ok) {
    issue('error', reading.code, reading.message);
    return undefined;
  }
  if (reading.pythonNonFinite > 0) {
    // Where one sits in a box, the annotation is reported as invalid below.
    issue('warning', 'python-nan', `contains ${reading.pythonNonFinite} NaN or Infinity value${reading.pythonNonFinite === 1 ? '' : 's'}, which JSON does not allow (Python's json.dump writes them); they are read as null. Fix the values where they were made, or write the file with json.dump(..., allow_nan=False) to catch them.`);
  }
  const root = reading.value;
  if (!isObject(root)) {
    issue('error', 'not-coco', 'is JSON but not a COCO annotation file (expected an object with images, annotations and categories).');
    return undefined;
  }
  const missing = ['images', 'annotations', 'categories'].filter((field) => !Array.isArray(root[field]));
  for (const field of missing) {
    issue('error', 'missing-field', `has no "${field}" array; a COCO object-detection export needs images, annotations and categories.`);
  }
  if (missing.length > 0) return undefined;

  const categories = parseCategories(root.categories as unknown[], issue);
  const images = parseImages(root.images as unknown[], issue);
  const annotations = parseAnnotations(root.annotations as unknown[], issue);

  const imageIds = new Set(images.map((image) => image.id));
  const categoryIds = new Set(categories.map((category) => category.id));
  const known: CocoAnnotation[] = [];
  for (const annotation of annotations) {
    if (!imageIds.has(annotation.imageId)) {
      // Counts no image: harmless to training, but a sign that the export is inconsistent.
      issue('warning', 'unknown-image', `annotations[${annotation.index}] points to image_id ${annotation.imageId}, which is not in "images"; the annotation is ignored.`);
    } else if (!categoryIds.has(annotation.categoryId)) {
      // The image would be answered without this object: a wrong count.
      issue('error', 'unknown-category', `annotations[${annotation.index}] has category_id ${annotation.categoryId}, which is not in "categories"; fix the category or delete the annotation.`);
    } else {
      known.push(annotation);
    }
  }

  const classes = removePlaceholder(categories, known, issue);
  reportSharedNames(classes, issue);
  const errorsAfter = issues.filter((entry) => entry.severity === 'error').length;
  if (errorsAfter > errorsBefore) return undefined;
  return { path, split, classes, images, annotations: known };
}

type Report = (severity: DatasetIssue['severity'], code: string, message: string) => void;

function parseCategories(entries: unknown[], issue: Report): CocoCategory[] {
  const categories: CocoCategory[] = [];
  const byId = new Map<number, number>();
  entries.forEach((entry, index) => {
    if (!isObject(entry) || !isId(entry.id) || typeof entry.name !== 'string' || entry.name === '') {
      issue('error', 'invalid-category', `categories[${index}] needs an integer "id" and a non-empty "name".`);
      return;
    }
    const { id, name } = entry;
    if (byId.has(id)) {
      issue('error', 'duplicate-category-id', `categories[${index}] repeats id ${id} of categories[${byId.get(id)}].`);
      return;
    }
    byId.set(id, index);
    categories.push({ id, name, supercategory: typeof entry.supercategory === 'string' ? entry.supercategory : undefined });
  });
  if (entries.length === 0) issue('error', 'no-categories', '"categories" is empty; the dataset has no classes to count.');
  return categories.sort((a, b) => a.id - b.id);
}

function parseImages(entries: unknown[], issue: Report): CocoImage[] {
  const images: CocoImage[] = [];
  const byId = new Map<number, number>();
  const byFileName = new Map<string, number>();
  const isSize = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value > 0;
  entries.forEach((entry, index) => {
    if (!isObject(entry) || !isId(entry.id) || typeof entry.file_name !== 'string' || entry.file_name === '' || !isSize(entry.width) || !isSize(entry.height)) {
      issue('error', 'invalid-image-entry', `images[${index}] needs an integer "id", a "file_name" and positive "width" and "height".`);
      return;
    }
    if (byId.has(entry.id)) {
      issue('error', 'duplicate-image-id', `images[${index}] repeats id ${entry.id} of images[${byId.get(entry.id)}]; annotations cannot tell the two apart.`);
      return;
    }
    if (byFileName.has(entry.file_name)) {
      issue('error', 'duplicate-file-name', `images[${index}] repeats file_name "${entry.file_name}" of images[${byFileName.get(entry.file_name)}]; one file cannot have two sets of labels — remove or rename one entry.`);
      return;
    }
    byId.set(entry.id, index);
    byFileName.set(entry.file_name, index);
    images.push({ id: entry.id, fileName: entry.file_name, width: entry.width, height: entry.height });
  });
  return images;
}

function parseAnnotations(entries: unknown[], issue: Report): CocoAnnotation[] {
  const annotations: CocoAnnotation[] = [];
  entries.forEach((entry, index) => {
    const bbox = isObject(entry) ? entry.bbox : undefined;
    const validBox = Array.isArray(bbox) && bbox.length === 4 && bbox.every((value) => typeof value === 'number' && Number.isFinite(value));
    if (!isObject(entry) || !isId(entry.image_id) || !isId(entry.category_id) || !validBox) {
      issue('error', 'invalid-annotation', `annotations[${index}] needs an integer "image_id", an integer "category_id" and a "bbox" of four numbers [x, y, width, height].`);
      return;
    }
    annotations.push({ index, imageId: entry.image_id, categoryId: entry.category_id, bbox: bbox as [number, number, number, number], crowd: entry.iscrowd === 1 || entry.iscrowd === true });
  });
  return annotations;
}

/**
 * Roboflow exports one extra category (usually id 0, supercategory "none") named after the
 * project's class group; every real class names it as its supercategory and nothing is labelled
 * with it. It is not a class: keeping it would list a class in the question that no image has.
 */
function removePlaceholder(categories: CocoCategory[], annotations: CocoAnnotation[], issue: Report): CocoCategory[] {
  const used = new Set(annotations.map((annotation) => annotation.categoryId));
  const isPlaceholderShaped = (category: CocoCategory) =>
    (category.supercategory === undefined || category.supercategory === 'none') &&
    categories.some((other) => other !== category && other.supercategory === category.name);
  return categories.filter((category) => {
    if (!isPlaceholderShaped(category)) return true;
    if (!used.has(category.id)) return false;
    issue('warning', 'placeholder-has-annotations', `category "${category.name}" (id ${category.id}) looks like Roboflow's class-group placeholder but ${annotations.filter((a) => a.categoryId === category.id).length} annotations use it; it is kept as a class.`);
    return true;
  });
}

/**
 * Two categories with one name are one class to the question and the answer (JSON keys are
 * names): their objects are counted together, and the user is told.
 */
function reportSharedNames(classes: CocoCategory[], issue: Report): void {
  const firstIdByName = new Map<string, number>();
  for (const category of classes) {
    const firstId = firstIdByName.get(category.name);
    if (firstId === undefined) firstIdByName.set(category.name, category.id);
    else issue('warning', 'duplicate-class-name', `categories with ids ${firstId} and ${category.id} are both named "${category.name}"; their objects are counted together as "${category.name}".`);
  }
}
