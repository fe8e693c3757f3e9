// `npx tsx src/model/bench/run-model-bench.ts [--full]`: the model benchmark on its own.
import { acquireNodeDevice } from '../../gpu/node-device.ts';
import { Engine } from '../../gpu/engine.ts';
import { benchModel } from './model-bench.ts';

const engine = new Engine(await acquireNodeDevice());
const info = engine.context.adapterInfo;
console.log(`adapter: ${info.vendor} / ${info.architecture} / ${info.description || info.device} (shader-f16: ${engine.hasF16 ? 'yes' : 'no'}, maxStorageBufferBindingSize ${engine.device.limits.maxStorageBufferBindingSize})`);
const rows = await benchModel(engine, { full: process.argv.includes('--full') });
for (const row of rows) {
  console.log(`${row.name.padEnd(70)} ${row.ms.toFixed(2).padStart(10)} ms ${row.gflops === undefined ? '' : `${row.gflops.toFixed(2)} GFLOP/s`} ${row.note ?? ''}`);
}
process.exit(0);
