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

/** The benchmark table as fixed-width text: one line per row, the same on every host. */
export function formatTable(rows: BenchRow[]): string {
  const header = ['benchmark', 'ms', 'GFLOP/s', 'baseline ms', 'baseline', 'note'];
  const cells = rows.map((row) => [
    row.name,
    row.ms.toFixed(2),
    row.gflops === undefined ? '' : row.gflops.toFixed(2),
    row.baselineMs === undefined ? '' : row.baselineMs.toFixed(2),
    row.baselineName ?? '',
    row.note ?? '',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column].length)));
  const format = (line: string[]) => line.map((cell, column) => cell.padEnd(widths[column])).join('  ').trimEnd();
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...cells.map(format)].join('\n');
}

/** The speed-up lines for rows that have a baseline, or '' when none has. */
export function formatSpeedups(rows: BenchRow[]): string {
  const compared = rows.filter((row) => speedup(row) !== undefined);
  if (!compared.length) return '';
  return [
    'speed-up over the baseline (baseline ms / moontune ms):',
    ...compared.map((row) => `  ${row.name.padEnd(48)} ${speedup(row)!.toFixed(2)}×`),
  ].join('\n');
}
