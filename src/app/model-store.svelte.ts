// Page state for step 3: the model, the two accuracy measurements, and the training run. The
// worker does all the work (its training session decides what is measured and what a run
// checks); this store asks, records what comes back, and turns failures into messages. A failure
// never clears what is already done (results, curve, checkpoints).
import { proxy } from 'comlink';
import type {
  AnswerDecoding,
  EvaluationResult,
  ModelLoadProgress,
  ModelSource,
  ModelSummary,
  ResumeOffer,
  TrainingProgress,
  TrainingSettings,
} from '../../workers/session-api.ts';
import { onWorkerCrash, trainerSession } from './session-client.ts';
import { fileNamePart, saveFile } from './download.ts';
import { learningRateForStep } from '../train/schedule.ts';

export type ModelState = 'none' | 'loading' | 'ready' | 'failed';
export type TrainingState = 'idle' | 'training' | 'pausing' | 'paused' | 'finished' | 'failed';
export type Measurement = 'before' | 'after';

/** Served from public/demo-model/ next to the page. */
export const DEMO_MODEL_PATH = './demo-model/';
export const DEFAULT_HUB_MODEL = 'vikhyatk/moondream2@2025-06-21';

/** A point of the loss curve (steps whose samples were all skipped have none), with the step's learning rate. */
export interface LossPoint {
  step: number;
  loss: number;
  learningRate: number;
}

function lossPoints(points: { step: number; loss: number | null; learningRate: number }[]): LossPoint[] {
  return points.filter((point): point is LossPoint => point.loss !== null);
}

/** A stored run's curve: its checkpoint keeps the losses; the rates follow from its schedule. */
function storedLossPoints(offer: ResumeOffer): LossPoint[] {
  return lossPoints(offer.losses.map((point) => ({ ...point, learningRate: learningRateForStep(point.step - 1, offer.totalSteps, offer.settings.learningRate) })));
}

class ModelStore {
  state = $state<ModelState>('none');
  progress = $state.raw<ModelLoadProgress | undefined>();
  summary = $state.raw<ModelSummary | undefined>();
  failure = $state<string | undefined>();
  /** What was asked to load, for the status line. */
  sourceName = $state('');
  /** What did not stop the load but should be known (e.g. a download that could not be cached). */
  warnings = $state.raw<string[]>([]);

  evaluating = $state<Measurement | undefined>();
  evaluationProgress = $state<{ done: number; total: number } | undefined>();
  results = $state.raw<Partial<Record<Measurement, EvaluationResult>>>({});
  evaluationFailure = $state<string | undefined>();
  /** Why an export (the trained model, the dataset) failed, if it did. */
  exportFailure = $state<string | undefined>();
  /** Bytes of the base model read so far while the trained model file is written. */
  modelExportProgress = $state.raw<{ doneBytes: number; totalBytes: number | undefined } | undefined>();

  training = $state<TrainingState>('idle');
  update = $state.raw<TrainingProgress | undefined>();
  losses = $state.raw<LossPoint[]>([]);
  trainingFailure = $state<string | undefined>();
  /** A stored checkpoint for this dataset and model, offered after a load or reload. */
  resumeOffer = $state.raw<ResumeOffer | undefined>();
  /**
   * Whether the worker's model carries this run's trained weights (a run trained or resumed since
   * the model loaded). A checkpoint found after a reload is not on the model until resumed.
   */
  trainedWeightsLoaded = $state(false);
  /** Set once the GPU device is lost: nothing more can run until a reload. */
  deviceLost = $state<string | undefined>();

  private loadNumber = 0;
  private watching = false;

  constructor() {
    onWorkerCrash((message) => {
      // A new worker has no model: it must be loaded again. Checkpoints stay in IndexedDB.
      this.loadNumber++;
      if (this.state !== 'none') {
        this.state = 'failed';
        this.failure = `${message} Load the model again; saved training checkpoints are kept.`;
      }
      this.summary = undefined;
      this.evaluating = undefined;
      this.trainedWeightsLoaded = false;
      if (this.training === 'training' || this.training === 'pausing') this.training = 'paused';
      this.watching = false;
    });
  }

  /** Something is running, or the GPU is gone (then only a reload helps): no new work may start. */
  get blocked(): boolean {
    return this.deviceLost !== undefined || this.state === 'loading' || this.evaluating !== undefined || this.training === 'training' || this.training === 'pausing';
  }

  async load(source: ModelSource, name: string): Promise<void> {
    const thisLoad = ++this.loadNumber;
    this.state = 'loading';
    this.sourceName = name;
    this.progress = undefined;
    this.failure = undefined;
    this.warnings = [];
    this.summary = undefined;
    this.results = {};
    this.losses = [];
    this.update = undefined;
    this.training = 'idle';
    this.resumeOffer = undefined;
    this.trainedWeightsLoaded = false;
    this.watchDevice();
    const onProgress = proxy((progress: ModelLoadProgress) => {
      if (thisLoad !== this.loadNumber) return;
      // The weights go to the GPU as they download: while the download runs it is the slower
      // half, and the one whose bytes, rate and time left the line shows.
      const shown = this.progress;
      const downloading = shown?.stage === 'download' && shown.file === progress.file && (shown.totalBytes === undefined || shown.doneBytes < shown.totalBytes);
      if (progress.stage === 'weights' && downloading) return;
      this.progress = progress;
    });
    const onWarning = proxy((message: string) => {
      if (thisLoad === this.loadNumber) this.warnings = [...this.warnings, message];
    });
    try {
      const summary = await trainerSession().loadModel(source, onProgress, onWarning);
      if (thisLoad !== this.loadNumber) return;
      this.summary = summary;
      this.state = 'ready';
      await this.checkForCheckpoint();
    } catch (error) {
      if (thisLoad !== this.loadNumber) return;
      this.failure = messageOf(error);
      this.state = 'failed';
    }
  }

  loadDemo(): Promise<void> {
    // Absolute, because the worker resolves relative URLs against its own script's location.
    return this.load({ kind: 'demo', baseUrl: new URL(DEMO_MODEL_PATH, document.baseURI).href }, 'demo model');
  }

  /** Looks for a checkpoint of the loaded dataset and model (after a model load, or a dataset change). */
  async checkForCheckpoint(): Promise<void> {
    if (this.state !== 'ready') return;
    try {
      const offer = await trainerSession().findCheckpoint();
      this.resumeOffer = offer ?? undefined;
      if (offer && this.losses.length === 0) {
        this.losses = storedLossPoints(offer);
        this.training = offer.step >= offer.totalSteps ? 'finished' : 'paused';
        this.update = undefined;
      }
    } catch (error) {
      this.trainingFailure = `Could not look for saved checkpoints: ${messageOf(error)}`;
    }
  }

  /**
   * A stored run was deleted. When it is the run the page shows (on the model, or offered to
   * resume), its curve and state go; another stored run of this dataset and model may be offered.
   */
  async runDeleted(runId: string, held: boolean): Promise<void> {
    if (!held && this.resumeOffer?.runId !== runId) return;
    this.resumeOffer = undefined;
    this.losses = [];
    this.update = undefined;
    this.training = 'idle';
    if (held) this.trainedWeightsLoaded = false;
    await this.checkForCheckpoint();
  }

  async measure(which: Measurement, limit: number | undefined, maxTokens: number, decoding: AnswerDecoding = 'free'): Promise<void> {
    this.evaluating = which;
    this.evaluationProgress = undefined;
    this.evaluationFailure = undefined;
    const onProgress = proxy((done: number, total: number) => {
      this.evaluationProgress = { done, total };
    });
    try {
      const result = await trainerSession().measure(limit, maxTokens, onProgress, decoding === 'counts' ? { constrain: 'counts' } : {});
      this.results = { ...this.results, [which]: result };
    } catch (error) {
      this.evaluationFailure = messageOf(error);
    } finally {
      this.evaluating = undefined;
    }
  }

  async startTraining(settings: TrainingSettings): Promise<void> {
    this.losses = [];
    this.update = undefined;
    this.resumeOffer = undefined;
    await this.train(() => trainerSession().startTraining(settings, this.progressProxy()));
  }

  async resumeTraining(): Promise<void> {
    await this.train(() => trainerSession().resumeTraining(this.progressProxy()));
  }

  async pauseTraining(): Promise<void> {
    if (this.training !== 'training') return;
    this.training = 'pausing';
    await trainerSession().pauseTraining();
  }

  /** The adapter as a file download (a Blob URL clicked once). */
  async downloadAdapter(): Promise<void> {
    try {
      const bytes = await trainerSession().exportAdapter();
      saveFile(`moontune-adapter-${this.summary ? fileNamePart(this.summary.revision) : 'model'}.safetensors`, bytes, 'application/octet-stream');
    } catch (error) {
      this.trainingFailure = messageOf(error);
    }
  }

  async downloadPeftAdapter(): Promise<void> {
    try {
      const bytes = await trainerSession().exportPeftAdapterZip();
      saveFile(`moontune-peft-adapter-${this.summary ? fileNamePart(this.summary.revision) : 'model'}.zip`, bytes, 'application/zip');
    } catch (error) {
      this.trainingFailure = messageOf(error);
    }
  }

  /** The trained model as one model.safetensors, read again from the model's files with the training applied. */
  async downloadTrainedModel(): Promise<void> {
    this.exportFailure = undefined;
    this.modelExportProgress = { doneBytes: 0, totalBytes: undefined };
    const onProgress = proxy((doneBytes: number, totalBytes: number | undefined) => {
      this.modelExportProgress = { doneBytes, totalBytes };
    });
    try {
      const file = await trainerSession().exportTrainedModel(onProgress);
      saveFile(`moontune-trained-${this.summary ? fileNamePart(this.summary.revision) : 'model'}.safetensors`, file, 'application/octet-stream');
    } catch (error) {
      this.exportFailure = messageOf(error);
    } finally {
      this.modelExportProgress = undefined;
    }
  }

  /** The converted dataset (JSONL per split and the images) for training elsewhere. */
  async downloadDataset(name: string): Promise<void> {
    this.exportFailure = undefined;
    try {
      saveFile(`${fileNamePart(name.replace(/\.zip$/i, ''))}-moontune-dataset.zip`, await trainerSession().exportDatasetZip(), 'application/zip');
    } catch (error) {
      this.exportFailure = messageOf(error);
    }
  }

  private progressProxy() {
    return proxy((update: TrainingProgress) => {
      this.update = update;
      this.losses = lossPoints([...this.losses.filter((point) => point.step < update.step), { step: update.step, loss: update.loss, learningRate: update.learningRate }]);
    });
  }

  private async train(call: () => Promise<'finished' | 'paused'>): Promise<void> {
    this.training = 'training';
    this.trainingFailure = undefined;
    this.trainedWeightsLoaded = true;
    try {
      this.training = await call();
      if (this.training === 'paused') await this.checkForCheckpoint();
      else this.resumeOffer = undefined;
    } catch (error) {
      this.trainingFailure = `${messageOf(error)} Steps already saved in a checkpoint are kept: resume to continue from them.`;
      this.training = 'failed';
      await this.checkForCheckpoint();
    }
  }

  private watchDevice(): void {
    if (this.watching) return;
    this.watching = true;
    void trainerSession().watchDevice(
      proxy((message: string) => {
        // Nothing on the GPU survives; the checkpoints in IndexedDB do.
        this.deviceLost = /reload/i.test(message) ? message : `${message} Reload the page to continue; saved training checkpoints are kept.`;
      }),
    );
  }
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

export const modelStore = new ModelStore();
