// The worker's one session: holds the loaded dataset's source so the page can browse images
// and rebuild questions without sending the upload again. Runs in a dedicated worker (so the
// page never freezes while a zip is parsed); the model, evaluation and training run here too
// (model-session.ts).
import { transfer } from 'comlink';
import { buildQuestion, hasErrors, loadDataset, readImageBytes } from '../src/dataset/load.ts';
import { acquireBrowserDevice, type GpuContext } from '../src/gpu/device.ts';
import type { CountingDataset, DatasetSource, LoadProgress, QuestionTemplate, SourceFile } from '../src/dataset/types.ts';
import { ModelSession } from './model-session.ts';
import type {
  EvaluationResult,
  ModelLoadProgress,
  ModelSource,
  ModelSummary,
  ResumeOffer,
  TrainerSessionApi,
  TrainingOutcome,
  TrainingSettings,
  TrainingUpdate,
  UploadSource,
  WebGpuReport,
} from './session-api.ts';

/** Progress messages cross a thread; a few per second are plenty for a progress bar. */
const PROGRESS_INTERVAL_MS = 50;

async function toDatasetSource(upload: UploadSource): Promise<DatasetSource> {
  switch (upload.kind) {
    case 'zip':
      return { kind: 'zip', name: upload.name, data: new Uint8Array(await upload.blob.arrayBuffer()) };
    case 'files':
      return {
        kind: 'files',
        name: upload.name,
        files: upload.files.map(
          ({ path, blob }): SourceFile => ({
            path,
            size: blob.size,
            read: async () => new Uint8Array(await blob.arrayBuffer()),
          }),
        ),
      };
    case 'url': {
      let response: Response;
      try {
        response = await fetch(upload.url);
      } catch (error) {
        throw new Error(`Could not download ${upload.url} (${(error as Error).message}). Check that the page's server is still running, then try again.`);
      }
      if (!response.ok) {
        throw new Error(`Could not download ${upload.url} (HTTP ${response.status}). Rebuild the page with \`npm start\`, or load your own dataset below.`);
      }
      return { kind: 'zip', name: upload.name, data: new Uint8Array(await response.arrayBuffer()) };
    }
  }
}

/** Forwards a stage's first and last reports and at most one per interval in between. */
function throttled(onProgress: (progress: LoadProgress) => void): (progress: LoadProgress) => void {
  let lastSent = 0;
  let lastStage = '';
  return (progress) => {
    const now = performance.now();
    const isStageEdge = progress.stage !== lastStage || progress.done >= progress.total;
    if (!isStageEdge && now - lastSent < PROGRESS_INTERVAL_MS) return;
    lastSent = now;
    lastStage = progress.stage;
    void onProgress({ ...progress });
  };
}

async function probeWebGpu(gpu: Promise<GpuContext>): Promise<WebGpuReport> {
  try {
    const context = await gpu;
    const { limits } = context.device;
    return {
      available: true,
      adapter: {
        ...context.adapterInfo,
        hasF16: context.hasF16,
        hasSubgroups: context.hasSubgroups,
        maxBufferSize: limits.maxBufferSize,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      },
    };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

export class TrainerSession implements TrainerSessionApi {
  private source: DatasetSource | undefined;
  private dataset: CountingDataset | undefined;
  private webgpu: Promise<WebGpuReport> | undefined;
  /** One device per worker, shared by the WebGPU report and the engine. */
  private gpu: Promise<GpuContext> | undefined;
  private readonly model = new ModelSession(
    () => this.device(),
    () => (this.source && this.dataset ? { source: this.source, dataset: this.dataset } : undefined),
  );
  /** Counts loads: when two overlap, the one asked for last is kept, as the page keeps it. */
  private loadNumber = 0;

  async loadDataset(
    upload: UploadSource,
    question?: Partial<QuestionTemplate>,
    onProgress?: (progress: LoadProgress) => void,
  ): Promise<CountingDataset> {
    const thisLoad = ++this.loadNumber;
    const source = await toDatasetSource(upload);
    const dataset = await loadDataset(source, { question, onProgress: onProgress && throttled(onProgress) });
    // A dataset with errors is reported, not loaded: the one loaded before stays, as on the page.
    if (thisLoad === this.loadNumber && !hasErrors(dataset)) {
      this.source = source;
      this.dataset = dataset;
      this.model.datasetChanged();
    }
    return dataset;
  }

  async rebuildQuestions(question: Partial<QuestionTemplate>): Promise<CountingDataset> {
    const dataset = this.dataset;
    if (!dataset) throw new Error('No dataset is loaded yet: load one before editing its question.');
    // The question depends only on the class names and the template; answers and boxes stay.
    const template = { ...dataset.question, ...question };
    const text = buildQuestion(dataset.classes.map((datasetClass) => datasetClass.name), template);
    this.dataset = { ...dataset, question: template, images: dataset.images.map((image) => ({ ...image, question: text })) };
    return this.dataset;
  }

  async readImage(imageIndex: number): Promise<Uint8Array> {
    const image = this.dataset?.images[imageIndex];
    if (!this.source || !image) throw new Error(`There is no image ${imageIndex} in the loaded dataset.`);
    // A copy of its own, so transferring it never detaches bytes the source still holds.
    const bytes = (await readImageBytes(this.source, image)).slice();
    return transfer(bytes, [bytes.buffer]);
  }

  webgpuReport(): Promise<WebGpuReport> {
    // One probe per worker: the device it opens stays with the worker for the engine.
    this.webgpu ??= probeWebGpu(this.device());
    return this.webgpu;
  }

  private device(): Promise<GpuContext> {
    this.gpu ??= acquireBrowserDevice();
    // A failed request may be retried by the next call (e.g. after closing other GPU tabs).
    this.gpu.catch(() => (this.gpu = undefined));
    return this.gpu;
  }

  loadModel(source: ModelSource, onProgress?: (progress: ModelLoadProgress) => void): Promise<ModelSummary> {
    return this.model.loadModel(source, onProgress);
  }

  evaluate(split: string, limit: number | undefined, maxTokens: number, onProgress?: (done: number, total: number) => void): Promise<EvaluationResult> {
    return this.model.evaluate(split, limit, maxTokens, onProgress);
  }

  findCheckpoint(): Promise<ResumeOffer | null> {
    return this.model.findCheckpoint();
  }

  startTraining(settings: TrainingSettings, onProgress?: (update: TrainingUpdate) => void): Promise<TrainingOutcome> {
    return this.model.startTraining(settings, onProgress);
  }

  resumeTraining(onProgress?: (update: TrainingUpdate) => void): Promise<TrainingOutcome> {
    return this.model.resumeTraining(onProgress);
  }

  pauseTraining(): Promise<void> {
    return this.model.pauseTraining();
  }

  exportAdapter(): Promise<Uint8Array> {
    return this.model.exportAdapter();
  }

  watchDevice(listener: (message: string) => void): Promise<void> {
    return this.model.watchDevice(listener);
  }
}
