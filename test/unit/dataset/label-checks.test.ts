import { describe, expect, it } from 'vitest';
import { boxPlacement, findSuspiciousPairs, intersectionOverUnion } from '../../../src/dataset/label-checks.ts';
import { splitFromFileName, splitFromFolderName } from '../../../src/dataset/splits.ts';

const box = (x: number, y: number, width: number, height: number) => ({ x, y, width, height });

describe('intersectionOverUnion (hand-computed cases)', () => {
  it.each([
    [box(0, 0, 2, 2), box(1, 1, 2, 2), 1 / 7], // overlap 1×1, union 4 + 4 − 1
    [box(0, 0, 10, 10), box(0, 0, 10, 11), 100 / 110],
    [box(0, 0, 10, 10), box(5, 0, 10, 10), 50 / 150],
    [box(0, 0, 4, 4), box(4, 0, 4, 4), 0], // touching edges
    [box(0, 0, 4, 4), box(0, 0, 4, 4), 1],
    [box(0, 0, 0, 4), box(0, 0, 0, 4), 0], // no area
  ])('%j vs %j → %f', (a, b, expected) => {
    expect(intersectionOverUnion(a, b)).toBeCloseTo(expected, 12);
    expect(intersectionOverUnion(b, a)).toBeCloseTo(expected, 12);
  });
});

describe('boxPlacement in a 20×16 image', () => {
  it.each([
    [box(0, 0, 20, 16), 'inside'],
    [box(-1, -1, 22, 18), 'inside'], // 1 px tolerance for export rounding
    [box(-1.5, 0, 5, 5), 'crosses-edge'],
    [box(18, 10, 5, 5), 'crosses-edge'],
    [box(20, 0, 5, 5), 'outside'],
    [box(-5, 0, 5, 5), 'outside'],
    [box(3, 3, 0, 2), 'empty'],
    [box(3, 3, 2, -1), 'empty'],
  ] as const)('%j → %s', (input, expected) => {
    expect(boxPlacement(input, 20, 16)).toBe(expected);
  });
});

describe('findSuspiciousPairs', () => {
  it('flags same-class pairs at IoU ≥ 0.9 and cross-class pairs at IoU ≥ 0.99 only', () => {
    const objects = [
      { classIndex: 0, box: box(0, 0, 10, 10) },
      { classIndex: 0, box: box(0, 0, 10, 11) }, // IoU 0.909 with #0
      { classIndex: 1, box: box(0, 0, 10, 10) }, // identical to #0, other class; IoU 0.909 with #1
      { classIndex: 0, box: box(30, 30, 5, 5) },
    ];
    const { nearDuplicates, conflictingClasses } = findSuspiciousPairs(objects);
    expect(nearDuplicates.map(({ first, second }) => [first, second])).toEqual([[0, 1]]);
    expect(conflictingClasses.map(({ first, second }) => [first, second])).toEqual([[0, 2]]);
  });
});

describe('split names', () => {
  it('maps folder names case-insensitively', () => {
    expect(['train', 'valid', 'val', 'Validation', 'test', 'images'].map(splitFromFolderName)).toEqual(['train', 'val', 'val', 'val', 'test', undefined]);
  });

  it('finds one split word in a file name', () => {
    expect(splitFromFileName('instances_val2017.json')).toBe('val');
    expect(splitFromFileName('train-labels.json')).toBe('train');
    expect(splitFromFileName('labels.json')).toBeUndefined();
    expect(splitFromFileName('train_test.json')).toBeUndefined(); // ambiguous
  });
});
