// The oracle for counting answers, independent of the constraint's automaton: a text is an answer
// of the counting format when it parses as a JSON object of positive integer counts of known
// classes and is byte for byte what formatAnswer (dataset/question.ts) writes for those counts.
import { formatAnswer } from '../../src/dataset/question.ts';
import { MAX_COUNT_DIGITS } from '../../src/train/count-constraint.ts';

export function isCountAnswer(text: string, classNames: readonly string[], leadingSpace = false): boolean {
  if (leadingSpace !== text.startsWith(' ')) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
  const counts = parsed as Record<string, unknown>;
  const valid = Object.entries(counts).every(
    ([key, value]) => classNames.includes(key) && typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value < 10 ** MAX_COUNT_DIGITS,
  );
  if (!valid) return false;
  return text === (leadingSpace ? ' ' : '') + formatAnswer([...classNames], classNames.map((name) => (counts[name] as number | undefined) ?? 0));
}
