// Wall-clock timing of GPU work: every run ends with a synchronisation (the caller's run()
// awaits the queue), so the time covers submission and execution, as a user of the op sees it.

export interface TimingOptions {
  /** Untimed runs first: pipeline compilation, buffer pool warm-up, driver caches. */
  warmup: number;
  /** Timed runs at least this many... */
  minRepetitions: number;
  /** ...and keep going until this much time was spent (but never past maxRepetitions). */
  minTotalMs: number;
  maxRepetitions: number;
}

export const DEFAULT_TIMING: TimingOptions = { warmup: 1, minRepetitions: 3, minTotalMs: 300, maxRepetitions: 50 };

/** Median milliseconds of one awaited run. */
export async function medianMs(run: () => Promise<void>, options: TimingOptions = DEFAULT_TIMING): Promise<number> {
  for (let i = 0; i < options.warmup; i++) await run();
  const samples: number[] = [];
  const started = performance.now();
  while (
    samples.length < options.minRepetitions ||
    (performance.now() - started < options.minTotalMs && samples.length < options.maxRepetitions)
  ) {
    const before = performance.now();
    await run();
    samples.push(performance.now() - before);
  }
  return median(samples);
}

/**
 * Median milliseconds of each run, timed in alternation (A, B, C, A, B, C, ...) so that load
 * from other processes and clock drift fall on all of them alike. The comparison against a
 * baseline uses this rather than timing one implementation after the other.
 */
export async function interleavedMedianMs(
  runs: readonly (() => Promise<void>)[],
  options: TimingOptions = DEFAULT_TIMING,
): Promise<number[]> {
  for (let i = 0; i < options.warmup; i++) for (const run of runs) await run();
  const samples: number[][] = runs.map(() => []);
  const started = performance.now();
  let rounds = 0;
  while (rounds < options.minRepetitions || (performance.now() - started < options.minTotalMs && rounds < options.maxRepetitions)) {
    for (const [index, run] of runs.entries()) {
      const before = performance.now();
      await run();
      samples[index].push(performance.now() - before);
    }
    rounds++;
  }
  return samples.map(median);
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
