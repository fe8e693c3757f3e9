// Page state for the loaded dataset: what is loading, how far it got, and what came back.
// All work happens in the worker; this store only asks and records.
import { proxy } from 'comlink';
import type { CountingDataset, DatasetIssue, LoadProgress } from '../dataset/types.ts';
import type { UploadSource } from '../../workers/session-api.ts';
import { onWorkerCrash, trainerSession } from './session-client.ts';

export type LoadState = 'idle' | 'loading' | 'ready' | 'failed';

/** Served from public/demo/ next to the page (spec: the embedded default dataset). */
export const DEMO_DATASET_PATH = './demo/coins.coco.zip';

class DatasetStore {
  state = $state<LoadState>('idle');
  progress = $state<LoadProgress | undefined>();
  /** Replaced whole on every load or rebuild, never mutated: no deep reactivity needed. */
  dataset = $state.raw<CountingDataset | undefined>();
  /** Set when loading threw (a failed download, a crashed worker) rather than reporting issues. */
  failure = $state<string | undefined>();
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
      this.dataset = undefined;
      this.failure = `${message} Load the dataset again.`;
      this.state = 'failed';
    });
  }

  async load(upload: UploadSource): Promise<void> {
    const thisLoad = ++this.loadNumber;
    this.state = 'loading';
    this.uploadName = upload.name;
    this.progress = undefined;
    this.failure = undefined;
    const onProgress = proxy((progress: LoadProgress) => {
      if (thisLoad === this.loadNumber) this.progress = progress;
    });
    try {
      const noun = this.dataset?.question.noun;
      const dataset = await trainerSession().loadDataset(upload, noun ? { noun } : undefined, onProgress);
      if (thisLoad !== this.loadNumber) return;
      this.dataset = dataset;
      this.state = 'ready';
    } catch (error) {
      if (thisLoad !== this.loadNumber) return;
      this.dataset = undefined;
      this.failure = (error as Error).message ?? String(error);
      this.state = 'failed';
    }
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
