// The bench page's worker: acquires the GPU from navigator.gpu, reports the adapter, and runs
// the same benchmarks as `npm run bench` off the main thread (timing loops would freeze the page).
// The device, engine and TF.js baseline are made once and reused by every run: TF.js keeps its
// backend registered globally, so a second one would replace the first under its feet.
import { benchAttention } from '../gpu/bench/attention-bench.ts';
import { formatSpeedups, formatTable, type BenchRow } from '../gpu/bench/bench-row.ts';
import { benchMatmul } from '../gpu/bench/matmul-bench.ts';
import { startTfjsBaseline, type TfjsBaseline } from '../gpu/bench/tfjs-baseline.ts';
import { acquireBrowserDevice, type GpuContext } from '../gpu/device.ts';
import { Engine } from '../gpu/engine.ts';
import { benchModel } from '../model/bench/model-bench.ts';
import type { AdapterReport, BenchOptions, PageToWorker, WorkerToPage } from './messages.ts';

/** Limits worth seeing when comparing cards (the ones moontune's kernels are sized by). */
const REPORTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

const post = (message: WorkerToPage) => self.postMessage(message);

function adapterReport(context: GpuContext): AdapterReport {
  const limits: Record<string, number> = {};
  for (const name of REPORTED_LIMITS) limits[name] = context.device.limits[name];
  return {
    ...context.adapterInfo,
    hasF16: context.hasF16,
    hasSubgroups: context.hasSubgroups,
    features: [...context.device.features].map(String).sort(),
    limits,
  };
}

const ready = acquireBrowserDevice({ wantF16: true }).then((context) => {
  post({ type: 'adapter', adapter: adapterReport(context) });
  void context.lost.then((message) => post({ type: 'error', message }));
  return { context, engine: new Engine(context) };
});
ready.catch((error: unknown) => post({ type: 'error', message: error instanceof Error ? error.message : String(error) }));

let baseline: Promise<TfjsBaseline> | undefined;

async function run(options: BenchOptions): Promise<void> {
  const { context, engine } = await ready;
  const log = (line: string) => post({ type: 'log', line });
  const onRow = (row: BenchRow) => post({ type: 'row', row });
  if (options.withTfjs) {
    log('starting TensorFlow.js (WebGPU backend) on the same device…');
    baseline ??= startTfjsBaseline(context);
  }
  const rows: BenchRow[] = [];
  log('matmul:');
  rows.push(...(await benchMatmul(engine, options.withTfjs ? await baseline : undefined, { ...options, log, onRow })));
  if (!options.matmulOnly && !options.quick) {
    log('attention:');
    for (const row of await benchAttention(engine, options)) {
      rows.push(row);
      onRow(row);
    }
    for (const row of await benchModel(engine, { full: options.full, log })) {
      rows.push(row);
      onRow(row);
    }
  }
  post({ type: 'done', rows, table: formatTable(rows), speedups: formatSpeedups(rows) });
}

self.onmessage = (event: MessageEvent<PageToWorker>) => {
  if (event.data.type !== 'run') return;
  run(event.data.options).catch((error: unknown) =>
    post({ type: 'error', message: error instanceof Error ? `${error.message}` : String(error) }),
  );
};
