// `npm run cli -- train --model <folder|hub:…> --dataset <zip|folder> …`: the page's steps 3 and 4
// in Node, through the same TrainingSession (src/train/session.ts) — measure, fine-tune with
// progress lines, checkpoint to --out (a folder store), continue with --resume, measure again,
// then the before/after table, the adapter and a report. This file parses the arguments, checks
// the --out folder and prints; everything the input can get wrong is found before the model's
// weights load and exits 2 with one line.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasErrors, loadDataset } from '../dataset/load.ts';
import { sourceFromPath } from '../dataset/node-source.ts';
import { Engine } from '../gpu/engine.ts';
import { acquireNodeDevice } from '../gpu/node-device.ts';
import type { ModelFiles } from '../model/model-source.ts';
import { CHECKPOINT_JSON, CHECKPOINT_TENSORS, FolderCheckpointStore } from '../train/checkpoint-folder.ts';
import type { CheckpointSummary } from '../train/checkpoint-store.ts';
import { DEFAULT_TRAINING_CONFIG, defaultLoraAlpha, defaultTrainingSettings, samplesPerStep, totalOptimizerSteps, type TrainingSettings } from '../train/config.ts';
import { TrainingInputError } from '../train/input-error.ts';
import type { EvaluationReport } from '../train/metrics.ts';
import { TrainingSession } from '../train/session.ts';
import type { EvaluationResult } from '../train/session-types.ts';
import type { TrainingProgress } from '../train/trainer.ts';
import { ArgumentReader, UsageError, modelFilesFromArgument, oneLine } from './cli-shared.ts';

export { CHECKPOINT_JSON, CHECKPOINT_TENSORS };
export const ADAPTER_FILE = 'adapter.safetensors';
export const REPORT_FILE = 'report.json';
/** The data flags of a run (limits, noun, answer tokens, constraint), so --resume sees the same samples. */
export const SETTINGS_FILE = 'train-settings.json';
const DATA_FLAGS = ['limitTrain', 'limitTest', 'maxTokens', 'constrain', 'noun'] as const;

const defaults = DEFAULT_TRAINING_CONFIG;

export const usage = `usage: npm run cli -- train --model <folder|hub:owner/repo@revision> --dataset <zip|folder> [options]

Measures a Moondream model on the dataset's test split (else val, else train), fine-tunes it on
the train split and measures again (the page's steps 3 and 4, on WebGPU; MOONTUNE_SWIFTSHADER=1
for the CPU).

  --model <folder>          a folder with model.safetensors, config.json and tokenizer.json (e.g. public/demo-model)
  --model hub:<repo>@<rev>  download from the Hugging Face hub
  --dataset <zip|folder>    a Roboflow COCO export (e.g. public/demo/coins.coco.zip)
  --out <dir>               checkpoint, adapter and report go here (default: train-out)
  --lora-rank <r>           LoRA rank (default ${defaults.loraRank}; alpha is ${defaultLoraAlpha(1)}·r)
  --full                    fine-tune every text weight instead of LoRA adapters
  --lr <x>                  peak learning rate (default ${defaults.learningRate})
  --epochs <n>              passes over the train split (default ${defaults.epochs})
  --batch <n>               samples per optimizer step (default ${samplesPerStep(defaults)}, or fewer when the train split is smaller)
  --limit-train <n>         use only the first n train images
  --limit-test <n>          measure only the first n images
  --max-tokens <n>          answer tokens generated when measuring (default ${defaults.evalMaxTokens})
  --constrain counts        measure with answers constrained to the counting format over the dataset's classes
  --noun <noun>             the question's noun, e.g. coin (default: object)
  --stop-after <n>          pause after n optimizer steps in this invocation (checkpoint saved; continue with --resume)
  --resume                  continue the run saved in --out (its settings win over the flags above)
  --help                    this text

Exit code 0 when done, 2 on invalid input (checked before the model loads), 1 when loading, the
GPU or training fails (the last completed step's checkpoint is kept: continue with --resume).`;

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

function parseArguments(args: string[]): TrainArguments | 'help' {
  const parsed: Partial<TrainArguments> = { out: 'train-out', full: false, resume: false };
  const reader = new ArgumentReader(args);
  const value = (index: number, flag: string) => reader.value(index, flag);
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
    else if (arg === '--lr') parsed.learningRate = reader.number(value(index++, arg), arg, (n) => n > 0 && n < 1, 'a number in (0, 1)');
    else throw new UsageError(`unexpected argument ${arg}`);
  }
  for (const flag of ['model', 'dataset'] as const) {
    if (parsed[flag] === undefined) throw new UsageError(`--${flag} is required`);
  }
  if (parsed.full && parsed.loraRank !== undefined) throw new UsageError('--full trains every text weight; leave out --lora-rank');
  return parsed as TrainArguments;
}

/** The training settings of the flags: the config's defaults where a flag is absent. */
function settingsFromFlags(options: TrainArguments): TrainingSettings {
  const settings = defaultTrainingSettings();
  const loraRank = options.loraRank ?? settings.loraRank;
  return {
    ...settings,
    fullFineTune: options.full,
    loraRank,
    loraAlpha: defaultLoraAlpha(loraRank),
    learningRate: options.learningRate ?? settings.learningRate,
    epochs: options.epochs ?? settings.epochs,
    // --batch is the samples of a step: one sequence at a time, accumulated.
    batchSize: 1,
    gradientAccumulation: options.batch ?? samplesPerStep(settings),
    evalMaxTokens: options.maxTokens ?? settings.evalMaxTokens,
    trainLimit: options.limitTrain,
  };
}

/**
 * What --out holds, before anything loads: refuses a file, a stored run without --resume (it
 * would be replaced), --resume without one, and a damaged checkpoint or settings file. With
 * --resume, the data flags saved with the run fill the flags not given again.
 */
function checkOutFolder(options: TrainArguments): { store: FolderCheckpointStore; saved: CheckpointSummary | null } {
  const { out } = options;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a file; give a folder (it is made when missing)`);
  const store = new FolderCheckpointStore(out);
  const saved = store.check();
  if (options.resume && !saved) throw new UsageError(`--resume: ${join(out, CHECKPOINT_JSON)} does not exist; run without --resume first`);
  if (!options.resume && saved) {
    const totalSteps = totalOptimizerSteps(saved.config, saved.dataOrder.sampleCount);
    throw new UsageError(
      saved.step < totalSteps
        ? `--out ${out} holds a run paused at step ${saved.step}/${totalSteps}: add --resume to continue it, or give another --out`
        : `--out ${out} holds a finished run (${saved.step} steps): give another --out, or delete ${out} to train there again`,
    );
  }
  const settingsPath = join(out, SETTINGS_FILE);
  if (options.resume && existsSync(settingsPath)) {
    let saved: Partial<TrainArguments>;
    try {
      saved = JSON.parse(readFileSync(settingsPath, 'utf8'));
    } catch (error) {
      throw new UsageError(`${settingsPath} is not valid JSON (${(error as Error).message}); it holds the run's --limit-train, --limit-test, --max-tokens, --constrain and --noun: fix it, or start a new run in another --out`);
    }
    // Flags given again win; the rest come from the run being resumed.
    for (const flag of DATA_FLAGS) if (options[flag] === undefined && saved?.[flag] !== undefined) Object.assign(options, { [flag]: saved[flag] });
  }
  return { store, saved };
}

function seconds(value: number): string {
  if (!Number.isFinite(value)) return '?';
  return value >= 90 ? `${Math.floor(value / 60)}m${String(Math.round(value % 60)).padStart(2, '0')}s` : `${value.toFixed(1)}s`;
}

/** One line per optimizer step; the epoch shown is the one the step's last sample came from. */
export function progressLine(progress: TrainingProgress, epochs: number): string {
  const loss = progress.loss === null ? '—' : progress.loss.toFixed(4);
  return `step ${progress.step}/${progress.totalSteps}  epoch ${Math.min(progress.epoch + 1, epochs)}/${epochs}  loss ${loss}  lr ${progress.learningRate.toExponential(2)}  ${progress.tokensPerSecond.toFixed(1)} tokens/s  ETA ${seconds(progress.etaSeconds)}${progress.recomputing ? '  (recomputing activations to fit memory)' : ''}`;
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

/** Input errors are the user's to fix (exit 2); anything else is a failure (exit 1). */
function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof TrainingInputError ? 2 : 1;
}

function fail(error: unknown): number {
  console.error(`train: ${oneLine(error)}${error instanceof UsageError ? '; see --help.' : ''}`);
  return exitCodeOf(error);
}

export async function run(args: string[]): Promise<number> {
  let options: TrainArguments;
  let files: ModelFiles;
  let store: FolderCheckpointStore;
  try {
    const parsed = parseArguments(args);
    if (parsed === 'help') {
      console.log(usage);
      return 0;
    }
    options = parsed;
    files = modelFilesFromArgument(options.model);
    if (!existsSync(options.dataset)) throw new UsageError(`--dataset ${options.dataset} does not exist`);
    ({ store } = checkOutFolder(options));
  } catch (error) {
    return fail(error);
  }

  let engine: Promise<Engine> | undefined;
  const session = new TrainingSession({
    engine: () => (engine ??= acquireNodeDevice().then((context) => new Engine(context))),
    checkpoints: async () => store,
  });
  const settings = settingsFromFlags(options);
  let resumeFrom: CheckpointSummary | undefined;
  try {
    // Everything the input can get wrong, before the weights load: the dataset, the model's files,
    // questions that do not fit the model's context, the run to start or to resume.
    const source = await sourceFromPath(options.dataset);
    const dataset = await loadDataset(source, options.noun ? { question: { noun: options.noun } } : {});
    if (hasErrors(dataset)) {
      const first = dataset.issues.find((issue) => issue.severity === 'error');
      throw new TrainingInputError(`${options.dataset} has errors (${first?.message ?? 'see npm run cli -- dataset'}); run npm run cli -- dataset ${options.dataset} for the full report.`);
    }
    session.setDataset(source, dataset);
    await session.openModel(files);
    if (options.resume) resumeFrom = await session.checkResume();
    else session.checkStart(settings);
  } catch (error) {
    await session.dispose().catch(() => {});
    return fail(error);
  }

  const out = options.out;
  try {
    await session.loadWeights({ precision: 'f32' });
    if (!options.resume) {
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, SETTINGS_FILE), JSON.stringify(Object.fromEntries(DATA_FLAGS.map((flag) => [flag, options[flag]])), null, 1));
    }
    const maxTokens = options.maxTokens ?? settings.evalMaxTokens;
    const measure = async (label: string): Promise<EvaluationResult> => {
      const result = await session.measure(options.limitTest, maxTokens, undefined, { constrain: options.constrain });
      if (label === 'before' && result.note) console.log(`note: ${result.note}`);
      for (const { path, reason } of result.skippedImages) console.log(`${label}: skipped ${path} (${reason})`);
      console.log(`${label}: exact match ${result.exactMatches}/${result.samples} ${result.split} images (${result.seconds.toFixed(1)}s)`);
      return result;
    };
    // Measured with the adapters of a resumed run installed, or the base model before a new one.
    const before = await measure('before');

    const startStep = resumeFrom?.step ?? 0;
    // Each skipped image is named once ('before' named its own).
    const named = new Set(before.skippedImages.map((image) => image.path));
    const onProgress = (progress: TrainingProgress) => {
      for (const { path, reason } of progress.skippedImages.filter((image) => !named.has(image.path))) {
        console.log(`skipped ${path}: ${reason}`);
        named.add(path);
      }
      console.log(progressLine(progress, session.currentRun!.config.epochs));
      if (options.stopAfter !== undefined && progress.step >= startStep + options.stopAfter && progress.step < progress.totalSteps) void session.pauseTraining();
    };
    const onCheckpoint = (summary: CheckpointSummary) => console.log(`checkpoint: step ${summary.step} → ${join(out, CHECKPOINT_JSON)} (${(summary.tensorBytes / 1024).toFixed(0)} KiB of tensors)`);
    if (resumeFrom) console.log(`resuming ${join(out, CHECKPOINT_JSON)} at step ${resumeFrom.step}/${totalOptimizerSteps(resumeFrom.config, resumeFrom.dataOrder.sampleCount)}`);
    let outcome;
    try {
      outcome = resumeFrom ? await session.resumeTraining(onProgress, onCheckpoint) : await session.startTraining(settings, onProgress, onCheckpoint);
    } catch (error) {
      if (error instanceof TrainingInputError) throw error;
      // The run saved its last completed step before the error reached here.
      throw new Error(`${oneLine(error)} (the last completed step's checkpoint is kept in ${out}: continue with --resume --out ${out})`);
    }
    const run = session.currentRun!;
    if (outcome === 'paused') console.log(`paused at step ${run.step}/${run.totalSteps}; continue with --resume --out ${out}`);
    const after = await measure('after');
    console.log('');
    console.log(comparisonTable(before, after));

    if (run.adapters) {
      writeFileSync(join(out, ADAPTER_FILE), await session.exportAdapter());
      console.log(`adapter: ${join(out, ADAPTER_FILE)}`);
    } else {
      console.log(`full fine-tuning: the trained text weights are in ${join(out, CHECKPOINT_TENSORS)} (no adapter file)`);
    }
    const strip = ({ results: _results, skippedImages: _skipped, ...rest }: EvaluationResult) => rest;
    const skippedImages = [...new Map([...before.skippedImages, ...after.skippedImages].map((image) => [image.path, image])).values()];
    writeFileSync(join(out, REPORT_FILE), JSON.stringify({ steps: run.step, config: run.config, before: strip(before), after: strip(after), answers: after.results, history: run.history, skippedImages }, null, 1));
    console.log(`report: ${join(out, REPORT_FILE)}`);
    return 0;
  } catch (error) {
    return fail(error);
  } finally {
    await session.dispose().catch(() => {});
  }
}
