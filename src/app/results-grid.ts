// The rows of the results grid: every evaluated test image with its answers before and after
// training, joined by image path with the dataset (for the boxes, the classes present and the
// object count), then filtered and paged. Pure, so the grid's logic is tested without a page.
import type { CountingDataset, DatasetImage } from '../dataset/types.ts';
import type { EvaluationResult } from '../train/session-types.ts';

export interface AnswerCell {
  answer: string;
  exactMatch: boolean;
  parseable: boolean;
}

export interface ResultRow {
  path: string;
  /** Index into dataset.images (for reading the image), or -1 when the dataset no longer has it. */
  imageIndex: number;
  image: DatasetImage | undefined;
  expected: string;
  objectCount: number;
  /** Names of the classes with at least one object in the image. */
  classesPresent: string[];
  before?: AnswerCell;
  after?: AnswerCell;
}

export interface ResultFilter {
  /** Only rows whose latest answer (after, else before) is not an exact match. */
  wrongOnly?: boolean;
  /** Only images with at least one object of this class. */
  className?: string;
  /** Only images with exactly this many objects. */
  objectCount?: number;
}

/** Rows in the order the images were measured (before's order, then any only in after). */
export function resultRows(dataset: CountingDataset, before: EvaluationResult | undefined, after: EvaluationResult | undefined): ResultRow[] {
  const imageIndexByPath = new Map(dataset.images.map((image, index) => [image.path, index]));
  const rows = new Map<string, ResultRow>();
  const cell = (row: EvaluationResult['results'][number]): AnswerCell => ({ answer: row.answer, exactMatch: row.exactMatch, parseable: row.parseable });
  const rowFor = (result: EvaluationResult['results'][number]): ResultRow => {
    const existing = rows.get(result.path);
    if (existing) return existing;
    const imageIndex = imageIndexByPath.get(result.path) ?? -1;
    const image = imageIndex >= 0 ? dataset.images[imageIndex] : undefined;
    const present = new Set(image?.objects.map((object) => object.classIndex) ?? []);
    const row: ResultRow = {
      path: result.path,
      imageIndex,
      image,
      expected: result.expected,
      objectCount: image?.objects.length ?? 0,
      classesPresent: dataset.classes.filter((_, index) => present.has(index)).map((c) => c.name),
    };
    rows.set(result.path, row);
    return row;
  };
  for (const result of before?.results ?? []) rowFor(result).before = cell(result);
  for (const result of after?.results ?? []) rowFor(result).after = cell(result);
  return [...rows.values()];
}

export function filterRows(rows: readonly ResultRow[], filter: ResultFilter): ResultRow[] {
  return rows.filter((row) => {
    const latest = row.after ?? row.before;
    if (filter.wrongOnly && (!latest || latest.exactMatch)) return false;
    if (filter.className !== undefined && !row.classesPresent.includes(filter.className)) return false;
    if (filter.objectCount !== undefined && row.objectCount !== filter.objectCount) return false;
    return true;
  });
}

/** The object counts that occur, ascending (for the filter's choices). */
export function objectCounts(rows: readonly ResultRow[]): number[] {
  return [...new Set(rows.map((row) => row.objectCount))].sort((a, b) => a - b);
}

export interface Page<T> {
  items: T[];
  /** 0-based, clamped into range. */
  page: number;
  pages: number;
}

export function pageOf<T>(items: readonly T[], page: number, pageSize: number): Page<T> {
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a whole number ≥ 1, got ${pageSize}`);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const clamped = Math.min(Math.max(0, Math.floor(page)), pages - 1);
  return { items: items.slice(clamped * pageSize, (clamped + 1) * pageSize), page: clamped, pages };
}
