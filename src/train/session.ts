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
import { CheckpointDatasetMismatchError, datasetMismatchMessage, type Checkpoint, type CheckpointStore, type CheckpointSummary } from './checkpoint-store.ts';
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
import type { EvaluationResult, ModelLoadProgress, ModelSummary, ResumeOffer, TrainingOutcome } from './session-types.ts';
import { TrainingRun, type TrainingProgress, type TrainingSample } from './trainer.ts';

export interface SessionHost {
  /** The engine, asked for when the first model's weights are loaded. */
  engine(): Promise<Engine>;
  /** Where checkpoints are kept, asked for when first needed. */
  checkpoints(): Promise<CheckpointStore>;
}

export interface MeasureOptions {
  /** 'counts': answers constrained to the counting format over the dataset's classes (count-constraint.ts). */
  constrain?: 'counts';
}

/** What the CLI's report needs of the run. */
export type RunState = Pick<TrainingRun, 'step' | 'totalSteps' | 'finished' | 'config' | 'history' | 'adapters'>;

/** Full fine-tuning keeps weights, gradients and two AdamW moments in f32: 16 bytes a parameter. */
export const FULL_FINE_TUNE_MAX_PARAMETERS = 50_000_000;
/** Tokens an answer may run past the longest expected answer before a measurement stops it. */
const EVAL_SPARE_TOKENS = 8;

export class TrainingSession {
  private data: { source: DatasetSource; dataset: CountingDataset } | undefined;
  private opened: { model: OpenedMoondream; isDemo: boolean } | undefined;
  private model: Moondream | undefined;
  private features: ImageFeatureCache | undefined;
  private run: TrainingRun | undefined;
  private training: Promise<TrainingOutcome> | undefined;
  private progressListener: ((progress: TrainingProgress) => void) | undefined;
  private checkpointListener: ((summary: CheckpointSummary) => void) | undefined;
  private watchedEngine: Engine | undefined;
  private lostMessage: string | undefined;
  private readonly lostListeners = new Set<(message: string) => void>();

  constructor(private readonly host: SessionHost) {}

  // ---- dataset and model ----

  /** The dataset to measure and train on. Image features survive when only the questions changed. */
  setDataset(source: DatasetSource, dataset: CountingDataset): void {
    if (this.data?.source !== source) this.features = undefined;
    this.data = { source, dataset };
  }

  /** Opens a model's files (revision, tokenizer; the weights not read yet), replacing the loaded model. */
  async openModel(files: ModelFiles, options: { isDemo?: boolean; revisionId?: string } = {}): Promise<void> {
    await this.unloadModel();
    this.opened = { model: await openMoondream(files, { revisionId: options.revisionId }), isDemo: options.isDemo ?? false };
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
  async loadModelFiles(files: ModelFiles, options: { isDemo?: boolean; precision?: WeightPrecision; onProgress?: (progress: ModelLoadProgress) => void } = {}): Promise<ModelSummary> {
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
    const { runId, fingerprint } = await this.identity();
    const summary = await (await this.host.checkpoints()).latestSummary(runId);
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
    const evaluation = await evaluateSamples(model, features, samples, classNames, { maxTokens: answerTokens, onProgress, constraint, lora: this.run?.adapters });
    return {
      ...evaluation,
      split: target.split,
      ...(target.note ? { note: target.note } : {}),
      seconds: (performance.now() - started) / 1000,
      decoding: options.constrain === 'counts' ? 'counts' : 'free',
    };
  }

  // ---- training ----

  /** The newest checkpoint for the loaded dataset and model, or null. */
  async findCheckpoint(): Promise<ResumeOffer | null> {
    const { runId, fingerprint } = await this.identity();
    const summary = await (await this.host.checkpoints()).latestSummary(runId);
    if (!summary || summary.datasetFingerprint !== fingerprint) return null;
    return {
      runId,
      step: summary.step,
      totalSteps: totalOptimizerSteps(summary.config, summary.dataOrder.sampleCount),
      savedAt: summary.savedAt,
      settings: settingsOf(summary.config, summary.dataOrder.sampleCount),
      // History points carry the completed step count (AdamW's t after the update), as progress does.
      losses: summary.metricHistory.map(({ step, loss }) => ({ step, loss })),
    };
  }

  /** Starts a new run (replacing the stored run of this dataset and model) and trains until done or paused. */
  async startTraining(settings: TrainingSettings, onProgress?: (progress: TrainingProgress) => void, onCheckpoint?: (summary: CheckpointSummary) => void): Promise<TrainingOutcome> {
    this.ready();
    const { config, samples } = this.checkStart(settings);
    if (this.training) throw new TrainingInputError('Training is already running.');
    await this.stopRun();
    const { runId, fingerprint } = await this.identity();
    const store = await this.host.checkpoints();
    await store.deleteRun(runId);
    this.run = TrainingRun.start(this.runOptions(runId, fingerprint, samples, store), config);
    return this.train(onProgress, onCheckpoint);
  }

  /** Continues the run paused in this session, or the stored checkpoint (after a reload or in a new process). */
  async resumeTraining(onProgress?: (progress: TrainingProgress) => void, onCheckpoint?: (summary: CheckpointSummary) => void): Promise<TrainingOutcome> {
    this.ready();
    // The run paused here continues as it is, unless the dataset changed since (it is another run).
    if (this.run && !this.run.finished && !this.training && this.run.runId === (await this.identity()).runId) return this.train(onProgress, onCheckpoint);
    const summary = await this.checkResume();
    if (this.training) throw new TrainingInputError('Training is already running.');
    const store = await this.host.checkpoints();
    const checkpoint: Checkpoint | null = await store.latest(summary.runId, summary.datasetFingerprint);
    if (!checkpoint) throw new TrainingInputError('The saved run is gone; start training instead.');
    await this.stopRun();
    const { runId, fingerprint } = await this.identity();
    this.run = TrainingRun.resume(this.runOptions(runId, fingerprint, this.trainSamples(checkpoint.dataOrder.sampleCount), store), checkpoint);
    return this.train(onProgress, onCheckpoint);
  }

  /** Stops after the step in progress; the training call then resolves 'paused' with a checkpoint saved. */
  async pauseTraining(): Promise<void> {
    this.run?.pause();
  }

  /** The trained LoRA adapters as a safetensors file. */
  async exportAdapter(): Promise<Uint8Array> {
    if (!this.run) throw new TrainingInputError('Nothing has been trained yet: train (or resume) a run first.');
    if (this.training) throw new TrainingInputError('Training is running: pause it (or let it finish) before downloading the adapter.');
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
    if (!this.run) return;
    this.run.pause();
    await this.training?.catch(() => {});
    this.run.dispose();
    this.run = undefined;
  }

  private async unloadModel(): Promise<void> {
    if (this.training) throw new TrainingInputError('Training is running: pause it before loading another model.');
    await this.stopRun();
    this.features = undefined;
    this.model?.dispose();
    this.model = undefined;
    if (this.opened && !this.opened.model.weightsFile.stream.locked) await this.opened.model.weightsFile.stream.cancel();
    this.opened = undefined;
  }

  /** A run is named by its data and its model, so a reloaded page finds its checkpoint again. */
  private async identity(): Promise<{ runId: string; fingerprint: string }> {
    const { dataset } = this.requireDataset();
    const fingerprint = await datasetFingerprint(dataset);
    return { runId: `${fingerprint.slice(0, 16)}:${this.modelParts().revision.id}`, fingerprint };
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
