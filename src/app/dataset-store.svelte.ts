// Page state for the loaded dataset: what is loading, how far it got, and what came back.
// All work happens in the worker; this store only asks and records. A load that fails — an
// upload with errors, or one that could not be read at all — replaces nothing: the dataset
// loaded before stays loaded and shown, and the failed attempt is kept beside it (`rejected`).
import { proxy } from 'comlink';
import type { CountingDataset, DatasetIssue, LoadProgress } from '../dataset/types.ts';
import type { UploadSource } from '../../workers/session-api.ts';
import { onWorkerCrash, trainerSession } from './session-client.ts';
import { setupStore } from './setup-store.svelte.ts';

/** 'failed': the last load failed and no dataset is loaded. */
export type LoadState = 'idle' | 'loading' | 'ready' | 'failed';

/** A load that did not replace the dataset: the errors loadDataset found, or why it stopped. */
export interface RejectedLoad {
  name: string;
  /** Every issue of the upload (its errors are why it was not loaded); empty when `failure` is set. */
  issues: DatasetIssue[];
  /** Set when loading threw (a failed download, a crashed worker) rather than reporting issues. */
  failure?: string;
}

/** Served from public/demo/ next to the page (spec: the embedded default dataset). */
export const DEMO_DATASET_PATH = './demo/coins.coco.zip';

class DatasetStore {
  state = $state<LoadState>('idle');
  progress = $state<LoadProgress | undefined>();
  /** The loaded dataset; replaced whole on every successful load or rebuild, never mutated. */
  dataset = $state.raw<CountingDataset | undefined>();
  /** The last load, when it failed; cleared when the next one starts. */
  rejected = $state.raw<RejectedLoad | undefined>();
  /** What was asked to load, shown while it loads. */
  uploadName = $state('');
  rebuildingQuestions = $state(false);

  errors: DatasetIssue[] = $derived(this.dataset?.issues.filter((issue) => issue.severity === 'error') ?? []);
  warnings: DatasetIssue[] = $derived(this.dataset?.issues.filter((issue) => issue.severity === 'warning') ?? []);

  /** Counts loads so that an older load finishing late never overwrites a newer one. */
  private loadNumber = 0;

  constructor() {
    // A new worker has no dataset to read images from: what was loaded must be loaded again.
    onWorkerCrash((message) => {
      this.rebuildingQuestions = false;
      if (this.state === 'idle' || this.state === 'failed') return;
      this.loadNumber++;
      this.rejected = { name: this.dataset?.name ?? this.uploadName, issues: [], failure: `${message} Load the dataset again.` };
      this.dataset = undefined;
      this.state = 'failed';
    });
  }

  async load(upload: UploadSource): Promise<void> {
    const thisLoad = ++this.loadNumber;
    this.state = 'loading';
    this.uploadName = upload.name;
    this.progress = undefined;
    this.rejected = undefined;
    const onProgress = proxy((progress: LoadProgress) => {
      if (thisLoad === this.loadNumber) this.progress = progress;
    });
    let result: RejectedLoad | CountingDataset;
    try {
      // The question chosen so far (the link's, then the person's noun) carries over to a new dataset.
      const noun = this.dataset?.question.noun;
      const question = { ...setupStore.link.question, ...(noun ? { noun } : {}) };
      const dataset = await trainerSession().loadDataset(upload, Object.keys(question).length > 0 ? question : undefined, onProgress);
      // The worker keeps the dataset it had when this one has errors; so does the page.
      result = dataset.issues.some((issue) => issue.severity === 'error') ? { name: upload.name, issues: dataset.issues } : dataset;
    } catch (error) {
      result = { name: upload.name, issues: [], failure: (error as Error).message ?? String(error) };
    }
    if (thisLoad !== this.loadNumber) return;
    if ('images' in result) {
      this.dataset = result;
    } else {
      this.rejected = result;
    }
    this.state = this.dataset ? 'ready' : 'failed';
  }

  loadDemo(): Promise<void> {
    // Absolute, because the worker resolves relative URLs against its own script's location.
    const url = new URL(DEMO_DATASET_PATH, document.baseURI).href;
    return this.load({ kind: 'url', name: 'coins.coco.zip', url });
  }

  async setNoun(noun: string): Promise<void> {
    if (!this.dataset || this.state !== 'ready') return;
    const thisLoad = this.loadNumber;
    this.rebuildingQuestions = true;
    try {
      const dataset = await trainerSession().rebuildQuestions({ noun });
      if (thisLoad === this.loadNumber) this.dataset = dataset;
    } finally {
      this.rebuildingQuestions = false;
    }
  }
}

export const datasetStore = new DatasetStore();
