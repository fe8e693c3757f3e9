// `npm run bench [-- --full] [--no-tfjs] [--matmul-only]`: kernel and model benchmarks on this
// machine's WebGPU adapter (MOONTUNE_SWIFTSHADER=1: on the CPU). Matmul rows are compared with
// TensorFlow.js's WebGPU backend on the same device; attention rows come from attention-bench.ts,
// model rows from model-bench.ts (both skipped with --matmul-only). Prints a table of times and
// GFLOP/s, then the speed-up per compared row.
import { benchAttention } from '../gpu/bench/attention-bench.ts';
import { acquireBenchDevice } from '../gpu/bench/bench-device.ts';
import { speedup, type BenchRow } from '../gpu/bench/bench-row.ts';
import { benchMatmul } from '../gpu/bench/matmul-bench.ts';
import { startTfjsBaseline, type TfjsBaseline } from '../gpu/bench/tfjs-baseline.ts';
import { Engine } from '../gpu/engine.ts';
import { benchModel } from '../model/bench/model-bench.ts';

function formatTable(rows: BenchRow[]): string {
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

async function main(args: string[]): Promise<number> {
  const full = args.includes('--full');
  const withTfjs = !args.includes('--no-tfjs');
  const matmulOnly = args.includes('--matmul-only');
  const swiftShader = process.env.MOONTUNE_SWIFTSHADER === '1';
  const benchDevice = await acquireBenchDevice(swiftShader);
  const engine = new Engine(benchDevice.context);
  const info = benchDevice.context.adapterInfo;
  console.log(
    `adapter: ${[info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ') || 'unknown'}` +
      ` (shader-f16: ${benchDevice.context.hasF16 ? 'yes' : 'no'}, maxStorageBufferBindingSize ${engine.device.limits.maxStorageBufferBindingSize})`,
  );
  console.log(`shapes: ${full ? 'full (model-sized)' : 'default (scaled down; --full for model-sized)'}`);

  let baseline: TfjsBaseline | undefined;
  if (withTfjs) baseline = await startTfjsBaseline(benchDevice);

  const log = (line: string) => console.log(line);
  const rows: BenchRow[] = [];
  console.log('matmul:');
  rows.push(...(await benchMatmul(engine, baseline, { full, log })));
  if (!matmulOnly) {
    console.log('attention:');
    rows.push(...(await benchAttention(engine, { full })));
    rows.push(...(await benchModel(engine, { full, log })));
  }

  console.log(`\n${formatTable(rows)}\n`);
  const compared = rows.filter((row) => speedup(row) !== undefined);
  if (compared.length) {
    console.log('speed-up over the baseline (baseline ms / moontune ms):');
    for (const row of compared) console.log(`  ${row.name.padEnd(48)} ${speedup(row)!.toFixed(2)}×`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
