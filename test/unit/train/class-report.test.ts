// Per-class counts worked out by hand for a handful of answers.
import { describe, expect, it } from 'vitest';
import { classCountReports } from '../../../src/train/class-report.ts';

const sample = (expected: string, answer: string) => ({ path: 'x.png', question: 'q', expected, answer });

describe('classCountReports', () => {
  const samples = [
    sample('{"penny": 2, "dime": 1}', '{"penny": 2, "dime": 1}'), // both right
    sample('{"penny": 1}', '{"penny": 3, "dime": 1}'), // penny off by 2, dime off by 1
    sample('{"dime": 7}', 'no idea'), // unparseable
    sample('{}', '{}'), // both right at 0
    sample('free text', '{"penny": 1}'), // not a counting answer: left out
  ];
  const [penny, dime] = classCountReports(['penny', 'dime'], samples, { maxCount: 3 });

  it('scores accuracy over counting samples and error over parsed answers', () => {
    expect(penny.samples).toBe(4);
    expect(penny.accuracy).toBeCloseTo(2 / 4, 12);
    expect(penny.meanAbsoluteError).toBeCloseTo((0 + 2 + 0) / 3, 12);
    expect(dime.accuracy).toBeCloseTo(2 / 4, 12);
    expect(dime.meanAbsoluteError).toBeCloseTo((0 + 1 + 0) / 3, 12);
  });

  it('fills the predicted-vs-true table, large counts in the last bucket', () => {
    // penny: true 2 → 2; true 1 → 3; true 0 → 0 (the {} answer).
    expect(penny.confusion).toEqual([
      [1, 0, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 1, 0],
      [0, 0, 0, 0],
    ]);
    expect(penny.unparseable).toEqual([1, 0, 0, 0]);
    // dime: true 1 → 1; true 0 → 1; true 0 → 0; the unparseable answer had true 7 → bucket 3.
    expect(dime.confusion).toEqual([
      [1, 1, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    expect(dime.unparseable).toEqual([0, 0, 0, 1]);
  });

  it('has no error when nothing parsed, and rejects a bad bucket count', () => {
    const [only] = classCountReports(['penny'], [sample('{"penny": 1}', 'hmm')]);
    expect(only.meanAbsoluteError).toBeNull();
    expect(only.accuracy).toBe(0);
    expect(() => classCountReports(['penny'], [], { maxCount: 0 })).toThrow(/maxCount/);
  });
});
