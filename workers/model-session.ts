// The worker's model half: the loaded Moondream, the image-feature cache over the loaded dataset,
// evaluation, and the training run with its IndexedDB checkpoints. One run per (dataset, model):
// its id is derived from both, so a reloaded page finds its checkpoint again.
import { transfer } from 'comlink';
import type { CountingDataset, DatasetSource, SplitName } from '../src/dataset/types.ts';
import type { GpuContext } from '../src/gpu/device.ts';
import { Engine } from '../src/gpu/engine.ts';
import { parseHubLocation } from '../src/model/hub.ts';
import { loadMoondream, type Moondream } from '../src/model/moondream.ts';
import type { ModelFiles } from '../src/model/model-source.ts';
import { requestPersistentStorage } from '../src/model/weight-cache.ts';
import { CheckpointStore, type Checkpoint } from '../src/train/checkpoint-store.ts';
import { totalOptimizerSteps, trainingConfig, type TrainingConfig } from '../src/train/config.ts';
import { datasetFingerprint } from '../src/train/dataset-fingerprint.ts';
import { datasetImageEmbeddings, splitSamples } from '../src/train/dataset-samples.ts';
import { evaluateSamples } from '../src/train/evaluate.ts';
import { ImageFeatureCache } from '../src/train/feature-cache.ts';
import { TrainingRun, type TrainingProgress, type TrainingRunOptions } from '../src/train/trainer.ts';
import { cachedHubModelFiles, pickedModelFiles, servedModelFiles } from './model-files.ts';
import type {
  EvaluationResult,
  ModelLoadProgress,
  ModelSource,
  ModelSummary,
  ResumeOffer,
  TrainingOutcome,
  TrainingSettings,
  TrainingUpdate,
} from './session-api.ts';

/** Full fine-tuning keeps weights, gradients and two AdamW moments in f32: 16 bytes a parameter. */
const FULL_FINE_TUNE_MAX_PARAMETERS = 50_000_000;
/** Tokens an answer may run past the longest expected answer before evaluation stops it. */
const EVAL_SPARE_TOKENS = 8;
/** Progress messages cross a thread; a few per second are plenty. */
const PROGRESS_INTERVAL_MS = 100;

/** What the session knows about the dataset the page loaded. */
export interface LoadedDataset {
  dataset: CountingDataset;
  source: DatasetSource;
}

function modelFiles(source: ModelSource, onProgress: (progress: ModelLoadProgress) => void, onWarning: (message: string) => void): ModelFiles {
  switch (source.kind) {
    case 'demo':
      return servedModelFiles('demo-model', source.baseUrl);
    case 'files':
      return pickedModelFiles(source.files);
    case 'hub':
      return cachedHubModelFiles(
        { ...parseHubLocation(`${source.repo}@${source.revision}`), origin: source.origin },
        (download) => onProgress({ stage: 'download', file: download.file, doneBytes: download.doneBytes, totalBytes: download.totalBytes, cachedBytes: download.cachedBytes, bytesPerSecond: download.bytesPerSecond, etaSeconds: download.etaSeconds }),
        onWarning,
      );
  }
}

function settingsOf(config: TrainingConfig, trainLimit: number | undefined): TrainingSettings {
  const { fullFineTune, loraRank, loraAlpha, learningRate, epochs, batchSize, gradientAccumulation, evalMaxTokens } = config;
  return { fullFineTune, loraRank, loraAlpha, learningRate, epochs, batchSize, gradientAccumulation, evalMaxTokens, trainLimit };
}

export class ModelSession {
  private engine: Engine | undefined;
  private model: Moondream | undefined;
  private isDemo = false;
  private features: ImageFeatureCache | undefined;
  private featuresFor: CountingDataset | undefined;
  private run: TrainingRun | undefined;
  private store: Promise<CheckpointStore> | undefined;
  private lostMessage: string | undefined;
  private readonly lostListeners = new Set<(message: string) => void>();

  constructor(
    private readonly gpu: () => Promise<GpuContext>,
    private readonly loadedDataset: () => LoadedDataset | undefined,
  ) {}

  async watchDevice(listener: (message: string) => void): Promise<void> {
    if (this.lostMessage) listener(this.lostMessage);
    else this.lostListeners.add(listener);
  }

  async loadModel(source: ModelSource, onProgress?: (progress: ModelLoadProgress) => void): Promise<ModelSummary> {
    const engine = await this.ensureEngine();
    this.unloadModel();
    const report = throttled(onProgress);
    if (source.kind === 'hub') {
      // Ask before the first byte: a 4 GB cache the browser may evict is a download wasted.
      await requestPersistentStorage();
    }
    const files = modelFiles(source, report, () => {});
    const model = await loadMoondream(engine, files, {
      onProgress: (progress) =>
        report({ stage: 'weights', file: 'model.safetensors', doneBytes: progress.bytesDone, totalBytes: progress.bytesTotal, cachedBytes: 0, bytesPerSecond: progress.bytesPerSecond, etaSeconds: progress.etaSeconds }),
    });
    this.model = model;
    this.isDemo = source.kind === 'demo';
    return this.summary(model);
  }

  async evaluate(split: string, limit: number | undefined, maxTokens: number, onProgress?: (done: number, total: number) => void): Promise<EvaluationResult> {
    const { model, dataset, features } = await this.ready();
    if (this.run && (await this.isTraining())) throw new Error('Training is running: pause it before measuring accuracy.');
    const samples = splitSamples(dataset, split as SplitName).slice(0, limit);
    if (samples.length === 0) throw new Error(`The ${split} split has no images to measure on; load a dataset with ${split} images.`);
    const started = performance.now();
    // An answer more than a few tokens longer than the longest expected one cannot match exactly;
    // stopping there keeps a measurement of an untrained model from decoding noise to the limit.
    const longestAnswer = Math.max(...samples.map((sample) => model.tokenizer.encode(sample.answer).length));
    const answerTokens = Math.min(maxTokens, longestAnswer + EVAL_SPARE_TOKENS);
    const report = await evaluateSamples(model, features, samples, dataset.classes.map((datasetClass) => datasetClass.name), { maxTokens: answerTokens, onProgress, lora: this.run?.adapters });
    const questions = new Map(samples.map((sample) => [sample.imagePath, sample.question]));
    return {
      split,
      samples: report.samples,
      exactMatches: report.exactMatches,
      exactMatchAccuracy: report.exactMatchAccuracy,
      parseableFraction: report.parseableFraction,
      meanAbsoluteCountError: report.meanAbsoluteCountError,
      perClassAccuracy: report.perClassAccuracy,
      rows: report.results.map((result) => ({ path: result.path, question: questions.get(result.path) ?? '', expected: result.expected, answer: result.predicted, exactMatch: result.exactMatch })),
      seconds: (performance.now() - started) / 1000,
    };
  }

  async findCheckpoint(): Promise<ResumeOffer | null> {
    const { runId, fingerprint } = await this.runIdentity();
    const summary = (await (await this.checkpoints()).list(runId)).at(-1);
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

  async startTraining(settings: TrainingSettings, onProgress?: (update: TrainingUpdate) => void): Promise<TrainingOutcome> {
    const { model } = await this.ready();
    if (settings.fullFineTune && !this.summary(model).fullFineTuneAllowed) {
      throw new Error(`This model is too large to fine-tune every weight in a browser; train LoRA adapters instead.`);
    }
    await this.stopRun();
    const { trainLimit, ...fields } = settings;
    const config = trainingConfig({ ...fields, checkpointInterval: 1 });
    const options = await this.runOptions(trainLimit, onProgress);
    await (await this.checkpoints()).deleteRun(options.runId);
    this.run = TrainingRun.start(options, config);
    return this.train();
  }

  async resumeTraining(onProgress?: (update: TrainingUpdate) => void): Promise<TrainingOutcome> {
    if (this.run && !this.run.finished) {
      this.progressListener = onProgress;
      return this.train();
    }
    await this.ready();
    const { runId, fingerprint } = await this.runIdentity();
    const checkpoint: Checkpoint | null = await (await this.checkpoints()).latest(runId, fingerprint);
    if (!checkpoint) throw new Error('There is no saved run for this dataset and model to resume; start training instead.');
    await this.stopRun();
    this.run = TrainingRun.resume(await this.runOptions(checkpoint.dataOrder.sampleCount, onProgress), checkpoint);
    return this.train();
  }

  async pauseTraining(): Promise<void> {
    this.run?.pause();
  }

  async exportAdapter(): Promise<Uint8Array> {
    if (!this.run) throw new Error('Nothing has been trained yet: train (or resume) a run first.');
    if (await this.isTraining()) throw new Error('Training is running: pause it (or let it finish) before downloading the adapter.');
    const bytes = await this.run.exportAdapterFile();
    return transfer(bytes, [bytes.buffer]);
  }

  /** The dataset changed: image features of the old one are useless. */
  datasetChanged(): void {
    this.features = undefined;
    this.featuresFor = undefined;
  }

  // ---- internals ----

  private training: Promise<TrainingOutcome> | undefined;
  private progressListener: ((update: TrainingUpdate) => void) | undefined;

  private async isTraining(): Promise<boolean> {
    return this.training !== undefined;
  }

  private async train(): Promise<TrainingOutcome> {
    const run = this.run!;
    if (this.training) throw new Error('Training is already running.');
    this.training = run.run().finally(() => {
      this.training = undefined;
    });
    return this.training;
  }

  private async stopRun(): Promise<void> {
    if (!this.run) return;
    this.run.pause();
    await this.training?.catch(() => {});
    this.run.dispose();
    this.run = undefined;
  }

  private async runOptions(trainLimit: number | undefined, onProgress?: (update: TrainingUpdate) => void): Promise<TrainingRunOptions> {
    const { model, dataset, features } = await this.ready();
    const samples = splitSamples(dataset, 'train').slice(0, trainLimit);
    if (samples.length === 0) throw new Error('The dataset has no train images; load a dataset with a train split to fine-tune on.');
    const { runId, fingerprint } = await this.runIdentity();
    this.progressListener = onProgress;
    return {
      runId,
      model,
      samples,
      features,
      datasetFingerprint: fingerprint,
      store: await this.checkpoints(),
      onProgress: (progress: TrainingProgress) => {
        const { step, totalSteps, loss, learningRate, tokensPerSecond, etaSeconds } = progress;
        void this.progressListener?.({ step, totalSteps, loss, learningRate, tokensPerSecond, etaSeconds });
      },
    };
  }

  private async runIdentity(): Promise<{ runId: string; fingerprint: string }> {
    const { model, dataset } = await this.ready();
    const fingerprint = await datasetFingerprint(dataset);
    return { runId: `${fingerprint.slice(0, 16)}:${model.revision.id}`, fingerprint };
  }

  private checkpoints(): Promise<CheckpointStore> {
    this.store ??= CheckpointStore.open();
    return this.store;
  }

  private async ready(): Promise<{ model: Moondream; dataset: CountingDataset; features: ImageFeatureCache }> {
    if (this.lostMessage) throw new Error(this.lostMessage);
    const model = this.model;
    if (!model) throw new Error('No model is loaded yet: choose a model and load it first.');
    const loaded = this.loadedDataset();
    if (!loaded) throw new Error('No dataset is loaded: load a dataset in step 1 first.');
    if (!this.features || this.featuresFor !== loaded.dataset) {
      this.features = new ImageFeatureCache(model.engine, datasetImageEmbeddings(model.engine, model.vision, loaded.source, loaded.dataset));
      this.featuresFor = loaded.dataset;
    }
    return { model, dataset: loaded.dataset, features: this.features };
  }

  private async ensureEngine(): Promise<Engine> {
    if (this.lostMessage) throw new Error(this.lostMessage);
    if (this.engine) return this.engine;
    const context = await this.gpu();
    void context.lost.then((message) => {
      this.lostMessage = message;
      for (const listener of this.lostListeners) void listener(message);
    });
    this.engine = new Engine(context);
    return this.engine;
  }

  private unloadModel(): void {
    this.run?.pause();
    if (this.training) throw new Error('Training is running: pause it before loading another model.');
    this.run?.dispose();
    this.run = undefined;
    this.features = undefined;
    this.featuresFor = undefined;
    this.model?.dispose();
    this.model = undefined;
  }

  private summary(model: Moondream): ModelSummary {
    let parameters = 0;
    const dtypes = new Set<string>();
    for (const parts of model.weights.parts.values()) {
      for (const part of parts) {
        parameters += part.tensor.shape.reduce((product, size) => product * size, 1);
        dtypes.add(part.tensor.dtype);
      }
    }
    return {
      revision: model.revision.id,
      description: model.revision.description,
      parameters,
      gpuBytes: model.gpuBytes,
      precision: [...dtypes].sort().join(' + '),
      fullFineTuneAllowed: parameters <= FULL_FINE_TUNE_MAX_PARAMETERS,
      isDemo: this.isDemo,
    };
  }
}

/** Forwards the first report, at most one per interval, and every report that completes a file. */
function throttled(onProgress: ((progress: ModelLoadProgress) => void) | undefined): (progress: ModelLoadProgress) => void {
  let lastSent = -Infinity;
  return (progress) => {
    if (!onProgress) return;
    const now = performance.now();
    const complete = progress.totalBytes !== undefined && progress.doneBytes >= progress.totalBytes;
    if (!complete && now - lastSent < PROGRESS_INTERVAL_MS) return;
    lastSent = now;
    void onProgress({ ...progress });
  };
}
