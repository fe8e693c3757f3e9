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
  samples.sort((x, y) => x - y);
  const middle = samples.length >> 1;
  return samples.length % 2 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2;
}
