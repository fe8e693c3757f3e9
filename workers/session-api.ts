// The trainer worker's API as the page sees it (through comlink's Remote<>). Everything that
// crosses the boundary is structured-clone safe: plain data, Blobs, typed arrays, and
// comlink-proxied callbacks.
import type { CountingDataset, LoadProgress, QuestionTemplate } from '../src/dataset/types.ts';

/** One file of a folder or multi-file upload, as the page hands it over (File is a Blob). */
export interface UploadedFile {
  /** Path relative to the upload root, '/'-separated, e.g. 'train/_annotations.coco.json'. */
  path: string;
  blob: Blob;
}

/**
 * What the page asks the worker to load. A file list can't carry `SourceFile.read()` across
 * the boundary, so the worker rebuilds the dataset half's `DatasetSource` from this.
 */
export type UploadSource =
  /** A zip file: the worker reads the Blob itself, so the page never holds its bytes. */
  | { kind: 'zip'; name: string; blob: Blob }
  | { kind: 'files'; name: string; files: UploadedFile[] }
  /** Fetched by the worker itself (the demo dataset), so the bytes never pass through the page. */
  | { kind: 'url'; name: string; url: string };

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  hasF16: boolean;
  hasSubgroups: boolean;
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export type WebGpuReport = { available: true; adapter: AdapterSummary } | { available: false; reason: string };

export interface TrainerSessionApi extends ModelSessionApi {
  /**
   * Loads a dataset and keeps its source for image reads and question rebuilds. Bad input
   * yields a dataset whose issues carry the errors; only a failed download throws.
   */
  loadDataset(
    upload: UploadSource,
    question?: Partial<QuestionTemplate>,
    onProgress?: (progress: LoadProgress) => void,
  ): Promise<CountingDataset>;
  /** Rebuilds the questions of the loaded dataset with a new template or noun. */
  rebuildQuestions(question: Partial<QuestionTemplate>): Promise<CountingDataset>;
  /** The encoded bytes (PNG/JPEG) of the loaded dataset's image at this index. */
  readImage(imageIndex: number): Promise<Uint8Array>;
  /** Whether WebGPU works inside the worker, where the engine will run. */
  webgpuReport(): Promise<WebGpuReport>;
}

// ---- Model and training (step 3) ----

/** Where the model comes from. */
export type ModelSource =
  /** The tiny untrained demo model served next to the page (public/demo-model/). `baseUrl` is absolute. */
  | { kind: 'demo'; baseUrl: string }
  /** A Hugging Face repository at a revision, through the chunked download cache. */
  | { kind: 'hub'; repo: string; revision: string; /** A hub mirror's origin; default the Hugging Face hub. */ origin?: string }
  /** config.json, tokenizer.json (optional) and model.safetensors picked by the user. */
  | { kind: 'files'; files: UploadedFile[] };

export interface ModelLoadProgress {
  stage: 'download' | 'weights';
  /** The file being read. */
  file: string;
  doneBytes: number;
  totalBytes: number | undefined;
  /** Bytes that came from the browser cache rather than the network (hub downloads). */
  cachedBytes: number;
  bytesPerSecond: number;
  etaSeconds: number | undefined;
}

export interface ModelSummary {
  /** The revision id (a hub branch, or the source's name for config-described models). */
  revision: string;
  description: string;
  parameters: number;
  gpuBytes: number;
  /** Storage dtypes of the weights on the GPU, e.g. "f16 + f32". */
  precision: string;
  /** Small enough to fine-tune every text weight. */
  fullFineTuneAllowed: boolean;
  /** Whether this is the untrained demo model. */
  isDemo: boolean;
}

export interface EvaluationRow {
  path: string;
  question: string;
  expected: string;
  answer: string;
  exactMatch: boolean;
}

export interface EvaluationResult {
  split: string;
  samples: number;
  exactMatchAccuracy: number;
  exactMatches: number;
  parseableFraction: number;
  meanAbsoluteCountError: number | null;
  perClassAccuracy: { className: string; accuracy: number }[];
  rows: EvaluationRow[];
  seconds: number;
}

/** The training settings the page offers (the rest of TrainingConfig keeps its defaults). */
export interface TrainingSettings {
  fullFineTune: boolean;
  loraRank: number;
  loraAlpha: number;
  learningRate: number;
  epochs: number;
  batchSize: number;
  gradientAccumulation: number;
  /** Train on the first N train images only (quick trials); undefined = all. */
  trainLimit?: number;
  /** Tokens per answer when measuring accuracy. */
  evalMaxTokens: number;
}

export interface TrainingUpdate {
  step: number;
  totalSteps: number;
  loss: number;
  learningRate: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

/** A stored checkpoint the loaded dataset and model can continue from. */
export interface ResumeOffer {
  runId: string;
  step: number;
  totalSteps: number;
  savedAt: number;
  settings: TrainingSettings;
  /** Loss per completed step, for the curve. */
  losses: { step: number; loss: number }[];
}

export type TrainingOutcome = 'finished' | 'paused';

export interface ModelSessionApi {
  loadModel(source: ModelSource, onProgress?: (progress: ModelLoadProgress) => void): Promise<ModelSummary>;
  /** Greedy answers on the first `limit` images of a split, scored (exact match and the count metrics). */
  evaluate(split: string, limit: number | undefined, maxTokens: number, onProgress?: (done: number, total: number) => void): Promise<EvaluationResult>;
  /** The newest checkpoint for the loaded dataset and model, or null. */
  findCheckpoint(): Promise<ResumeOffer | null>;
  /** Starts a new run (replacing any run of the same dataset and model) and trains until done or paused. */
  startTraining(settings: TrainingSettings, onProgress?: (update: TrainingUpdate) => void): Promise<TrainingOutcome>;
  /** Continues the paused run, or the stored checkpoint after a reload. */
  resumeTraining(onProgress?: (update: TrainingUpdate) => void): Promise<TrainingOutcome>;
  /** Stops after the step in progress; the training call then resolves 'paused' with a checkpoint saved. */
  pauseTraining(): Promise<void>;
  /** The trained LoRA adapters as a safetensors file. */
  exportAdapter(): Promise<Uint8Array>;
  /** Calls `listener` with a message when the GPU device is lost. */
  watchDevice(listener: (message: string) => void): Promise<void>;
}
