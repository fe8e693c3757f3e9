// The IndexedDB checkpoint store on fake-indexeddb (the same IndexedDB API a browser worker has).
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { IndexedDbCheckpointStore } from '../../../src/train/checkpoint-idb.ts';
import { CheckpointDatasetMismatchError, CheckpointQuotaError, type Checkpoint } from '../../../src/train/checkpoint-store.ts';
import { trainingConfig } from '../../../src/train/config.ts';

let databaseCount = 0;
const stores: IndexedDbCheckpointStore[] = [];
async function freshStore(): Promise<IndexedDbCheckpointStore> {
  const store = await IndexedDbCheckpointStore.open(`checkpoint-test-${databaseCount++}`);
  stores.push(store);
  return store;
}
const restores: (() => void)[] = [];
afterEach(() => {
  for (const restore of restores.splice(0)) restore();
  for (const store of stores.splice(0)) store.close();
});

function tensor(name: string, shape: number[], start: number) {
  const size = shape.reduce((a, b) => a * b, 1);
  return { name, shape, values: Float32Array.from({ length: size }, (_, i) => start + i / 8) };
}

function checkpoint(runId: string, step: number, overrides: Partial<Checkpoint> = {}): Checkpoint {
  return {
    runId,
    step,
    savedAt: 1_700_000_000_000 + step,
    config: trainingConfig({ loraRank: 2 }),
    datasetFingerprint: 'abc123',
    dataOrder: { seed: 1, sampleCount: 10, epochs: 2, epoch: 1, index: step % 10 },
    randomState: [1, 2, 3, step],
    metricHistory: [{ step, loss: 2.5 - step / 10, learningRate: 1e-4 }],
    parameters: [tensor('blocks.0.attn.qkv.lora_A', [2, 4], step), tensor('blocks.0.attn.qkv.lora_B', [12, 2], -step)],
    firstMoments: [tensor('m A', [2, 4], 0.5), tensor('m B', [12, 2], 0.25)],
    secondMoments: [tensor('v A', [2, 4], 0.125), tensor('v B', [12, 2], 1)],
    ...overrides,
  };
}

describe('IndexedDbCheckpointStore', () => {
  it('round-trips every field, Float32Arrays bit for bit', async () => {
    const store = await freshStore();
    const saved = checkpoint('run-a', 3);
    const summary = await store.save(saved);
    expect(summary.tensorBytes).toBe((8 + 24) * 3 * 4);
    expect(summary.tensorCount).toBe(6);
    const loaded = await store.load('run-a', 3);
    expect(loaded).toEqual(saved);
    expect(loaded.parameters[1].values).toBeInstanceOf(Float32Array);
  });

  it('keeps only the newest checkpoint of a run by default, and others runs untouched', async () => {
    const store = await freshStore();
    await store.save(checkpoint('run-a', 1));
    await store.save(checkpoint('run-b', 1));
    await store.save(checkpoint('run-a', 2));
    expect((await store.list('run-a')).map((s) => s.step)).toEqual([2]);
    expect((await store.list('run-b')).map((s) => s.step)).toEqual([1]);
    expect((await store.runs()).sort()).toEqual(['run-a', 'run-b']);
    await expect(store.load('run-a', 1)).rejects.toThrow(/No checkpoint of run "run-a" at step 1/);
  });

  it('keeps the newest `keep` checkpoints when asked', async () => {
    const store = await freshStore();
    for (const step of [1, 2, 3, 10]) await store.save(checkpoint('run-a', step), 2);
    expect((await store.list('run-a')).map((s) => s.step)).toEqual([3, 10]);
    expect((await store.latest('run-a'))?.step).toBe(10);
  });

  it('returns null for the latest of an unknown run', async () => {
    expect(await (await freshStore()).latest('nothing')).toBeNull();
  });

  it('refuses to resume on another dataset, saying what to do', async () => {
    const store = await freshStore();
    await store.save(checkpoint('run-a', 1));
    await expect(store.latest('run-a', 'other-fingerprint')).rejects.toThrow(CheckpointDatasetMismatchError);
    await expect(store.latest('run-a', 'other-fingerprint')).rejects.toThrow(/Load the dataset the run started with/);
    expect((await store.latest('run-a', 'abc123'))?.step).toBe(1);
  });

  it('deletes a checkpoint with its tensors, and whole runs', async () => {
    const store = await freshStore();
    await store.save(checkpoint('run-a', 1), 5);
    await store.save(checkpoint('run-a', 2), 5);
    await store.delete('run-a', 1);
    expect((await store.list('run-a')).map((s) => s.step)).toEqual([2]);
    await store.deleteRun('run-a');
    expect(await store.list()).toEqual([]);
  });

  it('refuses a checkpoint whose moments do not match its parameters', async () => {
    const store = await freshStore();
    await expect(store.save(checkpoint('run-a', 1, { firstMoments: [] }))).rejects.toThrow(/one first and one second moment per parameter/);
    await expect(store.save(checkpoint('run-a', 1, { parameters: [tensor('x', [3], 0), { name: 'y', shape: [5], values: new Float32Array(4) }] }))).rejects.toThrow(/y has 4 values for shape \[5\]/);
  });

  it('on a quota error thrown by put: clear error, previous checkpoint intact, nothing of the new one left', async () => {
    const store = await freshStore();
    await store.save(checkpoint('run-a', 1));
    const put = IDBObjectStore.prototype.put;
    let calls = 0;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      if (++calls === 4) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    };
    restores.push(() => (IDBObjectStore.prototype.put = put));
    const failure = store.save(checkpoint('run-a', 2));
    await expect(failure).rejects.toThrow(CheckpointQuotaError);
    await expect(failure).rejects.toThrow(/refused 0\.0 MB .* step 2 .*previous checkpoint is kept/);
    restores.pop()!();
    expect((await store.list('run-a')).map((s) => s.step)).toEqual([1]);
    expect(await store.load('run-a', 1)).toEqual(checkpoint('run-a', 1));
    await expect(store.load('run-a', 2)).rejects.toThrow(/No checkpoint/);
  });

  it('on a quota error raised while the transaction runs (as browsers do): same outcome', async () => {
    const store = await freshStore();
    await store.save(checkpoint('run-a', 1));
    // Make the stored-record step of the underlying store fail for big arrays, the way a browser
    // fails a request and aborts its transaction with a QuotaExceededError.
    const probe = indexedDB.open('quota-probe', 1);
    probe.onupgradeneeded = () => probe.result.createObjectStore('s');
    const database = await new Promise<IDBDatabase>((resolve) => (probe.onsuccess = () => resolve(probe.result)));
    const raw = (database.transaction('s').objectStore('s') as unknown as { _rawObjectStore: object })._rawObjectStore;
    database.close();
    const prototype = Object.getPrototypeOf(raw) as { storeRecord: (record: { value: unknown }, ...rest: unknown[]) => unknown };
    const storeRecord = prototype.storeRecord;
    prototype.storeRecord = function (this: unknown, record, ...rest) {
      const values = (record.value as { values?: Float32Array })?.values;
      if (values && values.length > 100) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return storeRecord.call(this, record, ...rest);
    };
    restores.push(() => (prototype.storeRecord = storeRecord));
    const big = checkpoint('run-a', 2, { parameters: [tensor('a', [200], 0)], firstMoments: [tensor('m', [200], 0)], secondMoments: [tensor('v', [200], 0)] });
    await expect(store.save(big)).rejects.toThrow(CheckpointQuotaError);
    restores.pop()!();
    expect((await store.list('run-a')).map((s) => s.step)).toEqual([1]);
    expect(await store.load('run-a', 1)).toEqual(checkpoint('run-a', 1));
  });
});
