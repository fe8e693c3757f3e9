// The run log in IndexedDB (fake-indexeddb: the API a browser worker has): records round-trip,
// are replaced by id, listed, deleted, and outlive the connection that wrote them.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { IndexedDbRunLog } from '../../../src/train/run-log-idb.ts';
import { MemoryRunLog, type RunLog, type RunRecord } from '../../../src/train/run-log.ts';
import { defaultTrainingSettings } from '../../../src/train/config.ts';

const record = (runId: string, overrides: Partial<RunRecord> = {}): RunRecord => ({
  runId,
  startedAt: 1_700_000_000_000,
  modelName: 'demo model',
  revision: 'demo',
  datasetName: 'coins.coco.zip',
  datasetFingerprint: 'abc',
  settings: defaultTrainingSettings(),
  totalSteps: 12,
  ...overrides,
});

async function exercise(log: RunLog): Promise<void> {
  expect(await log.list()).toEqual([]);
  await log.put(record('a'));
  await log.put(record('b'));
  const after = { step: 12, samples: 4, exactMatches: 3, exactMatchAccuracy: 0.75, parseableFraction: 1, meanAbsoluteCountError: 0.25, decoding: 'free' as const, measuredAt: 5 };
  await log.put(record('a', { after }));
  expect(await log.get('a')).toEqual(record('a', { after }));
  expect((await log.list()).map((entry) => entry.runId).sort()).toEqual(['a', 'b']);
  await log.delete('a');
  expect(await log.get('a')).toBeUndefined();
  expect((await log.list()).map((entry) => entry.runId)).toEqual(['b']);
}

describe('run log', () => {
  it('keeps records in IndexedDB across connections', async () => {
    const log = await IndexedDbRunLog.open('run-log-test');
    await exercise(log);
    log.close();
    const reopened = await IndexedDbRunLog.open('run-log-test');
    expect((await reopened.list()).map((entry) => entry.runId)).toEqual(['b']);
    reopened.close();
  });

  it('keeps records in memory, as copies', async () => {
    const log = new MemoryRunLog();
    await exercise(log);
    const kept = (await log.get('b'))!;
    kept.totalSteps = 99;
    expect((await log.get('b'))!.totalSteps).toBe(12);
  });
});
