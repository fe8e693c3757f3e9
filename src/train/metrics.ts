// Evaluation metrics for the counting task. The headline number is exact match, as the original
// counting guide measured it: the generated answer, stripped like upstream's `.strip()`, equal
// byte for byte to the dataset's answer. The rest reads the answer as JSON to say *how* the model
// is wrong: per-class count accuracy, mean absolute count error, and how often it writes JSON at
// all.
//
// Decision: for the per-class metrics a class missing from an answer counts 0, so `{"dime": 0}`
// and `{}` mean the same counts (the dataset's answers leave zero counts out, spec of
// `formatAnswer`); exact match still tells them apart.

/** One evaluated test image. */
export interface EvaluatedSample {
  /** Image path in the dataset. */
  path: string;
  question: string;
  expected: string;
  /** What the model answered. */
  answer: string;
}

export interface ClassAccuracy {
  className: string;
  /** Fraction of samples whose predicted count of this class equals the true count (0 when absent). */
  accuracy: number;
}

export interface EvaluationReport {
  samples: number;
  /** Samples whose stripped prediction equals the stripped answer. */
  exactMatches: number;
  /** exactMatches / samples (0 for no samples). */
  exactMatchAccuracy: number;
  /** Fraction of predictions that parse as a JSON object of integer counts (over samples whose answer is counts). */
  parseableFraction: number;
  /** Per class, over samples whose answer is counts; an unparseable prediction is wrong for every class. */
  perClassAccuracy: ClassAccuracy[];
  /**
   * Mean |predicted − true| over (parseable sample, class) pairs; null when no prediction parsed.
   * Keys outside the dataset's classes are ignored here.
   */
  meanAbsoluteCountError: number | null;
  /** Parseable predictions that name a class the dataset does not have. */
  predictionsWithUnknownClasses: number;
  /**
   * Samples whose expected answer is not a JSON object of counts (a custom question): scored by
   * exact match only, left out of the count metrics.
   */
  answersWithoutCounts: number;
  /** Per sample: whether it matched exactly, for the report's table. */
  results: (EvaluatedSample & { exactMatch: boolean; parseable: boolean })[];
}

/** Python's str.strip() with no argument: Unicode whitespace at both ends (JS trim agrees on it). */
export function stripAnswer(text: string): string {
  return text.trim();
}

export function isExactMatch(predicted: string, expected: string): boolean {
  return stripAnswer(predicted) === stripAnswer(expected);
}

/**
 * The first balanced `{…}` in `text` (braces inside JSON strings do not count), or null. A model
 * may wrap its JSON in prose or code fences, or stop before closing it.
 */
export function firstJsonObject(text: string): string | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return text.slice(start, i + 1);
  }
  return null;
}

/**
 * Counts from a model's answer: the first `{…}` parsed as JSON, whose values must all be
 * non-negative integers (`3` or `3.0`; also the string `"3"`, which a model writes now and then).
 * Null when there is no object, it is not JSON, or a value is not a count.
 */
export function parseCounts(text: string): Map<string, number> | null {
  const objectText = firstJsonObject(text);
  if (objectText === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(objectText);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const counts = new Map<string, number>();
  for (const [key, value] of Object.entries(parsed)) {
    const count = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) return null;
    counts.set(key, count);
  }
  return counts;
}

/** Scores predictions against answers for a dataset with the given class names. */
export function evaluatePredictions(classNames: readonly string[], samples: readonly EvaluatedSample[]): EvaluationReport {
  const classSet = new Set(classNames);
  const correctPerClass = classNames.map(() => 0);
  let exactMatches = 0;
  let parseable = 0;
  let absoluteErrorSum = 0;
  let withUnknownClasses = 0;
  let withoutCounts = 0;
  let countSamples = 0;
  const results: EvaluationReport['results'] = [];

  for (const sample of samples) {
    const exactMatch = isExactMatch(sample.answer, sample.expected);
    if (exactMatch) exactMatches++;
    const truth = parseCounts(sample.expected);
    const predicted = parseCounts(sample.answer);
    results.push({ ...sample, exactMatch, parseable: predicted !== null });
    if (truth === null) {
      withoutCounts++;
      continue;
    }
    countSamples++;
    if (predicted === null) continue;
    parseable++;
    if ([...predicted.keys()].some((key) => !classSet.has(key))) withUnknownClasses++;
    classNames.forEach((name, index) => {
      const error = Math.abs((predicted.get(name) ?? 0) - (truth.get(name) ?? 0));
      if (error === 0) correctPerClass[index]++;
      absoluteErrorSum += error;
    });
  }

  const n = samples.length;
  return {
    samples: n,
    exactMatches,
    exactMatchAccuracy: n === 0 ? 0 : exactMatches / n,
    parseableFraction: countSamples === 0 ? 0 : parseable / countSamples,
    perClassAccuracy: classNames.map((className, index) => ({ className, accuracy: countSamples === 0 ? 0 : correctPerClass[index] / countSamples })),
    meanAbsoluteCountError: parseable === 0 || classNames.length === 0 ? null : absoluteErrorSum / (parseable * classNames.length),
    predictionsWithUnknownClasses: withUnknownClasses,
    answersWithoutCounts: withoutCounts,
    results,
  };
}
