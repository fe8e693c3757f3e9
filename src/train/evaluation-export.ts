// One evaluation as files to take elsewhere (a notebook, a spreadsheet): per image the file,
// the expected answer, the model's answer, whether it matched exactly, and the counts parsed from
// the answer. CSV follows RFC 4180 (every field quoted, quotes doubled, CRLF line ends) so that
// answers holding commas, quotes and newlines survive pandas.read_csv and spreadsheets; one column
// per class holds the parsed count, empty when the answer did not parse.
import { isExactMatch, parseCounts, type EvaluatedSample } from './metrics.ts';

export interface ExportedAnswer {
  file: string;
  question: string;
  expected: string;
  answer: string;
  exactMatch: boolean;
  /** Counts read from the answer (every class of the dataset, 0 when absent), or null when it does not parse. */
  parsedCounts: Record<string, number> | null;
}

export interface ExportedEvaluation {
  /** What was measured, e.g. "before" or "after". */
  measurement: string;
  split: string;
  classes: string[];
  exactMatchAccuracy: number;
  answers: ExportedAnswer[];
}

export function exportedAnswers(classNames: readonly string[], samples: readonly EvaluatedSample[]): ExportedAnswer[] {
  return samples.map((sample) => {
    const counts = parseCounts(sample.answer);
    return {
      file: sample.path,
      question: sample.question,
      expected: sample.expected,
      answer: sample.answer,
      exactMatch: isExactMatch(sample.answer, sample.expected),
      parsedCounts: counts === null ? null : Object.fromEntries(classNames.map((name) => [name, counts.get(name) ?? 0])),
    };
  });
}

function csvField(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

export function evaluationCsv(classNames: readonly string[], samples: readonly EvaluatedSample[]): string {
  const header = ['file', 'expected', 'answer', 'exact_match', 'parseable', ...classNames.map((name) => `count_${name}`)];
  const lines = [header.map(csvField).join(',')];
  for (const row of exportedAnswers(classNames, samples)) {
    const counts = classNames.map((name) => (row.parsedCounts ? String(row.parsedCounts[name]) : ''));
    lines.push([row.file, row.expected, row.answer, String(row.exactMatch), String(row.parsedCounts !== null), ...counts].map(csvField).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

export function evaluationJson(evaluation: Omit<ExportedEvaluation, 'answers'>, samples: readonly EvaluatedSample[]): string {
  const exported: ExportedEvaluation = { ...evaluation, answers: exportedAnswers(evaluation.classes, samples) };
  return JSON.stringify(exported, null, 2) + '\n';
}
