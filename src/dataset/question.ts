// The counting question and its answer, exactly as the original Moondream counting guide built
// them: one question listing every class, and a JSON object of the non-zero counts.

import type { QuestionTemplate } from './types.ts';
import { pythonJsonDumpsIntObject } from './python-json.ts';

export const DEFAULT_QUESTION_TEMPLATE: QuestionTemplate = Object.freeze({
  template:
    'How many of each type of the {noun} ({classes}) are there? ' +
    'Respond in JSON format with the {noun} type as the key and a integer count as the value.',
  noun: 'object',
});

export function resolveQuestionTemplate(template?: Partial<QuestionTemplate>): QuestionTemplate {
  return {
    template: template?.template ?? DEFAULT_QUESTION_TEMPLATE.template,
    noun: template?.noun ?? DEFAULT_QUESTION_TEMPLATE.noun,
  };
}

/** The question for a dataset whose classes are `classNames` (in class order). */
export function buildQuestion(classNames: string[], template?: Partial<QuestionTemplate>): string {
  const { template: text, noun } = resolveQuestionTemplate(template);
  // Function replacers so that `$` in a class name or noun is taken literally.
  return text.replaceAll('{noun}', () => noun).replaceAll('{classes}', () => classNames.join(', '));
}

/**
 * The answer: per-class counts as Python's `json.dumps(counts, indent=2)` writes them, keys in
 * class order, classes with a zero count left out (an image with nothing in it answers `{}`).
 * `countsPerClass[i]` is the count of `classNames[i]`.
 */
export function formatAnswer(classNames: string[], countsPerClass: number[]): string {
  const entries: [string, number][] = [];
  classNames.forEach((name, index) => {
    const count = countsPerClass[index] ?? 0;
    if (count !== 0) entries.push([name, count]);
  });
  return pythonJsonDumpsIntObject(entries);
}
