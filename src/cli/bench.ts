// `npm run bench [-- --full] [--no-tfjs] [--matmul-only] [--quick] [--profile]`: kernel, model and
// training benchmarks on this machine's WebGPU adapter (MOONTUNE_SWIFTSHADER=1: on the CPU).
// Matmul rows are compared with TensorFlow.js's WebGPU backend on the same device; attention rows
// come from attention-bench.ts, model rows from model-bench.ts, training and evaluation rows of the
// demo model from train-bench.ts (all three skipped with --matmul-only). Prints a table of times
// and GFLOP/s, then the speed-up per compared row. --quick: one 64³ matmul row only (a smoke test,
// the same as the bench page's ?quick=1). --profile: GPU time per kernel of one training step and
// one evaluation of the demo model.
import { benchAttention } from '../gpu/bench/attention-bench.ts';
import { acquireBenchDevice } from '../gpu/bench/bench-device.ts';
import { formatSpeedups, formatTable, type BenchRow } from '../gpu/bench/bench-row.ts';
import { benchMatmul } from '../gpu/bench/matmul-bench.ts';
import { startTfjsBaseline, type TfjsBaseline } from '../gpu/bench/tfjs-baseline.ts';
import { WebGpuUnavailableError } from '../gpu/device.ts';
import { Engine } from '../gpu/engine.ts';
import { benchModel } from '../model/bench/model-bench.ts';
import { benchTrain } from '../train/bench/train-bench.ts';

async function main(args: string[]): Promise<number> {
  const full = args.includes('--full');
  const withTfjs = !args.includes('--no-tfjs');
  const quick = args.includes('--quick');
  const profile = args.includes('--profile');
  const matmulOnly = quick || args.includes('--matmul-only');
  const swiftShader = process.env.MOONTUNE_SWIFTSHADER === '1';
  const benchDevice = await acquireBenchDevice(swiftShader);
  const engine = new Engine(benchDevice.context);
  const info = benchDevice.context.adapterInfo;
  console.log(
    `adapter: ${[info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ') || 'unknown'}` +
      ` (shader-f16: ${benchDevice.context.hasF16 ? 'yes' : 'no'}, maxStorageBufferBindingSize ${engine.device.limits.maxStorageBufferBindingSize})`,
  );
  console.log(`shapes: ${quick ? 'quick (one 64³ matmul)' : full ? 'full (model-sized)' : 'default (scaled down; --full for model-sized)'}`);

  let baseline: TfjsBaseline | undefined;
  if (withTfjs) baseline = await startTfjsBaseline(benchDevice.context);

  const log = (line: string) => console.log(line);
  const rows: BenchRow[] = [];
  console.log('matmul:');
  rows.push(...(await benchMatmul(engine, baseline, { full, quick, log })));
  if (!matmulOnly) {
    console.log('attention:');
    rows.push(...(await benchAttention(engine, { full })));
    rows.push(...(await benchModel(engine, { full, log })));
    console.log('training and evaluation (demo model):');
    rows.push(...(await benchTrain(engine, { root: process.cwd(), profile, log })));
  }

  console.log(`\n${formatTable(rows)}\n`);
  const speedups = formatSpeedups(rows);
  if (speedups) console.log(speedups);
  return 0;
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => {
  // No adapter (or another setup problem) is one line; a bug keeps its stack.
  console.error(error instanceof WebGpuUnavailableError ? `bench: ${error.message}` : error);
  return 1;
});
