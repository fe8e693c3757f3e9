// `npm run bench:demo [-- --test N] [--train N] [--epochs N] [--lr X] [--batch N] [--full | --lora [--token-layers]] [--model DIR] [--answers FILE.csv] [--constrain]`: the demo flow of the page,
// timed (src/train/bench/demo-bench.ts), on this machine's WebGPU adapter (MOONTUNE_SWIFTSHADER=1:
// on the CPU). Ends with three lines: `baseline exact match: X%`, `after exact match: Y%`,
// `total seconds: Z`. The options shrink the run for quick trials; without them it is the default.
// --lora trains the default recipe's LoRA (rank 16, alpha 32) instead of every text weight;
// --token-layers trains the token embedding and the LM head beside it (trainTokenLayers).
// --answers writes the answers after training as CSV, to see which images the model gets wrong.
// --constrain also measures, before and after, with answers constrained to the counting format
// (exact match, valid JSON, milliseconds per answer token against free answers one at a time);
// those measurements are not part of the phase times or the total.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine } from '../gpu/engine.ts';
import { acquireNodeDevice } from '../gpu/node-device.ts';
import { benchDemo } from '../train/bench/demo-bench.ts';
import type { TrainingSettings } from '../train/config.ts';

const { values } = parseArgs({ options: { test: { type: 'string' }, train: { type: 'string' }, epochs: { type: 'string' }, lr: { type: 'string' }, model: { type: 'string' }, full: { type: 'boolean' }, lora: { type: 'boolean' }, 'token-layers': { type: 'boolean' }, batch: { type: 'string' }, answers: { type: 'string' }, constrain: { type: 'boolean' } } });
const whole = (name: string, text: string | undefined) => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1, got ${text}.`);
  return value;
};
const settings: Partial<TrainingSettings> = {
  ...(values.train ? { trainLimit: whole('train', values.train) } : {}),
  ...(values.epochs ? { epochs: whole('epochs', values.epochs) } : {}),
  ...(values.lr ? { learningRate: Number(values.lr) } : {}),
  ...(values.batch ? { batchSize: whole('batch', values.batch) } : {}),
  ...(values.full ? { fullFineTune: true } : {}),
  ...(values.lora ? { fullFineTune: false } : {}),
  ...(values['token-layers'] ? { trainTokenLayers: true } : {}),
};
if (values.full && values.lora) throw new Error('--full and --lora exclude each other: pick one.');
if (values['token-layers'] && !values.lora) throw new Error('--token-layers goes with --lora (full fine-tuning trains those layers already).');
const context = await acquireNodeDevice({ swiftShader: process.env.MOONTUNE_SWIFTSHADER === '1' });
const info = context.adapterInfo;
console.log(`adapter: ${[info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ') || 'unknown'} (Node)`);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const result = await benchDemo(new Engine(context), { root, modelFolder: values.model, testLimit: whole('test', values.test), settings, answersCsv: values.answers, constrained: values.constrain, log: (line) => console.log(line) });
const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
console.log(`phases: load ${result.phases.load.toFixed(1)} s, baseline ${result.phases.baseline.toFixed(1)} s, train ${result.phases.train.toFixed(1)} s (${result.trainSteps} steps, final loss ${result.finalLoss?.toFixed(3) ?? '—'}), after ${result.phases.after.toFixed(1)} s`);
if (result.constrained) {
  for (const [label, figures] of Object.entries(result.constrained)) {
    console.log(
      `${label} constrained: exact match ${percent(figures.exactMatch)}, valid JSON ${percent(figures.parseable)}, ${figures.freeMsPerImage.toFixed(0)} → ${figures.constrainedMsPerImage.toFixed(0)} ms per image, mask ${figures.maskMsPerToken.toFixed(3)} ms per token`,
    );
  }
}
console.log(`baseline exact match: ${percent(result.baseline)}`);
console.log(`after exact match: ${percent(result.after)}`);
console.log(`total seconds: ${result.totalSeconds.toFixed(0)}`);
process.exit(0);
