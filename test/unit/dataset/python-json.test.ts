// Expected strings are written by hand from Python's json module rules
// (json.dumps(obj, indent=2), ensure_ascii=True); each was also checked once against CPython 3.
import { describe, expect, it } from 'vitest';
import { pythonJsonDumpsIntObject, pythonJsonString } from '../../../src/dataset/python-json.ts';
import { formatAnswer } from '../../../src/dataset/question.ts';

describe('pythonJsonDumpsIntObject (json.dumps(counts, indent=2))', () => {
  it('writes two-space indent, ": " and "," + newline, keys in the given order', () => {
    expect(pythonJsonDumpsIntObject([['penny', 2], ['dime', 1]])).toBe('{\n  "penny": 2,\n  "dime": 1\n}');
  });

  it('writes {} for an empty object, like Python with indent', () => {
    expect(pythonJsonDumpsIntObject([])).toBe('{}');
  });

  it('writes one key without a trailing comma', () => {
    expect(pythonJsonDumpsIntObject([['a', 10]])).toBe('{\n  "a": 10\n}');
  });

  it('refuses counts that are not integers', () => {
    expect(() => pythonJsonDumpsIntObject([['a', 1.5]])).toThrow(/not an integer/);
  });
});

describe('pythonJsonString (ensure_ascii)', () => {
  it.each([
    ['plain', '"plain"'],
    ['quote " and backslash \\', '"quote \\" and backslash \\\\"'],
    ['tab\tnew\nret\rbs\bff\f', '"tab\\tnew\\nret\\rbs\\bff\\f"'],
    ['\u0001\u001f', '"\\u0001\\u001f"'],
    ['del\u007f', '"del\\u007f"'], // DEL is outside ' '..'~', so Python escapes it
    ['café', '"caf\\u00e9"'], // lowercase hex
    ['€', '"\\u20ac"'],
    ['🪙', '"\\ud83e\\ude99"'], // U+1FA99 coin as a surrogate pair
    ['/slash', '"/slash"'], // Python does not escape '/'
    ['~ !', '"~ !"'],
  ])('%j → %s', (input, expected) => {
    expect(pythonJsonString(input)).toBe(expected);
  });
});

describe('formatAnswer', () => {
  const classes = ['penny', 'nickel', 'dime', 'quarter'];

  it('leaves zero counts out and keeps class order, not count order', () => {
    expect(formatAnswer(classes, [0, 1, 3, 0])).toBe('{\n  "nickel": 1,\n  "dime": 3\n}');
    expect(formatAnswer(classes, [1, 0, 0, 5])).toBe('{\n  "penny": 1,\n  "quarter": 5\n}');
  });

  it('answers {} for an image with nothing in it', () => {
    expect(formatAnswer(classes, [0, 0, 0, 0])).toBe('{}');
  });

  it('escapes class names like Python', () => {
    expect(formatAnswer(['50¢ "coin"'], [2])).toBe('{\n  "50\\u00a2 \\"coin\\"": 2\n}');
  });
});
