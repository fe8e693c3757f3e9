// One line of the `npm run bench` table. Every benchmark (matmul, attention, ...) returns rows
// of this shape so src/cli/bench.ts can print them side by side.

export interface BenchRow {
  /** What was timed, e.g. 'matmul 512×512×512 f32' or 'attention 730×32 heads'. */
  name: string;
  /** Median wall time of one call in milliseconds, GPU work included (synchronised). */
  ms: number;
  /** Useful floating-point work per call divided by ms, in GFLOP/s (omit when not meaningful). */
  gflops?: number;
  /** The same work done by the reference implementation (TensorFlow.js WebGPU), median ms. */
  baselineMs?: number;
  /** Name of the reference implementation, e.g. 'tfjs-webgpu'. */
  baselineName?: string;
  /** Free-form remark (tolerance check, fallback taken, ...). */
  note?: string;
}

/** How many times faster than the baseline (baselineMs / ms), or undefined without a baseline. */
export function speedup(row: BenchRow): number | undefined {
  return row.baselineMs === undefined ? undefined : row.baselineMs / row.ms;
}
