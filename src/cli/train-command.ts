// `npm run cli -- train --model <folder|hub:…> --dataset <zip|folder> …`: the page's flow in Node.
// Loads the model and the dataset, measures the test split (exact match and the count metrics),
// fine-tunes with progress lines, checkpoints to --out (checkpoint.json + checkpoint.safetensors;
// the browser's IndexedDB store is not available here), resumes with --resume, measures again,
// prints a before/after table and writes the LoRA adapter file.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasErrors, loadDataset } from '../dataset/load.ts';
import { sourceFromPath } from '../dataset/node-source.ts';
import type { SplitName } from '../dataset/types.ts';
import { Engine } from '../gpu/engine.ts';
import { acquireNodeDevice } from '../gpu/node-device.ts';
import { writeSafetensors } from '../model/safetensors-writer.ts';
import type { ModelFiles } from '../model/model-source.ts';
import { loadMoondream, type Moondream } from '../model/moondream.ts';
import type { Checkpoint, CheckpointSummary, CheckpointTensor } from '../train/checkpoint-store.ts';
import { trainingConfig, type TrainingConfig } from '../train/config.ts';
import { countAnswerConstraint } from '../train/count-constraint.ts';
import { datasetFingerprint } from '../train/dataset-fingerprint.ts';
import { datasetImageEmbeddings, splitSamples } from '../train/dataset-samples.ts';
import { evaluateSamples } from '../train/evaluate.ts';
import { ImageFeatureCache } from '../train/feature-cache.ts';
import type { EvaluationReport } from '../train/metrics.ts';
import { TrainingRun, type TrainingProgress, type TrainingRunOptions } from '../train/trainer.ts';
import { ArgumentReader, UsageError, modelFilesFromArgument, oneLine } from './cli-shared.ts';

export const usage = `usage: npm run cli -- train --model <folder|hub:owner/repo@revision> --dataset <zip|folder> [options]

Measures a Moondream model on the dataset's test split, fine-tunes it on the train split and
measures again (the page's steps 3 and 4, on WebGPU; MOONTUNE_SWIFTSHADER=1 for the CPU).

  --model <folder>          a folder with model.safetensors, config.json and tokenizer.json (e.g. public/demo-model)
  --model hub:<repo>@<rev>  download from the Hugging Face hub
  --dataset <zip|folder>    a Roboflow COCO export (e.g. public/demo/coins.coco.zip)
  --out <dir>               checkpoint, adapter and report go here (default: train-out)
  --lora-rank <r>           LoRA rank (default 8; alpha is 2·r)
  --full                    fine-tune every text weight instead of LoRA adapters
  --lr <x>                  peak learning rate (default 1e-4)
  --epochs <n>              passes over the train split (default 3)
  --batch <n>               samples per optimizer step (default 8, or fewer when the train split is smaller)
  --limit-train <n>         use only the first n train images
  --limit-test <n>          measure only the first n test images
  --max-tokens <n>          answer tokens generated when measuring (default 128)
  --constrain counts        measure with answers constrained to the counting format over the dataset's classes
  --noun <noun>             the question's noun, e.g. coin (default: object)
  --stop-after <n>          pause after n optimizer steps in this invocation (checkpoint saved; continue with --resume)
  --resume                  continue the run saved in --out (its settings win over the flags above)
  --help                    this text

Exit code 0 when done, 2 on invalid input, 1 when loading, the GPU or training fails.`;

interface TrainArguments {
  model: string;
  dataset: string;
  out: string;
  loraRank?: number;
  full: boolean;
  learningRate?: number;
  epochs?: number;
  batch?: number;
  limitTrain?: number;
  limitTest?: number;
  maxTokens?: number;
  constrain?: 'counts';
  noun?: string;
  stopAfter?: number;
  resume: boolean;
}

export const CHECKPOINT_JSON = 'checkpoint.json';
export const CHECKPOINT_TENSORS = 'checkpoint.safetensors';
export const ADAPTER_FILE = 'adapter.safetensors';
export const REPORT_FILE = 'report.json';
/** The data flags of a run (limits, noun, answer tokens), so --resume sees the same samples. */
export const SETTINGS_FILE = 'train-settings.json';
const DATA_FLAGS = ['limitTrain', 'limitTest', 'maxTokens', 'constrain', 'noun'] as const;

function parseArguments(args: string[]): TrainArguments | 'help' {
  const parsed: Partial<TrainArguments> = { out: 'train-out', full: false, resume: false };
  const reader = new ArgumentReader(args);
  const value = (index: number, flag: string) => reader.value(index, flag);
  const number = (text: string, flag: string, check: (n: number) => boolean, what: string) => reader.number(text, flag, check, what);
  const count = (index: number, flag: string) => reader.count(index, flag);
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--full') parsed.full = true;
    else if (arg === '--resume') parsed.resume = true;
    else if (arg === '--model') parsed.model = value(index++, arg);
    else if (arg === '--dataset') parsed.dataset = value(index++, arg);
    else if (arg === '--out') parsed.out = value(index++, arg);
    else if (arg === '--noun') parsed.noun = value(index++, arg);
    else if (arg === '--lora-rank') parsed.loraRank = count(index++, arg);
    else if (arg === '--epochs') parsed.epochs = count(index++, arg);
    else if (arg === '--batch') parsed.batch = count(index++, arg);
    else if (arg === '--limit-train') parsed.limitTrain = count(index++, arg);
    else if (arg === '--limit-test') parsed.limitTest = count(index++, arg);
    else if (arg === '--stop-after') parsed.stopAfter = count(index++, arg);
    else if (arg === '--max-tokens') parsed.maxTokens = count(index++, arg);
    else if (arg === '--constrain') {
      const mode = value(index++, arg);
      if (mode !== 'counts') throw new UsageError(`--constrain must be counts (got "${mode}")`);
      parsed.constrain = mode;
    }
    else if (arg === '--lr') parsed.learningRate = number(value(index++, arg), arg, (n) => n > 0 && n < 1, 'a number in (0, 1)');
    else throw new UsageError(`unexpected argument ${arg}`);
  }
  for (const flag of ['model', 'dataset'] as const) {
    if (parsed[flag] === undefined) throw new UsageError(`--${flag} is required`);
  }
  if (parsed.full && parsed.loraRank !== undefined) throw new UsageError('--full trains every text weight; leave out --lora-rank');
  if (parsed.resume && !existsSync(join(parsed.out!, CHECKPOINT_JSON))) throw new UsageError(`--resume: ${join(parsed.out!, CHECKPOINT_JSON)} does not exist; run without --resume first`);
  return parsed as TrainArguments;
}

const TENSOR_GROUPS = ['parameters', 'firstMoments', 'secondMoments'] as const;

/**
 * Checkpoints as two files in a folder: the small fields as JSON and the tensors as one f32
 * safetensors file (`<group>.<index>`). Each file is written under a temporary name and renamed,
 * tensors first, so checkpoint.json always describes a complete tensor file.
 */
export class CheckpointFolder {
  constructor(readonly folder: string) {}

  async save(checkpoint: Checkpoint): Promise<CheckpointSummary> {
    mkdirSync(this.folder, { recursive: true });
    const { parameters, firstMoments, secondMoments, ...fields } = checkpoint;
    const groups = { parameters, firstMoments, secondMoments };
    const tensors = TENSOR_GROUPS.flatMap((group) => groups[group].map((tensor, index) => ({ name: `${group}.${index}`, shape: tensor.shape, values: tensor.values })));
    const index = Object.fromEntries(TENSOR_GROUPS.map((group) => [group, groups[group].map(({ name, shape }) => ({ name, shape }))]));
    const tensorBytes = tensors.reduce((sum, tensor) => sum + tensor.values.byteLength, 0);
    const summary: CheckpointSummary = { ...fields, tensorBytes, tensorCount: tensors.length };
    this.writeAtomically(CHECKPOINT_TENSORS, writeSafetensors(tensors));
    this.writeAtomically(CHECKPOINT_JSON, new TextEncoder().encode(JSON.stringify({ ...summary, tensors: index }, null, 1)));
    return summary;
  }

  load(): Checkpoint {
    const json = JSON.parse(readFileSync(join(this.folder, CHECKPOINT_JSON), 'utf8'));
    const bytes = new Uint8Array(readFileSync(join(this.folder, CHECKPOINT_TENSORS)));
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const dataStart = 8 + headerLength;
    const read = (group: (typeof TENSOR_GROUPS)[number]): CheckpointTensor[] =>
      (json.tensors[group] as { name: string; shape: number[] }[]).map(({ name, shape }, index) => {
        const entry = header[`${group}.${index}`];
        if (!entry) throw new Error(`${CHECKPOINT_TENSORS} in ${this.folder} lacks ${group}.${index}; the checkpoint is damaged, train again without --resume.`);
        const [begin, end] = entry.data_offsets as [number, number];
        return { name, shape, values: new Float32Array(bytes.slice(dataStart + begin, dataStart + end).buffer) };
      });
    const { tensors: _index, tensorBytes: _bytes, tensorCount: _count, ...fields } = json;
    return { ...fields, parameters: read('parameters'), firstMoments: read('firstMoments'), secondMoments: read('secondMoments') } as Checkpoint;
  }

  private writeAtomically(file: string, bytes: Uint8Array): void {
    const path = join(this.folder, file);
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
  }
}

function seconds(value: number): string {
  if (!Number.isFinite(value)) return '?';
  return value >= 90 ? `${Math.floor(value / 60)}m${String(Math.round(value % 60)).padStart(2, '0')}s` : `${value.toFixed(1)}s`;
}

/** One line per optimizer step; the epoch shown is the one the step's last sample came from. */
export function progressLine(progress: TrainingProgress, epochs: number): string {
  return `step ${progress.step}/${progress.totalSteps}  epoch ${Math.min(progress.epoch + 1, epochs)}/${epochs}  loss ${progress.loss.toFixed(4)}  lr ${progress.learningRate.toExponential(2)}  ${progress.tokensPerSecond.toFixed(1)} tokens/s  ETA ${seconds(progress.etaSeconds)}`;
}

/** The before/after table: exact match first (the headline), then the count metrics. */
export function comparisonTable(before: EvaluationReport, after: EvaluationReport): string {
  const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
  const error = (value: number | null) => (value === null ? 'n/a' : value.toFixed(2));
  const rows: [string, string, string][] = [
    ['exact match', `${percent(before.exactMatchAccuracy)} (${before.exactMatches}/${before.samples})`, `${percent(after.exactMatchAccuracy)} (${after.exactMatches}/${after.samples})`],
    ['parseable JSON', percent(before.parseableFraction), percent(after.parseableFraction)],
    ['mean |count error|', error(before.meanAbsoluteCountError), error(after.meanAbsoluteCountError)],
    ...before.perClassAccuracy.map((row, index): [string, string, string] => [`  ${row.className}`, percent(row.accuracy), percent(after.perClassAccuracy[index]?.accuracy ?? 0)]),
  ];
  const width = Math.max(...rows.map(([name]) => name.length), 'metric'.length);
  const column = Math.max(...rows.map(([, value]) => value.length), 'before'.length);
  return [['metric', 'before', 'after'], ...rows].map(([name, b, a]) => `${name.padEnd(width)}  ${b.padStart(column)}  ${a.padStart(column)}`).join('\n');
}

export async function run(args: string[]): Promise<number> {
  let options: TrainArguments | 'help';
  let files: ModelFiles;
  try {
    options = parseArguments(args);
    if (options === 'help') {
      console.log(usage);
      return 0;
    }
    files = modelFilesFromArgument(options.model);
    if (!existsSync(options.dataset)) throw new UsageError(`--dataset ${options.dataset} does not exist`);
    const settingsPath = join(options.out, SETTINGS_FILE);
    if (options.resume && existsSync(settingsPath)) {
      // Flags given again win; the rest come from the run being resumed.
      const saved = JSON.parse(readFileSync(settingsPath, 'utf8')) as Partial<TrainArguments>;
      for (const flag of DATA_FLAGS) if (options[flag] === undefined && saved[flag] !== undefined) Object.assign(options, { [flag]: saved[flag] });
    }
  } catch (error) {
    console.error(`train: ${oneLine(error)}${error instanceof UsageError ? '; see --help.' : ''}`);
    return 2;
  }

  // The dataset first: a bad dataset is the user's input (exit 2) and needs no GPU.
  let dataset;
  let source;
  try {
    source = await sourceFromPath(options.dataset);
    dataset = await loadDataset(source, options.noun ? { question: { noun: options.noun } } : {});
  } catch (error) {
    console.error(`train: ${oneLine(error)}`);
    return 2;
  }
  if (hasErrors(dataset)) {
    const first = dataset.issues.find((issue) => issue.severity === 'error');
    console.error(`train: ${options.dataset} has errors (${first?.message ?? 'see npm run cli -- dataset'}); run npm run cli -- dataset ${options.dataset} for the full report.`);
    return 2;
  }
  const testSplit: SplitName = dataset.stats.test.images > 0 ? 'test' : 'val';
  const trainSamples = splitSamples(dataset, 'train').slice(0, options.limitTrain);
  const testSamples = splitSamples(dataset, testSplit).slice(0, options.limitTest);
  if (trainSamples.length === 0) {
    console.error(`train: ${options.dataset} has no train images; export the dataset with a train split.`);
    return 2;
  }

  let engine: Engine;
  let model: Moondream;
  try {
    engine = new Engine(await acquireNodeDevice());
    model = await loadMoondream(engine, files, { precision: 'f32' });
  } catch (error) {
    console.error(`train: ${oneLine(error)}`);
    return 1;
  }

  const out = options.out;
  const checkpoints = new CheckpointFolder(out);
  const classNames = dataset.classes.map((entry) => entry.name);
  const features = new ImageFeatureCache(engine, datasetImageEmbeddings(engine, model.vision, source, dataset));
  // The limit is part of the run's data: resuming with another --limit-train would change the order.
  const fingerprint = `${await datasetFingerprint(dataset)}:train${trainSamples.length}`;
  try {
    let trainRun: TrainingRun;
    let startStep = 0;
    const runOptions: TrainingRunOptions = {
      runId: `${dataset.name}`,
      model,
      samples: trainSamples,
      features,
      datasetFingerprint: fingerprint,
      store: checkpoints,
      onProgress: (progress) => {
        console.log(progressLine(progress, trainRun.config.epochs));
        if (options.stopAfter !== undefined && progress.step >= startStep + options.stopAfter && progress.step < progress.totalSteps) trainRun.pause();
      },
      onCheckpoint: (summary) => console.log(`checkpoint: step ${summary.step} → ${join(out, CHECKPOINT_JSON)} (${(summary.tensorBytes / 1024).toFixed(0)} KiB of tensors)`),
    };
    let config: TrainingConfig;
    if (options.resume) {
      const checkpoint = checkpoints.load();
      trainRun = TrainingRun.resume(runOptions, checkpoint);
      config = trainRun.config;
      startStep = trainRun.step;
      console.log(`resuming ${join(out, CHECKPOINT_JSON)} at step ${trainRun.step}/${trainRun.totalSteps}`);
    } else {
      const rank = options.loraRank ?? 8;
      config = trainingConfig({
        fullFineTune: options.full,
        loraRank: rank,
        loraAlpha: 2 * rank,
        ...(options.learningRate === undefined ? {} : { learningRate: options.learningRate }),
        ...(options.epochs === undefined ? {} : { epochs: options.epochs }),
        gradientAccumulation: Math.min(options.batch ?? 8, trainSamples.length),
        ...(options.maxTokens === undefined ? {} : { evalMaxTokens: options.maxTokens }),
      });
      trainRun = TrainingRun.start(runOptions, config);
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, SETTINGS_FILE), JSON.stringify(Object.fromEntries(DATA_FLAGS.map((flag) => [flag, options[flag]])), null, 1));
    }
    const evalMaxTokens = options.maxTokens ?? config.evalMaxTokens;
    console.log(`model: ${model.revision.description}; dataset: ${dataset.name}, ${trainSamples.length} train and ${testSamples.length} ${testSplit} images; ${config.fullFineTune ? 'full fine-tuning' : `LoRA rank ${config.loraRank}`}, lr ${config.learningRate}, ${trainRun.totalSteps} steps`);

    const constraint = options.constrain === 'counts' ? countAnswerConstraint(model, classNames) : undefined;
    const measure = async (label: string) => {
      const started = performance.now();
      const report = await evaluateSamples(model, features, testSamples, classNames, { maxTokens: evalMaxTokens, constraint, lora: trainRun.adapters });
      console.log(`${label}: exact match ${report.exactMatches}/${report.samples} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
      return report;
    };
    // Measured with the run's adapters; a fresh run's B is zero, so this is the base model.
    const before = await measure('before');
    if ((await trainRun.run()) === 'paused') console.log(`paused at step ${trainRun.step}/${trainRun.totalSteps}; continue with --resume --out ${out}`);
    const after = await measure('after');
    console.log('');
    console.log(comparisonTable(before, after));

    mkdirSync(out, { recursive: true });
    if (trainRun.adapters) {
      writeFileSync(join(out, ADAPTER_FILE), await trainRun.exportAdapterFile());
      console.log(`adapter: ${join(out, ADAPTER_FILE)}`);
    } else {
      console.log(`full fine-tuning: the trained text weights are in ${join(out, CHECKPOINT_TENSORS)} (no adapter file)`);
    }
    const strip = ({ results: _results, ...rest }: EvaluationReport) => rest;
    writeFileSync(join(out, REPORT_FILE), JSON.stringify({ steps: trainRun.step, config, before: strip(before), after: strip(after), answers: after.results, history: trainRun.history }, null, 1));
    console.log(`report: ${join(out, REPORT_FILE)}`);
    trainRun.dispose();
    return 0;
  } catch (error) {
    console.error(`train: ${oneLine(error)}`);
    return 1;
  } finally {
    model.dispose();
  }
}
