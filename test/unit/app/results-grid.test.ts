// The results grid's rows: joined by path, filtered and paged, checked against a hand-built dataset.
import { describe, expect, it } from 'vitest';
import { filterRows, objectCounts, pageOf, resultRows } from '../../../src/app/results-grid.ts';
import type { CountingDataset, DatasetImage } from '../../../src/dataset/types.ts';
import type { EvaluationResult } from '../../../src/train/session-types.ts';

const box = { x: 0, y: 0, width: 4, height: 4 };
const image = (path: string, classIndices: number[]): DatasetImage => ({
  split: 'test',
  fileName: path,
  path,
  width: 64,
  height: 64,
  objects: classIndices.map((classIndex) => ({ classIndex, box })),
  question: 'q',
  answer: 'a',
} as unknown as DatasetImage);
const dataset = {
  name: 'coins',
  classes: [{ id: 1, name: 'penny' }, { id: 2, name: 'dime' }],
  images: [image('a.png', [0, 0]), image('b.png', [1]), image('c.png', [])],
} as unknown as CountingDataset;
const result = (rows: [string, string, boolean][]): EvaluationResult =>
  ({ results: rows.map(([path, answer, exactMatch]) => ({ path, question: 'q', expected: `exp ${path}`, answer, exactMatch, parseable: true })) }) as unknown as EvaluationResult;

describe('resultRows', () => {
  const before = result([['a.png', 'x', false], ['b.png', 'y', false]]);
  const after = result([['a.png', 'ok', true], ['b.png', 'no', false], ['c.png', 'ok', true]]);
  const rows = resultRows(dataset, before, after);

  it('joins before and after by path with the image, its object count and classes', () => {
    expect(rows.map((row) => row.path)).toEqual(['a.png', 'b.png', 'c.png']);
    expect(rows[0]).toMatchObject({ imageIndex: 0, objectCount: 2, classesPresent: ['penny'], before: { answer: 'x' }, after: { answer: 'ok', exactMatch: true } });
    expect(rows[2].before).toBeUndefined();
    expect(rows[1].classesPresent).toEqual(['dime']);
  });

  it('filters on the latest answer, a class and an object count', () => {
    expect(filterRows(rows, { wrongOnly: true }).map((row) => row.path)).toEqual(['b.png']);
    expect(filterRows(resultRows(dataset, before, undefined), { wrongOnly: true }).map((row) => row.path)).toEqual(['a.png', 'b.png']);
    expect(filterRows(rows, { className: 'penny' }).map((row) => row.path)).toEqual(['a.png']);
    expect(filterRows(rows, { objectCount: 0 }).map((row) => row.path)).toEqual(['c.png']);
    expect(objectCounts(rows)).toEqual([0, 1, 2]);
  });

  it('marks an image the dataset no longer has', () => {
    const [row] = resultRows(dataset, result([['gone.png', 'x', false]]), undefined);
    expect(row.imageIndex).toBe(-1);
    expect(row.objectCount).toBe(0);
  });
});

describe('pageOf', () => {
  it('slices pages and clamps the page number', () => {
    const items = [1, 2, 3, 4, 5];
    expect(pageOf(items, 1, 2)).toEqual({ items: [3, 4], page: 1, pages: 3 });
    expect(pageOf(items, 9, 2)).toEqual({ items: [5], page: 2, pages: 3 });
    expect(pageOf([], 0, 2)).toEqual({ items: [], page: 0, pages: 1 });
    expect(() => pageOf(items, 0, 0)).toThrow(/pageSize/);
  });
});
