// The run log in IndexedDB (through `idb`; a browser worker has it, Node tests use
// fake-indexeddb): one record per run, keyed by its id, in a database of its own beside the
// checkpoints', so either can be read without the other.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { RunLog, RunRecord } from './run-log.ts';

interface RunLogSchema extends DBSchema {
  runs: { key: string; value: RunRecord };
}

export const RUN_LOG_DATABASE = 'moontune-runs';

export class IndexedDbRunLog implements RunLog {
  private constructor(private readonly database: IDBPDatabase<RunLogSchema>) {}

  static async open(databaseName = RUN_LOG_DATABASE): Promise<IndexedDbRunLog> {
    const database = await openDB<RunLogSchema>(databaseName, 1, {
      upgrade(db) {
        db.createObjectStore('runs', { keyPath: 'runId' });
      },
    });
    return new IndexedDbRunLog(database);
  }

  close(): void {
    this.database.close();
  }

  async put(record: RunRecord): Promise<void> {
    await this.database.put('runs', record);
  }

  get(runId: string): Promise<RunRecord | undefined> {
    return this.database.get('runs', runId);
  }

  list(): Promise<RunRecord[]> {
    return this.database.getAll('runs');
  }

  async delete(runId: string): Promise<void> {
    await this.database.delete('runs', runId);
  }
}
