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

export interface TrainerSessionApi {
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
