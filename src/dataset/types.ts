// The dataset half's public types: what parsing a COCO export produces and what the page, the
// worker and the trainer consume. Everything here is plain data (structured-clone safe), so it
// crosses the worker boundary unchanged.

/** Canonical split names. Roboflow's `valid` (and `val`, `validation`) map to 'val'. */
export type SplitName = 'train' | 'val' | 'test';

export interface BoundingBox {
  /** COCO [x, y, width, height] in pixels, top-left origin. */
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DatasetObject {
  /** Index into CountingDataset.classes. */
  classIndex: number;
  box: BoundingBox;
}

export interface DatasetImage {
  split: SplitName;
  /** `file_name` exactly as written in the annotation file. */
  fileName: string;
  /** Path of the image inside the upload (zip entry or folder path), for reading its bytes. */
  path: string;
  width: number;
  height: number;
  objects: DatasetObject[];
  /** The counting question and its exact JSON answer. */
  question: string;
  answer: string;
}

export interface DatasetClass {
  /** COCO category id in its annotation file. */
  id: number;
  name: string;
}

export type IssueSeverity = 'error' | 'warning';

/** A validation finding, shown in the page and the CLI. */
export interface DatasetIssue {
  severity: IssueSeverity;
  /** Stable machine-readable code, e.g. 'missing-image', 'box-outside-image'. */
  code: string;
  /** What is wrong and what to do about it, naming the file and the entry. */
  message: string;
  /** Annotation file or image path the issue is about. */
  file?: string;
  split?: SplitName;
}

export interface SplitStats {
  images: number;
  objects: number;
  /** objects per class, indexed like CountingDataset.classes. */
  objectsPerClass: number[];
  /** imagesWithObjectCount[k] = number of images with exactly k objects. */
  imagesWithObjectCount: number[];
}

export interface QuestionTemplate {
  /** Template with {noun} and {classes} placeholders. */
  template: string;
  /** The noun, e.g. "currency" in the original guide; default "object". */
  noun: string;
}

export interface CountingDataset {
  /** Display name (zip or folder name). */
  name: string;
  classes: DatasetClass[];
  images: DatasetImage[];
  stats: Record<SplitName, SplitStats>;
  issues: DatasetIssue[];
  question: QuestionTemplate;
}

/** One file of an upload (a folder entry, a dropped file, or a zip entry). */
export interface SourceFile {
  /** Path relative to the upload root, '/'-separated, e.g. 'train/_annotations.coco.json'. */
  path: string;
  size: number;
  read(): Promise<Uint8Array>;
}

/** What the user gave us: a zip's bytes, or a set of files (folder, drag and drop, file input). */
export type DatasetSource =
  | { kind: 'zip'; name: string; data: Uint8Array }
  | { kind: 'files'; name: string; files: SourceFile[] };

export interface LoadProgress {
  stage: 'unzipping' | 'parsing' | 'checking images' | 'building questions';
  done: number;
  total: number;
}

export interface LoadOptions {
  question?: Partial<QuestionTemplate>;
  /**
   * Load this split only (CLI `--split`): annotation files of other splits are skipped, a lone
   * annotation file whose name tells no split is this split, and no train or evaluation split
   * is asked for.
   */
  split?: SplitName;
  onProgress?: (progress: LoadProgress) => void;
  /**
   * How images are checked: 'decode' (the default, DEFAULT_IMAGE_CHECK in image-checks.ts)
   * decodes every pixel; 'header' only reads each file's size from its header and checks that
   * its end marker is there (faster on large photos, blind to damage inside the pixel data).
   */
  imageCheck?: 'header' | 'decode';
}
