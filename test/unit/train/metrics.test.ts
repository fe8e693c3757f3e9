// Hand-written predictions and the metrics worked out by hand for each.
import { describe, expect, it } from 'vitest';
import { evaluatePredictions, firstJsonObject, isExactMatch, parseCounts } from '../../../src/train/metrics.ts';

const PENNY_DIME = '{\n  "penny": 2,\n  "dime": 1\n}';

describe('isExactMatch (byte-exact after stripping, as upstream .strip())', () => {
  it('ignores surrounding whitespace only', () => {
    expect(isExactMatch(` ${PENNY_DIME}\n`, PENNY_DIME)).toBe(true);
    expect(isExactMatch('{"penny": 2, "dime": 1}', PENNY_DIME)).toBe(false); // same counts, other layout
    expect(isExactMatch('{\n  "penny": 2,\n  "dime": 0,\n  "dime": 1\n}', PENNY_DIME)).toBe(false);
  });

  it('tells {"dime": 0} from {}', () => {
    expect(isExactMatch('{"dime": 0}', '{}')).toBe(false);
  });
});

describe('firstJsonObject', () => {
  it('finds the object inside prose and fences', () => {
    expect(firstJsonObject('Sure! ```json\n{"a": 1}\n``` done {"b": 2}')).toBe('{"a": 1}');
  });

  it('balances nested braces and skips braces inside strings', () => {
    expect(firstJsonObject('x {"a": {"b": 1}, "c}": "{"} y')).toBe('{"a": {"b": 1}, "c}": "{"}');
    expect(firstJsonObject('{"q\\"}": 1}')).toBe('{"q\\"}": 1}');
  });

  it('returns null for no object or an unclosed one', () => {
    expect(firstJsonObject('three pennies')).toBeNull();
    expect(firstJsonObject('{"penny": 2,')).toBeNull();
  });
});

describe('parseCounts', () => {
  it('reads integer counts, 3.0 and "3" included', () => {
    expect(parseCounts('{"penny": 2, "dime": 3.0, "nickel": "4"}')).toEqual(new Map([['penny', 2], ['dime', 3], ['nickel', 4]]));
  });

  it('reads {} as no objects', () => {
    expect(parseCounts('{}')).toEqual(new Map());
  });

  it.each([
    ['not JSON inside braces', "{'penny': 2}"],
    ['a fractional count', '{"penny": 2.5}'],
    ['a negative count', '{"penny": -1}'],
    ['a word for a count', '{"penny": "two"}'],
    ['a nested object', '{"penny": {"n": 1}}'],
    ['a trailing comma', '{"penny": 2,}'],
    ['no braces', '2 pennies'],
  ])('returns null for %s', (_, text) => {
    expect(parseCounts(text)).toBeNull();
  });
});

describe('evaluatePredictions', () => {
  const classes = ['penny', 'dime'];
  const report = evaluatePredictions(classes, [
    { path: 'a.jpg', question: 'How many?', expected: PENNY_DIME, answer: PENNY_DIME }, // exact
    { path: 'b.jpg', question: 'How many?', expected: '{\n  "penny": 3\n}', answer: '{"penny": 3, "dime": 0}' }, // counts right, not exact
    { path: 'c.jpg', question: 'How many?', expected: '{}', answer: '{"penny": 1, "quarter": 2}' }, // penny off by 1, unknown class
    { path: 'd.jpg', question: 'How many?', expected: '{\n  "dime": 4\n}', answer: 'I see four dimes' }, // unparseable
  ]);

  it('counts exact matches byte for byte', () => {
    expect(report.exactMatches).toBe(1);
    expect(report.exactMatchAccuracy).toBe(0.25);
    expect(report.results.map((r) => r.exactMatch)).toEqual([true, false, false, false]);
  });

  it('counts parseable predictions', () => {
    expect(report.parseableFraction).toBe(0.75);
    expect(report.results.map((r) => r.parseable)).toEqual([true, true, true, false]);
  });

  it('scores each class with absent = 0; an unparseable prediction is wrong for every class', () => {
    // penny right on a, b; wrong on c (1 vs 0), d (unparseable). dime right on a, b, c; wrong on d.
    expect(report.perClassAccuracy).toEqual([
      { className: 'penny', accuracy: 0.5 },
      { className: 'dime', accuracy: 0.75 },
    ]);
  });

  it('averages the absolute count error over parseable (sample, class) pairs, ignoring unknown classes', () => {
    // errors: a 0+0, b 0+0, c 1+0 → 1 / (3 samples × 2 classes).
    expect(report.meanAbsoluteCountError).toBeCloseTo(1 / 6, 15);
    expect(report.predictionsWithUnknownClasses).toBe(1);
  });

  it('reports an empty split as zeros and no error', () => {
    const empty = evaluatePredictions(classes, []);
    expect(empty.exactMatchAccuracy).toBe(0);
    expect(empty.meanAbsoluteCountError).toBeNull();
  });

  it('scores answers that are not counts (custom questions) by exact match only', () => {
    const mixed = evaluatePredictions(classes, [
      { path: 'x.jpg', question: 'How many?', expected: 'three coins', answer: ' three coins ' },
      { path: 'y.jpg', question: 'How many?', expected: '{}', answer: '{"penny": 1}' },
    ]);
    expect(mixed.exactMatches).toBe(1);
    expect(mixed.answersWithoutCounts).toBe(1);
    expect(mixed.parseableFraction).toBe(1); // over the one sample with counts
    expect(mixed.perClassAccuracy).toEqual([{ className: 'penny', accuracy: 0 }, { className: 'dime', accuracy: 1 }]);
    expect(mixed.meanAbsoluteCountError).toBe(0.5);
  });
});
