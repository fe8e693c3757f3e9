// Training checkpoints in IndexedDB (through `idb`; works in a browser worker and, with
// fake-indexeddb, in Node tests).
//
// Layout: one `checkpoints` record per (run, step) holding the small fields, and one `tensors`
// record per array keyed (run, step, group, index), so no single structured clone holds the whole
// model. A save writes all of them in one transaction, so a checkpoint is either complete or
// absent; only after it commits are the run's older checkpoints deleted. If the browser refuses
// the space (QuotaExceededError) the transaction is aborted, nothing of it remains, and the
// previous checkpoint is untouched.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import {
  CheckpointDamagedError,
  CheckpointDatasetMismatchError,
  CheckpointQuotaError,
  checkShapes,
  datasetMismatchMessage,
  summarize,
  TENSOR_GROUPS,
  type Checkpoint,
  type CheckpointStore,
  type CheckpointSummary,
  type CheckpointTensor,
  type TensorGroup,
} from './checkpoint-store.ts';

interface CheckpointSchema extends DBSchema {
  checkpoints: { key: [string, number]; value: CheckpointSummary };
  tensors: { key: [string, number, TensorGroup, number]; value: CheckpointTensor };
}

export const CHECKPOINT_DATABASE = 'moontune-checkpoints';

export class IndexedDbCheckpointStore implements CheckpointStore {
  private constructor(private readonly database: IDBPDatabase<CheckpointSchema>) {}

  static async open(databaseName = CHECKPOINT_DATABASE): Promise<IndexedDbCheckpointStore> {
    const database = await openDB<CheckpointSchema>(databaseName, 1, {
      upgrade(db) {
        db.createObjectStore('checkpoints', { keyPath: ['runId', 'step'] });
        db.createObjectStore('tensors');
      },
    });
    return new IndexedDbCheckpointStore(database);
  }

  close(): void {
    this.database.close();
  }

  /**
   * Saves `checkpoint` atomically, then deletes the run's older checkpoints beyond the newest
   * `keep` (default 1: only the new one stays once it is complete). Returns its summary (sizes).
   */
  async save(checkpoint: Checkpoint, keep = 1): Promise<CheckpointSummary> {
    checkShapes(checkpoint);
    const { parameters, firstMoments, secondMoments } = checkpoint;
    const tensors = { parameters, firstMoments, secondMoments };
    const summary = summarize(checkpoint);

    const transaction = this.database.transaction(['checkpoints', 'tensors'], 'readwrite');
    const writes: Promise<unknown>[] = [];
    // Every promise gets a handler at once: after an abort they all reject, and none may surface
    // as an unhandled rejection.
    const track = (promise: Promise<unknown>) => {
      promise.catch(() => {});
      writes.push(promise);
    };
    track(transaction.done);
    try {
      track(transaction.objectStore('checkpoints').put(summary));
      for (const group of TENSOR_GROUPS) {
        tensors[group].forEach((tensor, index) => {
          track(transaction.objectStore('tensors').put(tensor, [checkpoint.runId, checkpoint.step, group, index]));
        });
      }
      await Promise.all(writes);
    } catch (error) {
      try {
        transaction.abort();
      } catch {
        // Already aborted by the browser.
      }
      // A browser reports a refused quota as the transaction's error; a request may fail first
      // with a plain AbortError, so ask the transaction once it has settled.
      const transactionError = await transaction.done.then(() => null, (reason: unknown) => reason);
      throw this.explainSaveFailure(isQuotaError(error) ? error : (transaction.error ?? transactionError ?? error), summary);
    }

    await this.prune(checkpoint.runId, keep);
    return summary;
  }

  /** The run's checkpoints (or every run's), oldest first, without their tensors. */
  async list(runId?: string): Promise<CheckpointSummary[]> {
    const range = runId === undefined ? undefined : IDBKeyRange.bound([runId, -Infinity], [runId, Infinity]);
    return this.database.getAll('checkpoints', range);
  }

  /** The ids of every stored run. */
  async runs(): Promise<string[]> {
    return [...new Set((await this.list()).map((summary) => summary.runId))];
  }

  async runSummaries(): Promise<CheckpointSummary[]> {
    // Oldest first per run, so the last one seen of each is its newest.
    const newest = new Map<string, CheckpointSummary>();
    for (const summary of await this.list()) newest.set(summary.runId, summary);
    return [...newest.values()];
  }

  async latestSummary(runId: string): Promise<CheckpointSummary | null> {
    return (await this.list(runId)).at(-1) ?? null;
  }

  /** The newest checkpoint of a run, or null when it has none. */
  async latest(runId: string, expectedDatasetFingerprint?: string): Promise<Checkpoint | null> {
    const summaries = await this.list(runId);
    const newest = summaries.at(-1);
    return newest ? this.load(runId, newest.step, expectedDatasetFingerprint) : null;
  }

  /**
   * One checkpoint with its tensors. With `expectedDatasetFingerprint`, refuses a checkpoint made
   * on other data (CheckpointDatasetMismatchError).
   */
  async load(runId: string, step: number, expectedDatasetFingerprint?: string): Promise<Checkpoint> {
    const transaction = this.database.transaction(['checkpoints', 'tensors'], 'readonly');
    const summary = await transaction.objectStore('checkpoints').get([runId, step]);
    if (!summary) throw new Error(`No checkpoint of run "${runId}" at step ${step}; it may have been replaced by a newer one or deleted. List the run's checkpoints to pick another.`);
    if (expectedDatasetFingerprint !== undefined && summary.datasetFingerprint !== expectedDatasetFingerprint) {
      throw new CheckpointDatasetMismatchError(datasetMismatchMessage(runId));
    }
    const tensorStore = transaction.objectStore('tensors');
    const groups = {} as Record<TensorGroup, CheckpointTensor[]>;
    for (const group of TENSOR_GROUPS) {
      groups[group] = await tensorStore.getAll(IDBKeyRange.bound([runId, step, group, 0], [runId, step, group, Infinity]));
    }
    await transaction.done;
    const { tensorBytes, tensorCount, ...fields } = summary;
    const checkpoint: Checkpoint = { ...fields, ...groups };
    const found = groups.parameters.length + groups.firstMoments.length + groups.secondMoments.length;
    if (found !== tensorCount) throw new CheckpointDamagedError(`Checkpoint of run "${runId}" at step ${step} has ${found} of its ${tensorCount} tensors; it is damaged. Delete it and resume from an older one or start again.`);
    return checkpoint;
  }

  /** Deletes one checkpoint (its record and tensors) in one transaction. */
  async delete(runId: string, step: number): Promise<void> {
    const transaction = this.database.transaction(['checkpoints', 'tensors'], 'readwrite');
    await Promise.all([
      transaction.objectStore('checkpoints').delete([runId, step]),
      // [] sorts after every number and string, so this covers every key (runId, step, …).
      transaction.objectStore('tensors').delete(IDBKeyRange.bound([runId, step], [runId, step, []])),
      transaction.done,
    ]);
  }

  /** Deletes every checkpoint of a run. */
  async deleteRun(runId: string): Promise<void> {
    for (const summary of await this.list(runId)) await this.delete(runId, summary.step);
  }

  /** Keeps the newest `keep` checkpoints of a run. */
  private async prune(runId: string, keep: number): Promise<void> {
    const summaries = await this.list(runId);
    for (const summary of summaries.slice(0, Math.max(0, summaries.length - Math.max(1, keep)))) {
      await this.delete(runId, summary.step);
    }
  }

  private explainSaveFailure(error: unknown, summary: CheckpointSummary): Error {
    const megabytes = (summary.tensorBytes / 1e6).toFixed(1);
    if (isQuotaError(error)) {
      return new CheckpointQuotaError(
        `The browser refused ${megabytes} MB for the checkpoint of run "${summary.runId}" at step ${summary.step} (storage quota exceeded). ` +
          'The previous checkpoint is kept. Free space by deleting old runs, allow persistent storage for this page, or train LoRA with a lower rank.',
        { cause: error },
      );
    }
    const reason = error instanceof Error ? error.message : String(error);
    return new Error(`Saving the checkpoint of run "${summary.runId}" at step ${summary.step} (${megabytes} MB) failed: ${reason}. The previous checkpoint is kept.`, { cause: error });
  }
}

function isQuotaError(error: unknown): boolean {
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    if ((current as { name?: unknown }).name === 'QuotaExceededError') return true;
  }
  return false;
}
