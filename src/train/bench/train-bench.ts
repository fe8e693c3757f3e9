// Training and evaluation throughput on the shipped demo model and dataset (Node only: it reads
// public/ from disk): samples/s and tokens/s of training steps at batch 1 (one sequence per
// forward, as the loop first ran) and at the batched default, and test images/s of evaluation,
// with dispatches, submits and read-backs per sample. The training rows run for the golden
// fixture's tiny model as well, on the same samples (its vocabulary of 512 holds the demo
// tokenizer's ids, so the demo tokenizer stands in for the one it does not ship). Image
// features are computed before the timing starts (they are cached once per image in a real run). With `profile`, one step of
// each kind is re-run under the engine's profiler and its top kernels printed.
import { join } from 'node:path';
import { loadDataset } from '../../dataset/load.ts';
import { sourceFromPath } from '../../dataset/node-source.ts';
import type { CountingDataset, DatasetSource } from '../../dataset/types.ts';
import type { BenchRow } from '../../gpu/bench/bench-row.ts';
import type { Engine } from '../../gpu/engine.ts';
import { formatProfile } from '../../gpu/profiler.ts';
import type { ModelFiles } from '../../model/model-source.ts';
import { folderModelFiles } from '../../model/node-file-source.ts';
import { loadMoondream, type Moondream } from '../../model/moondream.ts';
import { trainingConfig, type TrainingConfig } from '../config.ts';
import { datasetImageEmbeddings, splitSamples } from '../dataset-samples.ts';
import { EVALUATION_BATCH, evaluateSamples } from '../evaluate.ts';
import { ImageFeatureCache } from '../feature-cache.ts';
import { TrainingRun, type TrainingSample } from '../trainer.ts';
import { trainingSequence } from '../training-sequence.ts';

const DEMO_MODEL = ['public', 'demo-model'];
const TINY_MODEL = ['test', 'fixtures', 'moondream-tiny'];
const DEMO_DATASET = ['public', 'demo', 'coins.coco.zip'];
/** Sequences per forward of the batched rows. */
export const BENCH_BATCH = 16;

export interface TrainBenchOptions {
  /** Repository root (public/ lives there). */
  readonly root: string;
  readonly profile?: boolean;
  /** Fewer samples and steps (a smoke test). */
  readonly quick?: boolean;
  readonly log?: (line: string) => void;
}

interface Measured {
  readonly seconds: number;
  readonly samples: number;
  readonly tokens: number;
  readonly dispatches: number;
  readonly submits: number;
  readonly readbacks: number;
}

type BenchModel = 'demo-model' | 'tiny-model';

interface Loaded {
  readonly label: BenchModel;
  readonly model: Moondream;
  readonly train: TrainingSample[];
  readonly test: TrainingSample[];
  readonly classNames: string[];
  readonly features: ImageFeatureCache;
}

/** The demo dataset, read once for both models. */
async function loadDemoDataset(root: string): Promise<{ source: DatasetSource; dataset: CountingDataset }> {
  const source = await sourceFromPath(join(root, ...DEMO_DATASET));
  return { source, dataset: await loadDataset(source, { imageCheck: 'header' }) };
}

/** The demo model, or the tiny fixture model (weights and config of the fixture, the demo tokenizer), on the demo dataset. */
async function loadBench(engine: Engine, root: string, label: BenchModel, { source, dataset }: Awaited<ReturnType<typeof loadDemoDataset>>): Promise<Loaded> {
  const demoFiles = folderModelFiles(join(root, ...DEMO_MODEL));
  const tinyFiles = folderModelFiles(join(root, ...TINY_MODEL));
  const files: ModelFiles = label === 'demo-model' ? demoFiles : { ...tinyFiles, open: (file) => (file === 'tokenizer.json' ? demoFiles : tinyFiles).open(file) };
  const model = await loadMoondream(engine, files, { precision: 'f32' });
  const features = new ImageFeatureCache(engine, datasetImageEmbeddings(engine, model.vision, source, dataset));
  return { label, model, train: splitSamples(dataset, 'train'), test: splitSamples(dataset, 'test'), classNames: dataset.classes.map((c) => c.name), features };
}

/** Counters and wall time around `work` (which must end synchronised). */
async function measure(engine: Engine, samples: number, tokens: number, work: () => Promise<void>): Promise<Measured> {
  engine.resetCounters();
  const started = performance.now();
  await work();
  await engine.sync();
  const seconds = (performance.now() - started) / 1000;
  return { seconds, samples, tokens, ...engine.counters };
}

function trainRow(name: string, m: Measured): BenchRow {
  return {
    name,
    ms: (1000 * m.seconds) / m.samples,
    note: `${(m.samples / m.seconds).toFixed(2)} samples/s, ${(m.tokens / m.seconds).toFixed(0)} tokens/s; per sample ${(m.dispatches / m.samples).toFixed(0)} dispatches, ${(m.submits / m.samples).toFixed(1)} submits, ${(m.readbacks / m.samples).toFixed(2)} read-backs`,
  };
}

/** Tokens of the training sequences of these samples. */
function tokensOf(model: Moondream, samples: readonly TrainingSample[], imageTokens: number): number {
  return samples.reduce((sum, { question, answer }) => sum + trainingSequence(model.revision, model.tokenizer, imageTokens, question, answer).ids.length, 0);
}

interface TimedRun {
  readonly name: string;
  readonly run: TrainingRun;
  readonly perStep: number;
  readonly samples: readonly TrainingSample[];
  seconds: number;
  samplesDone: number;
  tokens: number;
  dispatches: number;
  submits: number;
  readbacks: number;
}

/**
 * Training runs at batch 1 (one sequence per forward, 8 per step, as the loop first ran) and at
 * BENCH_BATCH, stepped in alternation so that load from other processes falls on both alike.
 */
async function benchTraining(engine: Engine, demo: Loaded, steps: number, options: TrainBenchOptions): Promise<BenchRow[]> {
  const { model, features } = demo;
  const imageTokens = model.vision.weights.posEmb.shape[1];
  const runs: TimedRun[] = [];
  for (const batchSize of [1, BENCH_BATCH]) {
    const perStep = batchSize === 1 ? 8 : batchSize;
    const config: TrainingConfig = trainingConfig({ batchSize, gradientAccumulation: perStep / batchSize, epochs: 1, checkpointInterval: 0, learningRate: 1e-3 });
    // One untimed step first (pipelines, buffer pool), the timed ones, and one more for the profile.
    const samples = demo.train.slice(0, perStep * (steps + 2));
    for (const sample of samples) (await features.get(sample.imagePath)).dispose(); // warm the feature cache
    const run = TrainingRun.start({ runId: `bench-${batchSize}`, model, samples, features, datasetFingerprint: 'bench' }, config);
    const name = `train ${demo.label}, batch ${batchSize}${batchSize === 1 ? ' (one sequence per forward)' : ''}`;
    runs.push({ name, run, perStep, samples, seconds: 0, samplesDone: 0, tokens: 0, dispatches: 0, submits: 0, readbacks: 0 });
  }
  try {
    for (const timed of runs) await timed.run.trainStep();
    for (let step = 0; step < steps; step++) {
      for (const timed of runs) {
        const stepSamples = timed.samples.slice(timed.perStep * (step + 1), timed.perStep * (step + 2));
        const m = await measure(engine, stepSamples.length, tokensOf(model, stepSamples, imageTokens), () => timed.run.trainStep().then(() => undefined));
        timed.seconds += m.seconds;
        timed.samplesDone += m.samples;
        timed.tokens += m.tokens;
        timed.dispatches += m.dispatches;
        timed.submits += m.submits;
        timed.readbacks += m.readbacks;
      }
    }
    if (options.profile) {
      for (const timed of runs) {
        engine.startProfile();
        await timed.run.trainStep();
        options.log?.(`profile of one training step, ${timed.name} (${timed.perStep} samples):\n${formatProfile(await engine.stopProfile())}\n`);
      }
    }
    const rows = runs.map((timed) => trainRow(timed.name, { ...timed, samples: timed.samplesDone }));
    const speedUp = rows[0].ms / rows[1].ms;
    rows[1] = { ...rows[1], note: `${rows[1].note}; ${speedUp.toFixed(1)}× the samples/s of batch 1` };
    return rows;
  } finally {
    for (const timed of runs) timed.run.dispose();
  }
}

/** Evaluation one image at a time and in batches of EVALUATION_BATCH, in alternation. */
async function benchEvaluation(engine: Engine, demo: Loaded, images: number, options: TrainBenchOptions): Promise<BenchRow[]> {
  const { model, features, classNames } = demo;
  const samples = demo.test.slice(0, images);
  for (const sample of samples) (await features.get(sample.imagePath)).dispose();
  const ways = [
    { name: 'evaluate demo-model, one image at a time', batchSize: 1 },
    { name: `evaluate demo-model, ${Math.min(EVALUATION_BATCH, images)} images at a time`, batchSize: EVALUATION_BATCH },
  ];
  const totals = ways.map(() => ({ seconds: 0, samples: 0, tokens: 0, dispatches: 0, submits: 0, readbacks: 0 }));
  // Warm-up at the timed shapes: a batch of 16 decodes through other kernels than a batch of 2
  // (tiled products instead of matrix-vector ones), whose first use compiles pipelines (~0.9 s here).
  for (const way of ways) await evaluateSamples(model, features, samples, classNames, { maxTokens: 32, batchSize: way.batchSize });
  for (let round = 0; round < 2; round++) {
    for (const [index, way] of ways.entries()) {
      const m = await measure(engine, samples.length, 0, async () => {
        await evaluateSamples(model, features, samples, classNames, { maxTokens: 32, batchSize: way.batchSize });
      });
      for (const key of ['seconds', 'samples', 'dispatches', 'submits', 'readbacks'] as const) totals[index][key] += m[key];
    }
  }
  if (options.profile) {
    for (const way of ways) {
      engine.startProfile();
      await evaluateSamples(model, features, samples, classNames, { maxTokens: 32, batchSize: way.batchSize });
      options.log?.(`profile of ${way.name} (${samples.length} images):\n${formatProfile(await engine.stopProfile())}\n`);
    }
  }
  const rows = ways.map((way, index): BenchRow => {
    const m = totals[index];
    return {
      name: way.name,
      ms: (1000 * m.seconds) / m.samples,
      note: `${(m.samples / m.seconds).toFixed(2)} images/s; per image ${(m.dispatches / m.samples).toFixed(0)} dispatches, ${(m.submits / m.samples).toFixed(1)} submits, ${(m.readbacks / m.samples).toFixed(1)} read-backs`,
    };
  });
  rows[1] = { ...rows[1], note: `${rows[1].note}; ${(rows[0].ms / rows[1].ms).toFixed(1)}× the images/s one at a time` };
  return rows;
}

export async function benchTrain(engine: Engine, options: TrainBenchOptions): Promise<BenchRow[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  const rows: BenchRow[] = [];
  const demoDataset = await loadDemoDataset(options.root);
  for (const label of ['demo-model', 'tiny-model'] as const) {
    const loaded = await loadBench(engine, options.root, label, demoDataset);
    try {
      rows.push(...(await benchTraining(engine, loaded, options.quick ? 1 : 2, { ...options, profile: options.profile && label === 'demo-model', log })));
      if (label === 'demo-model') rows.push(...(await benchEvaluation(engine, loaded, options.quick ? 4 : EVALUATION_BATCH, { ...options, log })));
    } finally {
      loaded.model.dispose();
    }
  }
  return rows;
}
