// One training session: the dataset, the model, the image-feature cache over them, the run's
// identity and checkpoints, accuracy measurements and the training run. The page's worker and the
// CLI each hold one; they give it an engine and a checkpoint store (IndexedDB in the browser, a
// folder in Node), pass calls through and show what comes back. Every decision about a run is
// made here, so the two behave the same: which split is measured, what a start or a resume
// checks before it touches the GPU, how a run is named so that a reload finds it again.
//
// Method arguments stay structured-clone friendly (callbacks as their own arguments), so the
// worker can expose the session through comlink unchanged.
import { zipSync } from 'fflate';
import { formatAnswer } from '../dataset/question.ts';
import type { CountingDataset, DatasetSource } from '../dataset/types.ts';
import type { Engine } from '../gpu/engine.ts';
import { deriveDimensions } from '../model/config.ts';
import { WEIGHTS_FILE, type ModelFiles } from '../model/model-source.ts';
import { loadOpenedMoondream, openMoondream, type Moondream, type OpenedMoondream } from '../model/moondream.ts';
import { answerTargetIds, expectedWeightsOf, queryPromptIds } from '../model/revisions.ts';
import type { WeightPrecision } from '../model/weights.ts';
import { CheckpointDatasetMismatchError, datasetMismatchMessage, type Checkpoint, type CheckpointStore, type CheckpointSummary, type CheckpointTensor } from './checkpoint-store.ts';
import { samplesPerStep, settingsOf, totalOptimizerSteps, trainingConfig, trainingConfigProblems, type TrainingConfig, type TrainingSettings } from './config.ts';
import { MAX_COUNT_DIGITS, countAnswerConstraint } from './count-constraint.ts';
import { datasetFingerprint } from './dataset-fingerprint.ts';
import { datasetImageEmbeddings, splitSamples, usableImageLoader } from './dataset-samples.ts';
import { askModel, type AskAnswer, type AskImage, type AskOptions } from './ask.ts';
import { datasetExportStream } from './dataset-export.ts';
import { evaluateSamples } from './evaluate.ts';
import { evaluationSplit } from './evaluation-split.ts';
import { ImageFeatureCache } from './feature-cache.ts';
import { TrainingInputError } from './input-error.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, writePeftAdapter } from './peft-adapter.ts';
import { readAdapterFile } from './adapter-export.ts';
import { trainedModelStream } from './merged-model.ts';
import type { EvaluationResult, ModelLoadProgress, ModelSummary, ResumeOffer, RunSummary, TrainingOutcome } from './session-types.ts';
import { TrainingRun, type TrainingProgress, type TrainingSample } from './trainer.ts';
import { MemoryRunLog, runMeasurement, type RunLog, type RunMeasurement, type RunRecord } from './run-log.ts';
import { readTensors, trainsModelWeights, writeTensors } from './trainable-parameters.ts';
import { namedTextParameters } from '../model/text-weights.ts';
import { namedVisionParameters } from '../model/vision-weights.ts';
import type { Tensor } from '../gpu/tensor.ts';

export interface SessionHost {
  /** The engine, asked for when the first model's weights are loaded. */
  engine(): Promise<Engine>;
  /** Where checkpoints are kept, asked for when first needed. */
  checkpoints(): Promise<CheckpointStore>;
  /** Where the record of every run is kept (run-log.ts); in memory when the host has no place. */
  runLog?(): Promise<RunLog>;
}

export interface MeasureOptions {
  /** 'counts': answers constrained to the counting format over the dataset's classes (count-constraint.ts). */
  constrain?: 'counts';
  /** Sequences decoded together (default: evaluate.ts's batch; 1 = one image at a time, as constrained answers are). */
  batchSize?: number;
}

/** What the CLI's report needs of the run. */
export type RunState = Pick<TrainingRun, 'step' | 'totalSteps' | 'finished' | 'config' | 'history' | 'adapters'>;

/** Full fine-tuning keeps weights, gradients and two AdamW moments in f32: 16 bytes a parameter. */
export const FULL_FINE_TUNE_MAX_PARAMETERS = 50_000_000;
/** Tokens an answer may run past the longest expected answer before a measurement stops it. */
const EVAL_SPARE_TOKENS = 8;

export class TrainingSession {
  private data: { source: DatasetSource; dataset: CountingDataset } | undefined;
  private opened: { model: OpenedMoondream; files: ModelFiles; isDemo: boolean; name: string } | undefined;
  private model: Moondream | undefined;
  private features: ImageFeatureCache | undefined;
  private run: TrainingRun | undefined;
  private training: Promise<TrainingOutcome> | undefined;
  private progressListener: ((progress: TrainingProgress) => void) | undefined;
  private checkpointListener: ((summary: CheckpointSummary) => void) | undefined;
  private watchedEngine: Engine | undefined;
  private lostMessage: string | undefined;
  private readonly lostListeners = new Set<(message: string) => void>();
  private log: Promise<RunLog> | undefined;
  /** The latest measurement of the model without a run's training, for the next run's "before". */
  private baseline: { key: string; measurement: RunMeasurement } | undefined;
  /**
   * The model's own values of the weights that full fine-tuning and vision training change in
   * place, read before the first such run, written back when that run is set aside, so that every
   * run starts from (and every measurement without a run sees) the model as it was loaded.
   */
  private baseWeights: { names: string[]; tensors: Tensor[]; values: CheckpointTensor[] } | undefined;

  constructor(private readonly host: SessionHost) {}

  // ---- dataset and model ----

  /** The dataset to measure and train on. Image features survive when only the questions changed. */
  setDataset(source: DatasetSource, dataset: CountingDataset): void {
    if (this.data?.source !== source) this.features = undefined;
    this.data = { source, dataset };
  }

  /** Opens a model's files (revision, tokenizer; the weights not read yet), replacing the loaded model. */
  async openModel(files: ModelFiles, options: { isDemo?: boolean; revisionId?: string; /** How runs name the model (default: its revision). */ name?: string } = {}): Promise<void> {
    await this.unloadModel();
    const model = await openMoondream(files, { revisionId: options.revisionId });
    this.opened = { model, files, isDemo: options.isDemo ?? false, name: options.name ?? model.revision.id };
  }

  /** Streams the opened model's weights onto the GPU. */
  async loadWeights(options: { precision?: WeightPrecision; onProgress?: (progress: ModelLoadProgress) => void } = {}): Promise<ModelSummary> {
    const opened = this.opened;
    if (!opened || this.model) throw new Error('Open a model before loading its weights.');
    const { onProgress } = options;
    try {
      this.model = await loadOpenedMoondream(await this.engine(), opened.model, {
        precision: options.precision,
        onProgress: ({ doneBytes, totalBytes, bytesPerSecond, etaSeconds }) => onProgress?.({ stage: 'weights', file: WEIGHTS_FILE, doneBytes, totalBytes, cachedBytes: 0, bytesPerSecond, etaSeconds }),
      });
    } catch (error) {
      this.opened = undefined;
      throw error;
    }
    return this.summary();
  }

  /** openModel, then loadWeights. */
  async loadModelFiles(files: ModelFiles, options: { isDemo?: boolean; name?: string; precision?: WeightPrecision; onProgress?: (progress: ModelLoadProgress) => void } = {}): Promise<ModelSummary> {
    await this.openModel(files, options);
    return this.loadWeights(options);
  }

  /** Calls `listener` with a message when the GPU device is lost (at once when it already is). */
  async watchDevice(listener: (message: string) => void): Promise<void> {
    if (this.lostMessage) listener(this.lostMessage);
    else this.lostListeners.add(listener);
  }

  // ---- checks that need no GPU ----

  /**
   * The configuration and train samples a start with `settings` trains, after every check that
   * needs no GPU. A step never asks for more samples than the train split has: accumulation is
   * lowered to fit. Throws TrainingInputError.
   */
  checkStart(settings: TrainingSettings): { config: TrainingConfig; samples: TrainingSample[] } {
    const { trainLimit, ...fields } = settings;
    const samples = this.trainSamples(trainLimit);
    const fitting = Math.max(1, Math.floor(samples.length / fields.batchSize));
    const config = trainingConfig({ ...fields, gradientAccumulation: Math.min(fields.gradientAccumulation, fitting) });
    const problems = trainingConfigProblems(config);
    if (problems.length > 0) throw new TrainingInputError(problems.join(' '));
    if (totalOptimizerSteps(config, samples.length) < 1) {
      throw new TrainingInputError(`${samples.length} train samples × ${config.epochs} epochs give no complete optimizer step of ${samplesPerStep(config)} samples; lower the batch size, or add epochs.`);
    }
    if (config.fullFineTune && this.parameterCount() > FULL_FINE_TUNE_MAX_PARAMETERS) {
      throw new TrainingInputError(`This model has ${this.parameterCount().toLocaleString('en')} parameters, too many to fine-tune every weight here; train LoRA adapters instead.`);
    }
    this.checkFit(samples);
    return { config, samples };
  }

  /** The stored run a resume continues, after checking it fits the loaded dataset. Throws TrainingInputError. */
  async checkResume(): Promise<CheckpointSummary> {
    const { key, fingerprint } = await this.identity();
    const summary = await this.newestCheckpoint(key);
    if (!summary) throw new TrainingInputError('There is no saved run for this dataset and model to resume; start training instead.');
    if (summary.datasetFingerprint !== fingerprint) throw new CheckpointDatasetMismatchError(datasetMismatchMessage(summary.runId));
    this.checkFit(this.trainSamples(summary.dataOrder.sampleCount));
    return summary;
  }

  // ---- measuring ----

  /**
   * Greedy answers on the first `limit` images of the evaluation split (the test split, else val,
   * else train: evaluation-split.ts), scored. Images that cannot be decoded are skipped and named.
   */
  async measure(
    limit: number | undefined,
    maxTokens: number,
    onProgress?: (done: number, total: number) => void,
    options: MeasureOptions = {},
  ): Promise<EvaluationResult> {
    const { model, dataset, features } = this.ready();
    if (this.training) throw new TrainingInputError('Training is running: pause it before measuring accuracy.');
    const target = evaluationSplit(dataset);
    const samples = splitSamples(dataset, target.split).slice(0, limit);
    if (samples.length === 0) throw new TrainingInputError('The dataset has no images to measure on; load a dataset with images.');
    this.checkFit(samples);
    const started = performance.now();
    // An answer more than a few tokens longer than the longest expected one cannot match exactly;
    // stopping there keeps a measurement of an untrained model from decoding noise to the limit.
    const classNames = dataset.classes.map((datasetClass) => datasetClass.name);
    // Under the counting constraint an answer can only stop by closing its JSON, so it gets room
    // for the longest one the constraint allows (every class, every digit): cut shorter, it would
    // not parse. An untrained model does write counts like 111111.
    const longestAllowed = formatAnswer(classNames, classNames.map(() => 10 ** MAX_COUNT_DIGITS - 1));
    const longest = [...samples.map((sample) => sample.answer), ...(options.constrain === 'counts' ? [longestAllowed] : [])];
    const longestAnswer = Math.max(...longest.map((answer) => model.tokenizer.encode(answer).length));
    const answerTokens = Math.min(maxTokens, longestAnswer + EVAL_SPARE_TOKENS);
    const constraint = options.constrain === 'counts' ? countAnswerConstraint(model, classNames) : undefined;
    // A paused or finished LoRA run's adapters answer; without a run, the model as loaded.
    const evaluation = await evaluateSamples(model, features, samples, classNames, { maxTokens: answerTokens, onProgress, constraint, lora: this.run?.adapters, batchSize: options.batchSize });
    const result: EvaluationResult = {
      ...evaluation,
      split: target.split,
      ...(target.note ? { note: target.note } : {}),
      seconds: (performance.now() - started) / 1000,
      decoding: options.constrain === 'counts' ? 'counts' : 'free',
    };
    await this.recordMeasurement(result);
    return result;
  }

  // ---- training ----

  /** The newest checkpoint for the loaded dataset and model (of the run trained last), or null. */
  async findCheckpoint(): Promise<ResumeOffer | null> {
    const { key, fingerprint } = await this.identity();
    const summary = await this.newestCheckpoint(key);
    if (!summary || summary.datasetFingerprint !== fingerprint) return null;
    return {
      runId: summary.runId,
      step: summary.step,
      totalSteps: totalOptimizerSteps(summary.config, summary.dataOrder.sampleCount),
      savedAt: summary.savedAt,
      settings: settingsOf(summary.config, summary.dataOrder.sampleCount),
      // History points carry the completed step count (AdamW's t after the update), as progress does.
      losses: summary.metricHistory.map(({ step, loss }) => ({ step, loss })),
    };
  }

  /**
   * Starts a new run from the model as loaded and trains until done or paused. Earlier runs stay
   * stored (listRuns), each with its record and its newest checkpoint.
   */
  async startTraining(settings: TrainingSettings, onProgress?: (progress: TrainingProgress) => void, onCheckpoint?: (summary: CheckpointSummary) => void): Promise<TrainingOutcome> {
    this.ready();
    const { config, samples } = this.checkStart(settings);
    if (this.training) throw new TrainingInputError('Training is already running.');
    await this.stopRun();
    const { key, fingerprint } = await this.identity();
    const store = await this.host.checkpoints();
    const startedAt = Date.now();
    const runId = `${key}:${startedAt.toString(36)}`;
    await this.keepBaseWeights(config);
    const before = await this.latestBaseline(key);
    const record: RunRecord = {
      runId,
      startedAt,
      modelName: this.opened?.name ?? this.modelParts().revision.id,
      revision: this.modelParts().revision.id,
      datasetName: this.requireDataset().source.name,
      datasetFingerprint: fingerprint,
      settings: settingsOf(config, samples.length),
      totalSteps: totalOptimizerSteps(config, samples.length),
      ...(before ? { before } : {}),
    };
    await (await this.runLog()).put(record);
    this.run = TrainingRun.start(this.runOptions(runId, fingerprint, samples, store), config);
    return this.train(onProgress, onCheckpoint);
  }

  /** Continues the run paused in this session, or the stored checkpoint (after a reload or in a new process). */
  async resumeTraining(onProgress?: (progress: TrainingProgress) => void, onCheckpoint?: (summary: CheckpointSummary) => void): Promise<TrainingOutcome> {
    this.ready();
    // The run paused here continues as it is, unless the dataset changed since (it is another run).
    if (this.run && !this.run.finished && !this.training && isRunOf(this.run.runId, (await this.identity()).key)) return this.train(onProgress, onCheckpoint);
    const summary = await this.checkResume();
    if (this.training) throw new TrainingInputError('Training is already running.');
    const store = await this.host.checkpoints();
    const checkpoint: Checkpoint | null = await store.latest(summary.runId, summary.datasetFingerprint);
    if (!checkpoint) throw new TrainingInputError('The saved run is gone; start training instead.');
    await this.stopRun();
    await this.keepBaseWeights(checkpoint.config);
    this.run = TrainingRun.resume(this.runOptions(summary.runId, summary.datasetFingerprint, this.trainSamples(checkpoint.dataOrder.sampleCount), store), checkpoint);
    return this.train(onProgress, onCheckpoint);
  }

  /** Stops after the step in progress; the training call then resolves 'paused' with a checkpoint saved. */
  async pauseTraining(): Promise<void> {
    this.run?.pause();
  }

  // ---- the runs kept ----

  /**
   * Every stored run, of any dataset and model, newest first: its record (settings, before and
   * after), the step its checkpoint reached, its loss and learning-rate curve, and the bytes it
   * keeps. A checkpoint without a record (stored before runs were logged) is listed from what the
   * checkpoint itself says.
   */
  async listRuns(): Promise<RunSummary[]> {
    const [records, checkpoints] = await Promise.all([(await this.runLog()).list(), (await this.host.checkpoints()).runSummaries()]);
    const byRun = new Map(checkpoints.map((summary) => [summary.runId, summary]));
    const logged = new Set(records.map((record) => record.runId));
    const all = [...records, ...checkpoints.filter((summary) => !logged.has(summary.runId)).map(recordFromCheckpoint)];
    const key = this.data && (this.model ?? this.opened) ? (await this.identity()).key : undefined;
    return all
      .map((record): RunSummary => {
        const checkpoint = byRun.get(record.runId);
        const losses = (checkpoint?.metricHistory ?? []).filter((point) => point.loss !== null);
        return {
          ...record,
          step: checkpoint?.step ?? 0,
          ...(checkpoint ? { savedAt: checkpoint.savedAt } : {}),
          storedBytes: checkpoint?.tensorBytes ?? 0,
          curve: losses.map(({ step, loss, learningRate }) => ({ step, loss: loss!, learningRate })),
          ofLoadedModel: key !== undefined && isRunOf(record.runId, key),
          inSession: this.run?.runId === record.runId,
        };
      })
      .sort((a, b) => b.startedAt - a.startedAt);
  }

  /**
   * Deletes a run: its checkpoints and its record. The run this session holds (paused or
   * finished) is set aside first, its trained weights taken off the model; a run that is
   * training must be paused first. Returns whether it was the session's run.
   */
  async deleteRun(runId: string): Promise<boolean> {
    const held = this.run?.runId === runId;
    if (held && this.training) throw new TrainingInputError('This run is training: pause it before deleting it.');
    if (held) await this.stopRun();
    await (await this.host.checkpoints()).deleteRun(runId);
    await (await this.runLog()).delete(runId);
    return held;
  }

  /** The trained LoRA adapters as a safetensors file. */
  async exportAdapter(): Promise<Uint8Array> {
    if (!this.run) throw new TrainingInputError('Nothing has been trained yet: train (or resume) a run first.');
    if (this.training) throw new TrainingInputError('Training is running: pause it (or let it finish) before downloading the adapter.');
    if (this.run.config.trainTokenLayers) {
      throw new TrainingInputError('This run also trained the token embedding and the LM head, which an adapter file does not hold: download the trained model instead.');
    }
    return this.run.exportAdapterFile();
  }

  /**
   * The trained adapter in PEFT's layout (adapter_config.json and adapter_model.safetensors with
   * PEFT's names for the loaded revision), zipped: unzip it into a folder and
   * `PeftModel.from_pretrained(model, folder)` loads it (docs/EXPORTS.md).
   */
  async exportPeftAdapterZip(): Promise<Uint8Array> {
    const adapter = readAdapterFile(await this.exportAdapter());
    const peft = writePeftAdapter(adapter, this.modelParts().revision);
    return zipSync({ [PEFT_CONFIG_FILE]: peft.config, [PEFT_WEIGHTS_FILE]: peft.weights }, { level: 0 });
  }

  /**
   * The trained model as one model.safetensors, read again from the model's own files: the base
   * file with the run's LoRA adapters merged in, or with the weights a full fine-tune trained
   * written over the base ones, in the base file's names and dtypes (merged-model.ts), so it
   * loads wherever the base model loads. As a Blob: a browser keeps a large one on disk.
   */
  async exportTrainedModel(onProgress?: (doneBytes: number, totalBytes: number | undefined) => void): Promise<Blob> {
    const run = this.run;
    if (!run || run.step === 0) throw new TrainingInputError('Nothing has been trained yet: train (or load back) a run first.');
    if (this.training) throw new TrainingInputError('Training is running: pause it (or let it finish) before downloading the trained model.');
    const opened = this.opened!;
    const base = await opened.files.open(WEIGHTS_FILE);
    if (!base) throw new Error(`${opened.files.name} no longer has ${WEIGHTS_FILE}; load the model again to export it.`);
    const changes = {
      ...(run.adapters ? { adapter: readAdapterFile(await run.exportAdapterFile()) } : {}),
      weights: await run.trainedWeights(),
    };
    const stream = trainedModelStream(base.stream, changes, { expectedByteLength: base.byteLength, onProgress: ({ doneBytes, totalBytes }) => onProgress?.(doneBytes, totalBytes) });
    return new Response(stream).blob();
  }

  /** The loaded dataset converted: a JSONL of image, question and answer per split, and the images, zipped (dataset-export.ts). */
  async exportDatasetZip(): Promise<Uint8Array> {
    const { source, dataset } = this.requireDataset();
    return new Uint8Array(await new Response(datasetExportStream(source, dataset)).arrayBuffer());
  }

  /** Any question about any image (ask.ts), greedy, with or without the run's LoRA adapter. */
  async ask(image: AskImage, question: string, options: AskOptions, onText?: (textSoFar: string) => void): Promise<AskAnswer> {
    if (this.lostMessage) throw new Error(this.lostMessage);
    if (!this.model) throw new TrainingInputError('No model is loaded yet: choose a model and load it first.');
    if (this.training) throw new TrainingInputError('Training is running: pause it before asking the model.');
    return askModel(this.model, this.data, this.run?.adapters, image, question, options, onText);
  }

  /** The current run (the CLI's report), if any. */
  get currentRun(): RunState | undefined {
    return this.run;
  }

  /** Stops training and frees the run and the model. */
  async dispose(): Promise<void> {
    await this.unloadModel();
  }

  // ---- internals ----

  private train(onProgress: ((progress: TrainingProgress) => void) | undefined, onCheckpoint: ((summary: CheckpointSummary) => void) | undefined): Promise<TrainingOutcome> {
    this.progressListener = onProgress;
    this.checkpointListener = onCheckpoint;
    this.training = this.run!.run().finally(() => {
      this.training = undefined;
    });
    return this.training;
  }

  private runOptions(runId: string, fingerprint: string, samples: TrainingSample[], store: CheckpointStore) {
    const { model, features } = this.ready();
    const { source, dataset } = this.requireDataset();
    return {
      runId,
      model,
      samples,
      features,
      images: usableImageLoader(source, dataset),
      datasetFingerprint: fingerprint,
      store,
      onProgress: (progress: TrainingProgress) => void this.progressListener?.(progress),
      onCheckpoint: (summary: CheckpointSummary) => void this.checkpointListener?.(summary),
    };
  }

  private async stopRun(): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.pause();
    await this.training?.catch(() => {});
    run.dispose();
    this.run = undefined;
    if (trainsModelWeights(run.config)) this.restoreBaseWeights(run.config.trainVision);
  }

  /** Reads the model's own weights before the first run that changes them in place. */
  private async keepBaseWeights(config: TrainingConfig): Promise<void> {
    if (!trainsModelWeights(config) || this.baseWeights) return;
    const model = this.model!;
    const named = [...namedTextParameters(model.decoder.weights), ...namedVisionParameters(model.vision.weights)].filter(([, tensor]) => tensor.dtype === 'f32');
    const names = named.map(([name]) => name);
    const tensors = named.map(([, tensor]) => tensor);
    this.baseWeights = { names, tensors, values: await readTensors(model.engine, names, tensors) };
  }

  private restoreBaseWeights(visionChanged: boolean): void {
    if (!this.baseWeights || !this.model) return;
    const { names, tensors, values } = this.baseWeights;
    writeTensors(this.model.engine, names, tensors, values, 'weights of the model as loaded');
    // Image features computed by trained vision weights are not the model's any more.
    if (visionChanged) this.features = undefined;
  }

  /** A measurement without a run's weights is the next run's "before"; with them, the run's "after". */
  private async recordMeasurement(result: EvaluationResult): Promise<void> {
    const log = await this.runLog();
    const { key } = await this.identity();
    if (this.run && this.run.step > 0) {
      const record = await log.get(this.run.runId);
      if (record) await log.put({ ...record, after: runMeasurement(result, this.run.step) });
      return;
    }
    const measurement = runMeasurement(result, 0);
    this.baseline = { key, measurement };
    // Runs of this dataset and model measured before none (e.g. started in an earlier visit).
    for (const record of await log.list()) {
      if (!record.before && isRunOf(record.runId, key)) await log.put({ ...record, before: measurement });
    }
  }

  /**
   * The model as loaded, measured on this dataset: this session's latest such measurement, else
   * the newest one an earlier run of the same dataset and model recorded (an earlier visit's).
   */
  private async latestBaseline(key: string): Promise<RunMeasurement | undefined> {
    if (this.baseline?.key === key) return this.baseline.measurement;
    const earlier = (await (await this.runLog()).list()).filter((record) => record.before && isRunOf(record.runId, key));
    return earlier.sort((a, b) => a.before!.measuredAt - b.before!.measuredAt).at(-1)?.before;
  }

  private runLog(): Promise<RunLog> {
    this.log ??= this.host.runLog?.() ?? Promise.resolve(new MemoryRunLog());
    return this.log;
  }

  /** The newest checkpoint (by when it was saved) among the runs of this dataset and model; a one-run store's run. */
  private async newestCheckpoint(key: string): Promise<CheckpointSummary | null> {
    const store = await this.host.checkpoints();
    const summaries = await store.runSummaries();
    if (store.singleRun) return summaries[0] ?? null;
    return summaries.filter((summary) => isRunOf(summary.runId, key)).sort((a, b) => a.savedAt - b.savedAt).at(-1) ?? null;
  }

  private async unloadModel(): Promise<void> {
    if (this.training) throw new TrainingInputError('Training is running: pause it before loading another model.');
    await this.stopRun();
    this.features = undefined;
    this.baseWeights = undefined;
    this.baseline = undefined;
    this.model?.dispose();
    this.model = undefined;
    if (this.opened && !this.opened.model.weightsFile.stream.locked) await this.opened.model.weightsFile.stream.cancel();
    this.opened = undefined;
  }

  /**
   * The key of the loaded data and model: every run on them is named `<key>:<start time>`, so a
   * reloaded page finds their runs again.
   */
  private async identity(): Promise<{ key: string; fingerprint: string }> {
    const { dataset } = this.requireDataset();
    const fingerprint = await datasetFingerprint(dataset);
    return { key: `${fingerprint.slice(0, 16)}:${this.modelParts().revision.id}`, fingerprint };
  }

  private trainSamples(limit: number | undefined): TrainingSample[] {
    const samples = splitSamples(this.requireDataset().dataset, 'train').slice(0, limit);
    if (samples.length === 0) throw new TrainingInputError('The dataset has no train images; load a dataset with a train split to fine-tune on.');
    return samples;
  }

  /** Refuses samples whose image, question and answer do not fit the model's context. */
  private checkFit(samples: readonly TrainingSample[]): void {
    const { revision, tokenizer } = this.modelParts();
    const prefix = 1 + deriveDimensions(revision.config).imageTokens;
    const context = revision.config.text.max_context;
    const promptLengths = new Map<string, number>();
    for (const sample of samples) {
      let prompt = promptLengths.get(sample.question);
      if (prompt === undefined) promptLengths.set(sample.question, (prompt = queryPromptIds(revision, tokenizer, sample.question).length));
      const length = prefix + prompt + answerTargetIds(revision, tokenizer, sample.answer).length;
      if (length > context) {
        throw new TrainingInputError(
          `The question and answer of ${sample.imagePath} take ${length - prefix} tokens after the image's ${prefix}, more than the model's context of ${context} positions; shorten the question (its noun or template).`,
        );
      }
    }
  }

  private parameterCount(): number {
    if (this.model) {
      let parameters = 0;
      for (const parts of this.model.weights.parts.values()) for (const part of parts) parameters += part.tensor.size;
      return parameters;
    }
    let parameters = 0;
    for (const shape of expectedWeightsOf(this.modelParts().revision).values()) parameters += shape.reduce((product, size) => product * size, 1);
    return parameters;
  }

  private summary(): ModelSummary {
    const model = this.model!;
    const dtypes = new Set<string>();
    for (const parts of model.weights.parts.values()) for (const part of parts) dtypes.add(part.tensor.dtype);
    const parameters = this.parameterCount();
    return {
      revision: model.revision.id,
      description: model.revision.description,
      parameters,
      gpuBytes: model.gpuBytes,
      precision: [...dtypes].sort().join(' + '),
      fullFineTuneAllowed: parameters <= FULL_FINE_TUNE_MAX_PARAMETERS,
      isDemo: this.opened?.isDemo ?? false,
    };
  }

  /** The revision and tokenizer of the loaded or opened model. */
  private modelParts(): Pick<OpenedMoondream, 'revision' | 'tokenizer'> {
    const parts = this.model ?? this.opened?.model;
    if (!parts) throw new TrainingInputError('No model is loaded yet: choose a model and load it first.');
    return parts;
  }

  private requireDataset(): { source: DatasetSource; dataset: CountingDataset } {
    if (!this.data) throw new TrainingInputError('No dataset is loaded: load a dataset first.');
    return this.data;
  }

  /** The loaded model, the dataset and the feature cache over both. */
  private ready(): { model: Moondream; dataset: CountingDataset; features: ImageFeatureCache } {
    if (this.lostMessage) throw new Error(this.lostMessage);
    const model = this.model;
    if (!model) throw new TrainingInputError('No model is loaded yet: choose a model and load it first.');
    const { source, dataset } = this.requireDataset();
    this.features ??= new ImageFeatureCache(model.engine, datasetImageEmbeddings(model.engine, model.vision, source, dataset));
    return { model, dataset, features: this.features };
  }

  private async engine(): Promise<Engine> {
    if (this.lostMessage) throw new Error(this.lostMessage);
    const engine = await this.host.engine();
    if (this.watchedEngine !== engine) {
      this.watchedEngine = engine;
      void engine.context.lost.then((message) => {
        this.lostMessage = message;
        for (const listener of this.lostListeners) void listener(message);
      });
    }
    return engine;
  }
}

/** Whether a run id is one of the runs of a data-and-model key (runs stored before start times were added are named by the key alone). */
function isRunOf(runId: string, key: string): boolean {
  return runId === key || runId.startsWith(`${key}:`);
}

/** A record for a checkpoint stored without one: what its own fields say. */
function recordFromCheckpoint(summary: CheckpointSummary): RunRecord {
  const revision = summary.runId.split(':')[1] ?? '';
  return {
    runId: summary.runId,
    startedAt: summary.savedAt,
    modelName: revision,
    revision,
    datasetName: '',
    datasetFingerprint: summary.datasetFingerprint,
    settings: settingsOf(summary.config, summary.dataOrder.sampleCount),
    totalSteps: totalOptimizerSteps(summary.config, summary.dataOrder.sampleCount),
  };
}
