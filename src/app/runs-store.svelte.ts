// Page state for the stored runs: the list the worker's session keeps (every run of every dataset
// and model, from IndexedDB), which two are compared, and the browser's storage use and quota.
// Listing or deleting never touches the run in progress unless asked to delete it.
import type { RunSummary } from '../../workers/session-api.ts';
import { trainerSession } from './session-client.ts';

/** Runs shown side by side at most. */
export const MAX_COMPARED = 2;

class RunsStore {
  runs = $state.raw<RunSummary[]>([]);
  /** The ids of the runs compared, oldest choice first. */
  compared = $state.raw<string[]>([]);
  /** What the browser reports for this page's storage (IndexedDB and caches together). */
  storage = $state.raw<{ usage: number; quota: number } | undefined>();
  failure = $state<string | undefined>();

  private refreshNumber = 0;

  async refresh(): Promise<void> {
    const thisRefresh = ++this.refreshNumber;
    try {
      const [runs, storage] = await Promise.all([trainerSession().listRuns(), storageEstimate()]);
      if (thisRefresh !== this.refreshNumber) return;
      this.runs = runs;
      this.compared = this.compared.filter((runId) => runs.some((run) => run.runId === runId));
      this.storage = storage;
      this.failure = undefined;
    } catch (error) {
      if (thisRefresh === this.refreshNumber) this.failure = `Could not list the stored runs: ${messageOf(error)}`;
    }
  }

  /** Adds a run to the comparison (the oldest choice makes room past MAX_COMPARED), or takes it out. */
  toggleCompared(runId: string): void {
    this.compared = this.compared.includes(runId) ? this.compared.filter((id) => id !== runId) : [...this.compared, runId].slice(-MAX_COMPARED);
  }

  /** Deletes a run; resolves whether it was the run the model holds (then its weights are gone from it), or undefined when it failed. */
  async remove(runId: string): Promise<boolean | undefined> {
    try {
      const held = await trainerSession().deleteRun(runId);
      await this.refresh();
      return held;
    } catch (error) {
      this.failure = `Could not delete the run: ${messageOf(error)}`;
      return undefined;
    }
  }
}

async function storageEstimate(): Promise<{ usage: number; quota: number } | undefined> {
  if (!navigator.storage?.estimate) return undefined;
  const { usage, quota } = await navigator.storage.estimate();
  return usage === undefined || quota === undefined ? undefined : { usage, quota };
}

function messageOf(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

export const runsStore = new RunsStore();
