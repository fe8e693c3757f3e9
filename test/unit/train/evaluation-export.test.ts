// The evaluation download: CSV read back by an independent RFC 4180 parser written here, JSON by JSON.parse.
import { describe, expect, it } from 'vitest';
import { evaluationCsv, evaluationJson } from '../../../src/train/evaluation-export.ts';

/** A small RFC 4180 reader: quoted fields with doubled quotes, CRLF records. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') record.push(field), (field = '');
    else if (char === '\r' && text[i + 1] === '\n') record.push(field), records.push(record), (record = []), (field = ''), i++;
    else field += char;
  }
  return records;
}

const samples = [
  { path: 'test/a.png', question: 'How many?', expected: '{"penny": 2}', answer: '{"penny": 2}' },
  { path: 'test/b, "odd".png', question: 'How many?', expected: '{"dime": 1}', answer: 'I see\n"one" dime' },
  { path: 'test/c.png', question: 'How many?', expected: '{}', answer: '{"dime": 3}' },
];

describe('evaluationCsv', () => {
  it('writes one quoted record per image that reads back field for field', () => {
    const records = parseCsv(evaluationCsv(['penny', 'dime'], samples));
    expect(records).toEqual([
      ['file', 'expected', 'answer', 'exact_match', 'parseable', 'count_penny', 'count_dime'],
      ['test/a.png', '{"penny": 2}', '{"penny": 2}', 'true', 'true', '2', '0'],
      ['test/b, "odd".png', '{"dime": 1}', 'I see\n"one" dime', 'false', 'false', '', ''],
      ['test/c.png', '{}', '{"dime": 3}', 'false', 'true', '0', '3'],
    ]);
  });
});

describe('evaluationJson', () => {
  it('keeps the measurement, the classes and every answer with its parsed counts', () => {
    const parsed = JSON.parse(evaluationJson({ measurement: 'after', split: 'test', classes: ['penny', 'dime'], exactMatchAccuracy: 1 / 3 }, samples));
    expect(parsed.measurement).toBe('after');
    expect(parsed.classes).toEqual(['penny', 'dime']);
    expect(parsed.answers.map((a: { exactMatch: boolean }) => a.exactMatch)).toEqual([true, false, false]);
    expect(parsed.answers[1]).toEqual({ file: 'test/b, "odd".png', question: 'How many?', expected: '{"dime": 1}', answer: 'I see\n"one" dime', exactMatch: false, parsedCounts: null });
    expect(parsed.answers[2].parsedCounts).toEqual({ penny: 0, dime: 3 });
  });
});
