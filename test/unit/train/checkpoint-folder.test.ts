// The folder checkpoint store (the CLI's --out): a checkpoint comes back bit for bit through the
// project's safetensors reader, and every way the two files can be damaged is named as damage —
// a truncated tensor file says "truncated", not "saved for another model".
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_JSON, CHECKPOINT_TENSORS, FolderCheckpointStore } from '../../../src/train/checkpoint-folder.ts';
import { CheckpointDamagedError, CheckpointDatasetMismatchError, type Checkpoint } from '../../../src/train/checkpoint-store.ts';
import { trainingConfig } from '../../../src/train/config.ts';
import { TrainingInputError } from '../../../src/train/input-error.ts';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function freshFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'moontune-checkpoint-folder-'));
  folders.push(folder);
  return folder;
}

function tensor(name: string, shape: number[], start: number) {
  const size = shape.reduce((a, b) => a * b, 1);
  return { name, shape, values: Float32Array.from({ length: size }, (_, i) => start + i / 8) };
}

function checkpoint(step: number, overrides: Partial<Checkpoint> = {}): Checkpoint {
  return {
    runId: 'run',
    step,
    savedAt: 1_700_000_000_000 + step,
    config: trainingConfig({ loraRank: 2 }),
    datasetFingerprint: 'abc123',
    dataOrder: { seed: 1, sampleCount: 10, epochs: 2, epoch: 1, index: step % 10 },
    randomState: [1, 2, 3, step],
    metricHistory: [{ step, loss: 2.5 - step / 10, learningRate: 1e-4 }, { step: step + 1, loss: null, learningRate: 1e-4 }],
    parameters: [tensor('blocks.0.attn.qkv.lora_A', [2, 4], step), tensor('blocks.0.attn.qkv.lora_B', [12, 2], -step)],
    firstMoments: [tensor('m A', [2, 4], 0.5), tensor('m B', [12, 2], 0.25)],
    secondMoments: [tensor('v A', [2, 4], 0.125), tensor('v B', [12, 2], 1)],
    ...overrides,
  };
}

/** Expects `promise` to reject with a CheckpointDamagedError whose message matches. */
async function expectDamaged(action: () => unknown, message: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CheckpointDamagedError);
  expect(caught).toBeInstanceOf(TrainingInputError);
  expect((caught as Error).message).toMatch(message);
}

describe('FolderCheckpointStore', () => {
  it('is empty in a new folder, and gives back what it saved, bit for bit', async () => {
    const store = new FolderCheckpointStore(join(freshFolder(), 'out')); // made on the first save
    expect(store.check()).toBeNull();
    expect(await store.latest('run')).toBeNull();
    const saved = checkpoint(3);
    const summary = await store.save(saved);
    expect(summary).toMatchObject({ step: 3, tensorCount: 6, tensorBytes: 4 * (8 + 24) * 3 });
    expect(store.check()).toEqual(summary);
    expect(await store.latestSummary()).toEqual(summary);
    // One run per folder: the stored run answers whatever id is asked.
    expect(await store.latest('another id', 'abc123')).toEqual(saved);
    await store.save(checkpoint(4));
    expect((await store.latest('run'))!.step).toBe(4);
    await store.deleteRun();
    expect(store.check()).toBeNull();
  });

  it('refuses a checkpoint made on other data', async () => {
    const store = new FolderCheckpointStore(freshFolder());
    await store.save(checkpoint(1));
    await expect(store.latest('run', 'other')).rejects.toThrow(CheckpointDatasetMismatchError);
  });

  it('names checkpoint.json when it is not JSON or lacks fields', async () => {
    const folder = freshFolder();
    const store = new FolderCheckpointStore(folder);
    await store.save(checkpoint(1));
    const path = join(folder, CHECKPOINT_JSON);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    writeFileSync(path, '{"runId": "run", "step": 1');
    await expectDamaged(() => store.check(), new RegExp(`^${path.replaceAll('/', '\\/')} is not valid JSON .*start a new run in another folder\\.$`));
    const { dataOrder: _dropped, ...withoutOrder } = json;
    writeFileSync(path, JSON.stringify(withoutOrder));
    await expectDamaged(() => store.latest('run'), /checkpoint\.json lacks dataOrder/);
    writeFileSync(path, JSON.stringify({ ...json, step: -2 }));
    await expectDamaged(() => store.check(), /checkpoint\.json has step -2, not a step count/);
  });

  it('says a cut tensor file is truncated, and names a missing or overlong one', async () => {
    const folder = freshFolder();
    const store = new FolderCheckpointStore(folder);
    await store.save(checkpoint(2));
    const tensors = join(folder, CHECKPOINT_TENSORS);
    const whole = readFileSync(tensors);
    truncateSync(tensors, whole.length - 10);
    await expectDamaged(() => store.check(), new RegExp(`checkpoint\\.safetensors is truncated: ${whole.length - 10} of ${whole.length} bytes`));
    await expectDamaged(() => store.latest('run'), /is truncated/);
    truncateSync(tensors, 5);
    await expectDamaged(() => store.check(), /checkpoint\.safetensors is truncated: 5 bytes, shorter than its own header/);
    writeFileSync(tensors, Buffer.concat([whole, Buffer.alloc(4)]));
    await expectDamaged(() => store.check(), /has 4 bytes past its last tensor/);
    rmSync(tensors);
    await expectDamaged(() => store.check(), /checkpoint\.safetensors is missing \(checkpoint\.json of step 2 needs it\)/);
  });

  it('refuses a tensor file that lacks a tensor checkpoint.json lists', async () => {
    const folder = freshFolder();
    const store = new FolderCheckpointStore(folder);
    await store.save(checkpoint(2));
    const path = join(folder, CHECKPOINT_JSON);
    const json = JSON.parse(readFileSync(path, 'utf8'));
    json.tensors.parameters.push({ name: 'blocks.1.attn.qkv.lora_A', shape: [2, 4] });
    writeFileSync(path, JSON.stringify(json));
    await expectDamaged(() => store.check(), /lacks parameters\.2, which checkpoint\.json lists/);
  });
});
