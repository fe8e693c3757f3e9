// The worker's one session, exposed through comlink (trainer.worker.ts). The model, measuring and
// training are src/train/session.ts's TrainingSession, inherited as they are; this file adds only
// what is the browser's: the dataset upload (so the page never freezes while a zip is parsed, and
// can browse images and rebuild questions without sending the upload again), the one GPU device
// per worker, the IndexedDB checkpoint store, the model sources of the page, and throttling of
// progress messages.
import { transfer } from 'comlink';
import { buildQuestion, hasErrors, loadDataset, readImageBytes } from '../src/dataset/load.ts';
import { acquireBrowserDevice, type GpuContext } from '../src/gpu/device.ts';
import { Engine } from '../src/gpu/engine.ts';
import type { CountingDataset, DatasetSource, LoadProgress, QuestionTemplate, SourceFile } from '../src/dataset/types.ts';
import { parseHubLocation } from '../src/model/hub.ts';
import type { ModelFiles } from '../src/model/model-source.ts';
import { requestPersistentStorage } from '../src/model/weight-cache.ts';
import { IndexedDbCheckpointStore } from '../src/train/checkpoint-idb.ts';
import { IndexedDbRunLog } from '../src/train/run-log-idb.ts';
import { TrainingSession } from '../src/train/session.ts';
import { cachedHubModelFiles, pickedModelFiles, servedModelFiles } from './model-files.ts';
import { throttled } from './progress-throttle.ts';
import type { ModelLoadProgress, ModelSource, ModelSummary, TrainerSessionApi, UploadSource, WebGpuReport } from './session-api.ts';

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

function modelFiles(source: ModelSource, onProgress: (progress: ModelLoadProgress) => void, onWarning: (message: string) => void): ModelFiles {
  switch (source.kind) {
    case 'demo':
      return servedModelFiles('demo-model', source.baseUrl);
    case 'files':
      return pickedModelFiles(source.files);
    case 'hub':
      return cachedHubModelFiles(
        { ...parseHubLocation(`${source.repo}@${source.revision}`), origin: source.origin },
        ({ file, doneBytes, totalBytes, cachedBytes, bytesPerSecond, etaSeconds }) => onProgress({ stage: 'download', file, doneBytes, totalBytes, cachedBytes, bytesPerSecond, etaSeconds }),
        onWarning,
      );
  }
}

/** How the runs table names a model. */
function modelName(source: ModelSource): string {
  switch (source.kind) {
    case 'demo':
      return 'demo model';
    case 'hub':
      return `${source.repo}@${source.revision}`;
    case 'files':
      return source.files.find((file) => file.path.endsWith('.safetensors'))?.path ?? 'model files';
  }
}

/** One GPU device per worker, shared by the WebGPU report and the engine. */
class WorkerGpu {
  private context: Promise<GpuContext> | undefined;
  private engineInstance: Promise<Engine> | undefined;

  device(): Promise<GpuContext> {
    this.context ??= acquireBrowserDevice();
    // A failed request may be retried by the next call (e.g. after closing other GPU tabs).
    this.context.catch(() => (this.context = undefined));
    return this.context;
  }

  engine(): Promise<Engine> {
    this.engineInstance ??= this.device().then((context) => new Engine(context));
    this.engineInstance.catch(() => (this.engineInstance = undefined));
    return this.engineInstance;
  }
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

export class TrainerSession extends TrainingSession implements TrainerSessionApi {
  private source: DatasetSource | undefined;
  private dataset: CountingDataset | undefined;
  private webgpu: Promise<WebGpuReport> | undefined;
  /** Counts loads: when two overlap, the one asked for last is kept, as the page keeps it. */
  private loadNumber = 0;

  constructor(private readonly gpu = new WorkerGpu()) {
    let store: Promise<IndexedDbCheckpointStore> | undefined;
    let runLog: Promise<IndexedDbRunLog> | undefined;
    super({ engine: () => gpu.engine(), checkpoints: () => (store ??= IndexedDbCheckpointStore.open()), runLog: () => (runLog ??= IndexedDbRunLog.open()) });
  }

  async loadDataset(upload: UploadSource, question?: Partial<QuestionTemplate>, onProgress?: (progress: LoadProgress) => void): Promise<CountingDataset> {
    const thisLoad = ++this.loadNumber;
    const source = await toDatasetSource(upload);
    const report = throttled(onProgress, (progress, previous) => progress.stage !== previous?.stage || progress.done >= progress.total);
    const dataset = await loadDataset(source, { question, onProgress: report });
    // A dataset with errors is reported, not loaded: the one loaded before stays, as on the page.
    if (thisLoad === this.loadNumber && !hasErrors(dataset)) this.keepDataset(source, dataset);
    return dataset;
  }

  async rebuildQuestions(question: Partial<QuestionTemplate>): Promise<CountingDataset> {
    const { source, dataset } = this;
    if (!source || !dataset) throw new Error('No dataset is loaded yet: load one before editing its question.');
    // The question depends only on the class names and the template; answers and boxes stay.
    const template = { ...dataset.question, ...question };
    const text = buildQuestion(dataset.classes.map((datasetClass) => datasetClass.name), template);
    this.keepDataset(source, { ...dataset, question: template, images: dataset.images.map((image) => ({ ...image, question: text })) });
    return this.dataset!;
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
    this.webgpu ??= probeWebGpu(this.gpu.device());
    return this.webgpu;
  }

  async loadModel(source: ModelSource, onProgress?: (progress: ModelLoadProgress) => void, onWarning?: (message: string) => void): Promise<ModelSummary> {
    const report = throttled(onProgress, (progress, previous) => progress.file !== previous?.file || (progress.totalBytes !== undefined && progress.doneBytes >= progress.totalBytes));
    // Ask before the first byte: a 4 GB cache the browser may evict is a download wasted.
    if (source.kind === 'hub') await requestPersistentStorage();
    const files = modelFiles(source, report, (message) => void onWarning?.(message));
    return this.loadModelFiles(files, { isDemo: source.kind === 'demo', name: modelName(source), onProgress: report });
  }

  override async exportAdapter(): Promise<Uint8Array> {
    const bytes = await super.exportAdapter();
    return transfer(bytes, [bytes.buffer]);
  }

  private keepDataset(source: DatasetSource, dataset: CountingDataset): void {
    this.source = source;
    this.dataset = dataset;
    this.setDataset(source, dataset);
  }
}
