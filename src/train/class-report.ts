// Per-class view of one evaluation: how often each class's count is exactly right, how far off
// it is on average, and which counts the model writes for each true count (a predicted-vs-true
// table). metrics.ts gives the headline numbers over all classes; this says which class fails.
//
// Same conventions as metrics.ts: a class missing from an answer counts 0 (the dataset leaves
// zero counts out), and an answer that does not parse as counts is wrong for every class and is
// left out of the mean error (it has no count to be off by). Samples whose expected answer is not
// counts (a custom question) are left out entirely.
import { parseCounts, type EvaluatedSample } from './metrics.ts';

/** One class's counts over the evaluated samples. */
export interface ClassCountReport {
  className: string;
  /** Samples whose expected answer is counts. */
  samples: number;
  /** Fraction of those whose predicted count of this class equals the true count. */
  accuracy: number;
  /** Mean |predicted − true| over samples whose answer parsed; null when none did. */
  meanAbsoluteError: number | null;
  /**
   * confusion[t][p]: samples with true count t and predicted count p; t and p run 0..maxCount,
   * the last bucket holding maxCount and above. Unparseable answers are in `unparseable[t]`.
   */
  confusion: number[][];
  unparseable: number[];
}

export interface CountTableOptions {
  /** Largest count with a bucket of its own; larger counts share the last bucket (default 5). */
  maxCount?: number;
}

export function classCountReports(classNames: readonly string[], samples: readonly EvaluatedSample[], options: CountTableOptions = {}): ClassCountReport[] {
  const maxCount = options.maxCount ?? 5;
  if (!Number.isInteger(maxCount) || maxCount < 1) throw new RangeError(`maxCount must be a whole number ≥ 1, got ${maxCount}`);
  const bucket = (count: number) => Math.min(count, maxCount);
  const scored = samples.flatMap((sample) => {
    const truth = parseCounts(sample.expected);
    return truth === null ? [] : [{ truth, predicted: parseCounts(sample.answer) }];
  });
  return classNames.map((className) => {
    const confusion = Array.from({ length: maxCount + 1 }, () => new Array<number>(maxCount + 1).fill(0));
    const unparseable = new Array<number>(maxCount + 1).fill(0);
    let correct = 0;
    let errorSum = 0;
    let parsed = 0;
    for (const { truth, predicted } of scored) {
      const trueCount = truth.get(className) ?? 0;
      if (predicted === null) {
        unparseable[bucket(trueCount)]++;
        continue;
      }
      const predictedCount = predicted.get(className) ?? 0;
      parsed++;
      errorSum += Math.abs(predictedCount - trueCount);
      if (predictedCount === trueCount) correct++;
      confusion[bucket(trueCount)][bucket(predictedCount)]++;
    }
    return {
      className,
      samples: scored.length,
      accuracy: scored.length === 0 ? 0 : correct / scored.length,
      meanAbsoluteError: parsed === 0 ? null : errorSum / parsed,
      confusion,
      unparseable,
    };
  });
}
