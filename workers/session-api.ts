// The trainer worker's API as the page sees it (through comlink's Remote<>). Everything that
// crosses the boundary is structured-clone safe: plain data, Blobs, typed arrays, and
// comlink-proxied callbacks. The training half is src/train/session.ts's TrainingSession itself
// (the worker's session extends it), so its types are the session's own.
import type { CountingDataset, LoadProgress, QuestionTemplate } from '../src/dataset/types.ts';
import type { AnswerDecoding, EvaluationResult, ModelLoadProgress, ModelSummary, ResumeOffer, RunSummary, TrainingOutcome, TrainingSettings } from '../src/train/session-types.ts';
import type { MeasureOptions } from '../src/train/session.ts';
import type { AskAnswer, AskImage, AskOptions } from '../src/train/ask.ts';
import type { TrainingProgress } from '../src/train/trainer.ts';

export type { AskAnswer, AskImage, AskOptions };
export type { AnswerDecoding, EvaluationResult, MeasureOptions, ModelLoadProgress, ModelSummary, ResumeOffer, RunSummary, TrainingOutcome, TrainingProgress, TrainingSettings };
export type { RunMeasurement } from '../src/train/run-log.ts';
export type { SkippedImage } from '../src/train/session-types.ts';

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

/** Where the model comes from. */
export type ModelSource =
  /** The tiny untrained demo model served next to the page (public/demo-model/). `baseUrl` is absolute. */
  | { kind: 'demo'; baseUrl: string }
  /** A Hugging Face repository at a revision, through the chunked download cache. */
  | { kind: 'hub'; repo: string; revision: string; /** A hub mirror's origin; default the Hugging Face hub. */ origin?: string }
  /** config.json, tokenizer.json (optional) and model.safetensors picked by the user. */
  | { kind: 'files'; files: UploadedFile[] };

export interface TrainerSessionApi {
  // ---- step 1: the dataset (workers/session.ts) ----
  /**
   * Loads a dataset and keeps its source for image reads and question rebuilds. Bad input
   * yields a dataset whose issues carry the errors; only a failed download throws.
   */
  loadDataset(upload: UploadSource, question?: Partial<QuestionTemplate>, onProgress?: (progress: LoadProgress) => void): Promise<CountingDataset>;
  /** Rebuilds the questions of the loaded dataset with a new template or noun. */
  rebuildQuestions(question: Partial<QuestionTemplate>): Promise<CountingDataset>;
  /** The encoded bytes (PNG/JPEG) of the loaded dataset's image at this index. */
  readImage(imageIndex: number): Promise<Uint8Array>;
  /** Whether WebGPU works inside the worker, where the engine will run. */
  webgpuReport(): Promise<WebGpuReport>;

  // ---- step 3: model and training (src/train/session.ts) ----
  /** Loads a model; `onWarning` hears what does not stop the load (e.g. a download that could not be cached). */
  loadModel(source: ModelSource, onProgress?: (progress: ModelLoadProgress) => void, onWarning?: (message: string) => void): Promise<ModelSummary>;
  /** Greedy answers on the first `limit` images of the evaluation split (test, else val, else train), scored. */
  measure(limit: number | undefined, maxTokens: number, onProgress?: (done: number, total: number) => void, options?: MeasureOptions): Promise<EvaluationResult>;
  /** The newest checkpoint for the loaded dataset and model, or null. */
  findCheckpoint(): Promise<ResumeOffer | null>;
  /** Starts a new run (earlier runs stay stored) and trains until done or paused. */
  startTraining(settings: TrainingSettings, onProgress?: (progress: TrainingProgress) => void): Promise<TrainingOutcome>;
  /** Continues the paused run, or the stored checkpoint after a reload. */
  resumeTraining(onProgress?: (progress: TrainingProgress) => void): Promise<TrainingOutcome>;
  /** Stops after the step in progress; the training call then resolves 'paused' with a checkpoint saved. */
  pauseTraining(): Promise<void>;
  /** Every stored run of any dataset and model, newest first, with its settings, curve, before/after and stored bytes. */
  listRuns(): Promise<RunSummary[]>;
  /** Deletes a run's checkpoints and record (the session's own run is set aside first); true when it was the session's run. */
  deleteRun(runId: string): Promise<boolean>;
  /** The trained LoRA adapters as a safetensors file. */
  exportAdapter(): Promise<Uint8Array>;
  /** The trained adapter in PEFT's layout, zipped (adapter_config.json, adapter_model.safetensors). */
  exportPeftAdapterZip(): Promise<Uint8Array>;
  /** Any question about a dataset image or an image file, greedy, with or without the trained adapter; `onText` hears the answer as it is written. */
  ask(image: AskImage, question: string, options: AskOptions, onText?: (textSoFar: string) => void): Promise<AskAnswer>;
  /** The trained model as one model.safetensors (LoRA merged in, or the fully fine-tuned weights) in the base file's names and dtypes. */
  exportTrainedModel(onProgress?: (doneBytes: number, totalBytes: number | undefined) => void): Promise<Blob>;
  /** The loaded dataset as JSONL per split plus its images, zipped. */
  exportDatasetZip(): Promise<Uint8Array>;
  /** Calls `listener` with a message when the GPU device is lost. */
  watchDevice(listener: (message: string) => void): Promise<void>;
}
