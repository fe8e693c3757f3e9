// Pre-trains the shipped demo model, public/demo-model/ (`npm run demo:pretrain`), with
// moontune's own engine in Node (SwiftShader by default; MOONTUNE_SWIFTSHADER=0 takes the
// machine's GPU): tokenizer.json with BPE merges learned from the demo questions, answers and
// captions; config.json; model.safetensors after `--steps` steps of src/train/demo-pretraining.ts;
// pretraining.json with the settings and the loss curve. The files are written every 50 steps, so
// an interrupted run leaves the weights it had reached. Same seed and steps, same files.
//
//   npm run demo:pretrain -- [--steps N] [--batch N] [--lr X] [--vision-width N] [--questions] [--init DIR] [--out DIR]
//
// --vision-width (a multiple of 16, default 64) widens the vision tower, for trials: the shipped
// model is the default's. --questions adds the count-question task (demo-pretraining.ts).
// --init DIR starts from another run's weights (same tokenizer) instead of the seeded ones: a
// second stage with other tasks or settings.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadDataset } from '../src/dataset/load.ts';
import { createRandom, generateCoinImage } from '../src/dataset/demo-coins.ts';
import { Engine } from '../src/gpu/engine.ts';
import { acquireNodeDevice } from '../src/gpu/node-device.ts';
import { demoTokenizerJson, learnMerges } from '../src/model/demo-model.ts';
import { coinCaption, DEFAULT_PRETRAINING, DemoPretraining, demoModelContents, demoModelFromFolder, initialDemoModel, type PretrainingStep } from '../src/train/demo-pretraining.ts';

/** Seeds the initial weights; the image stream has its own (DEFAULT_PRETRAINING.seed). */
const DEMO_MODEL_SEED = 20250621;
/** Upper bound on learned merges; the demo texts saturate well before it. */
const MAX_MERGES = 224;
const SAVE_EVERY = 50;

const { values: args } = parseArgs({
  options: { steps: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' }, 'vision-width': { type: 'string' }, questions: { type: 'boolean' }, init: { type: 'string' }, out: { type: 'string' } },
});
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = args.out ?? join(root, 'public', 'demo-model');
const settings = {
  ...DEFAULT_PRETRAINING,
  ...(args.steps ? { steps: Number(args.steps) } : {}),
  ...(args.batch ? { batchSize: Number(args.batch) } : {}),
  ...(args.lr ? { learningRate: Number(args.lr) } : {}),
  ...(args.questions ? { countQuestions: true } : {}),
};
for (const [name, value] of Object.entries({ steps: settings.steps, batch: settings.batchSize })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number ≥ 1, got ${value}.`);
}
if (!(settings.learningRate > 0)) throw new Error(`--lr must be positive, got ${settings.learningRate}.`);

// The tokenizer: merges from the demo questions (default noun and "coin"), answers, and captions
// of images like the pre-training stream's (a stream apart from it, so the order is fixed here).
const zip = new Uint8Array(readFileSync(join(root, 'public', 'demo', 'coins.coco.zip')));
const texts: string[] = [];
for (const noun of [undefined, 'coin']) {
  const dataset = await loadDataset({ kind: 'zip', name: 'coins.coco.zip', data: zip }, noun ? { question: { noun } } : {});
  texts.push(...dataset.images.flatMap((image) => [image.question, image.answer]));
}
const captionRandom = createRandom(DEMO_MODEL_SEED);
for (let i = 0; i < 2000; i++) texts.push(coinCaption(generateCoinImage(captionRandom)));
const tokenizerJson = demoTokenizerJson(learnMerges(texts, MAX_MERGES)) as { model: { vocab: object } };

const engine = new Engine(await acquireNodeDevice({ swiftShader: process.env.MOONTUNE_SWIFTSHADER !== '0' }));
const visionWidth = args['vision-width'] === undefined ? undefined : Number(args['vision-width']);
if (args.init && visionWidth !== undefined) throw new Error('--init takes the vision width of the run it starts from; leave out --vision-width.');
const { model, initial, config } = args.init ? await demoModelFromFolder(engine, tokenizerJson, args.init) : await initialDemoModel(engine, tokenizerJson, DEMO_MODEL_SEED, visionWidth);
const pretraining = new DemoPretraining(model, initial, settings);
const parameters = initial.reduce((sum, tensor) => sum + tensor.values.length, 0);
console.log(`demo model: ${parameters} parameters, vocabulary ${Object.keys(tokenizerJson.model.vocab).length} of ${config.text.vocab_size}; ${settings.steps} steps of ${settings.batchSize} images`);

const curve: PretrainingStep[] = [];
const started = performance.now();
async function save(): Promise<void> {
  const description = `moontune demo model: pre-trained ${pretraining.step} steps of ${settings.batchSize} synthetic coin images (npm run demo:pretrain)`;
  mkdirSync(output, { recursive: true });
  for (const [file, bytes] of demoModelContents(tokenizerJson, config, await pretraining.weights(), description)) writeFileSync(join(output, file), bytes);
  const log = { seed: DEMO_MODEL_SEED, settings, ...(visionWidth === undefined ? {} : { visionWidth }), ...(args.init ? { init: args.init } : {}), parameters, steps: pretraining.step, seconds: Math.round((performance.now() - started) / 1000), curve };
  writeFileSync(join(output, 'pretraining.json'), JSON.stringify(log, (key, value) => (typeof value === 'number' && !Number.isInteger(value) ? Number(value.toPrecision(5)) : value)) + '\n');
}

let window: PretrainingStep[] = [];
while (pretraining.step < settings.steps) {
  const step = await pretraining.trainStep();
  curve.push({ ...step, seconds: Math.round((performance.now() - started) / 100) / 10 });
  window.push(step);
  if (step.step % 10 === 0 || step.step === settings.steps) {
    const mean = (key: 'captionLoss' | 'questionLoss' | 'auxiliaryLoss') => (window.reduce((sum, entry) => sum + entry[key], 0) / window.length).toFixed(3);
    console.log(`step ${step.step}/${settings.steps}  caption ${mean('captionLoss')}${settings.countQuestions ? `  question ${mean('questionLoss')}` : ''}  auxiliary ${mean('auxiliaryLoss')}  lr ${step.learningRate.toExponential(2)}  ${((performance.now() - started) / 1000).toFixed(0)} s`);
    window = [];
  }
  if (step.step % SAVE_EVERY === 0 || step.step === settings.steps) await save();
}
console.log(`wrote ${output} after ${((performance.now() - started) / 1000).toFixed(0)} s`);
