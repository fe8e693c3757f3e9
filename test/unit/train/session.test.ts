// The training session's decisions that need no GPU, on the demo model's config and tokenizer
// with a stand-in weights file that is never read (the model is opened, not loaded): what a
// start checks and which configuration it trains, how a run is named and found again, and what
// a resume refuses. The engine is never asked for; the GPU half is test/gpu/train/session.test.ts.
import 'fake-indexeddb/auto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/dataset/load.ts';
import type { QuestionTemplate } from '../../../src/dataset/types.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { FolderCheckpointStore } from '../../../src/train/checkpoint-folder.ts';
import { IndexedDbCheckpointStore } from '../../../src/train/checkpoint-idb.ts';
import { CheckpointDatasetMismatchError, type Checkpoint, type CheckpointStore } from '../../../src/train/checkpoint-store.ts';
import { defaultTrainingSettings, trainingConfig, type TrainingSettings } from '../../../src/train/config.ts';
import { datasetFingerprint } from '../../../src/train/dataset-fingerprint.ts';
import { TrainingInputError } from '../../../src/train/input-error.ts';
import { TrainingSession } from '../../../src/train/session.ts';
import { roboflowTree, zipSource, type TestImage } from '../../helpers/dataset-builders.ts';
import { demoModelContents, demoModelFiles } from '../../helpers/demo-files.ts';

/** The demo model's config and tokenizer, with a stand-in weights file that is opened, never read. */
const modelFiles = () => {
  const contents = demoModelContents();
  contents.set('model.safetensors', new Uint8Array(8));
  return demoModelFiles(contents);
};

const images = (count: number, prefix: string): TestImage[] => Array.from({ length: count }, (_, index) => ({ file: `${prefix}${index}.png`, boxes: [[1, 1, 1, 4, 4]] }));

async function dataset(splits: Record<string, TestImage[]>, question: Partial<QuestionTemplate> = {}) {
  const source = zipSource(roboflowTree(splits));
  return { source, dataset: await loadDataset(source, { question, imageCheck: 'header' }) };
}

const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

async function session(splits: Record<string, TestImage[]>, options: { question?: Partial<QuestionTemplate>; store?: CheckpointStore } = {}) {
  const store = options.store ?? (await IndexedDbCheckpointStore.open(`session-test-${Math.random()}`));
  const trainingSession = new TrainingSession({
    engine: () => Promise.reject(new Error('the engine must not be asked for')),
    checkpoints: async () => store,
  });
  const loaded = await dataset(splits, options.question);
  trainingSession.setDataset(loaded.source, loaded.dataset);
  await trainingSession.openModel(modelFiles(), { isDemo: true });
  return { session: trainingSession, store, dataset: loaded.dataset };
}

const settings = (overrides: Partial<TrainingSettings> = {}): TrainingSettings => ({ ...defaultTrainingSettings(), ...overrides });

/** Expects a TrainingInputError (input a person has to fix) with a message matching `message`. */
function expectInputError(action: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TrainingInputError);
  expect((caught as Error).message).toMatch(message);
}

async function expectInputRejection(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const caught = await promise.then(() => undefined, (error: unknown) => error);
  expect(caught).toBeInstanceOf(TrainingInputError);
  expect((caught as Error).message).toMatch(message);
}

describe('TrainingSession without a GPU', () => {
  it('trains the config of the settings, with accumulation lowered to what the train split holds', async () => {
    const { session: trainingSession } = await session({ train: images(3, 't'), test: images(1, 'x') });
    const { config, samples } = trainingSession.checkStart(settings({ gradientAccumulation: 8, loraRank: 4, loraAlpha: 8 }));
    expect(samples.map((sample) => sample.imagePath)).toEqual(['train/t0.png', 'train/t1.png', 'train/t2.png']);
    // Everything else from the one config's defaults; a step takes the 3 images there are.
    expect(config).toEqual(trainingConfig({ loraRank: 4, loraAlpha: 8, gradientAccumulation: 3 }));
    expect(trainingSession.checkStart(settings({ trainLimit: 2, gradientAccumulation: 1 })).samples).toHaveLength(2);
  });

  it('refuses, as input to fix, what no run can train', async () => {
    const { session: trainingSession } = await session({ train: images(3, 't'), test: images(1, 'x') });
    expectInputError(() => trainingSession.checkStart(settings({ learningRate: 0 })), /learningRate must be in \(0, 1\]/);
    expectInputError(() => trainingSession.checkStart(settings({ batchSize: 4, epochs: 1 })), /3 train samples × 1 epochs give no complete optimizer step of 4 samples/);
    const { session: testOnly } = await session({ test: images(2, 'x') });
    expectInputError(() => testOnly.checkStart(settings()), /no train images/);
    await expectInputRejection(trainingSession.measure(undefined, 4), /No model is loaded yet/);
    await expectInputRejection(trainingSession.exportAdapter(), /Nothing has been trained yet/);
  });

  it("refuses a question that does not fit the model's context, before any weight is read", async () => {
    // The demo model's context is 128 positions, 17 of them BOS and the image.
    const { session: trainingSession } = await session({ train: images(2, 't') }, { question: { noun: 'coin '.repeat(60).trim() } });
    expectInputError(() => trainingSession.checkStart(settings()), /^The question and answer of train\/t0\.png take \d+ tokens after the image's 17, more than the model's context of 96 positions; shorten the question/);
  });

  it('names a run by its data and model, finds its checkpoint again, and offers it', async () => {
    const { session: trainingSession, store, dataset: loaded } = await session({ train: images(4, 't'), test: images(1, 'x') });
    expect(await trainingSession.findCheckpoint()).toBeNull();
    await expectInputRejection(trainingSession.checkResume(), /no saved run for this dataset and model/);
    const fingerprint = await datasetFingerprint(loaded);
    const config = trainingConfig({ loraRank: 2, loraAlpha: 4, gradientAccumulation: 2, epochs: 1 });
    const saved: Checkpoint = {
      runId: `${fingerprint.slice(0, 16)}:${modelFiles().name}`, // a config-described model's revision id is its source's name
      step: 1,
      savedAt: 1_700_000_000_000,
      config,
      datasetFingerprint: fingerprint,
      dataOrder: { seed: config.seed, sampleCount: 4, epochs: 1, epoch: 0, index: 2 },
      randomState: [1, 2, 3, 4],
      metricHistory: [{ step: 1, loss: 5.5, learningRate: 1e-4 }],
      parameters: [],
      firstMoments: [],
      secondMoments: [],
    };
    await store.save(saved);
    expect(await trainingSession.findCheckpoint()).toEqual({
      runId: saved.runId,
      step: 1,
      totalSteps: 2, // 1 epoch × 4 samples / 2 per step
      savedAt: saved.savedAt,
      settings: { ...settings({ loraRank: 2, loraAlpha: 4, gradientAccumulation: 2, epochs: 1 }), trainLimit: 4 },
      losses: [{ step: 1, loss: 5.5 }],
    });
    expect((await trainingSession.checkResume()).step).toBe(1);
    // Other questions are other data: that run is not this dataset's.
    const { session: otherQuestions } = await session({ train: images(4, 't'), test: images(1, 'x') }, { question: { noun: 'coin' }, store });
    expect(await otherQuestions.findCheckpoint()).toBeNull();
  });

  it("refuses to resume a folder's run on another dataset", async () => {
    const folder = mkdtempSync(join(tmpdir(), 'moontune-session-'));
    folders.push(folder);
    const store = new FolderCheckpointStore(folder);
    const config = trainingConfig({ epochs: 1, gradientAccumulation: 1 });
    await store.save({
      runId: 'some run', step: 1, savedAt: 0, config, datasetFingerprint: 'another dataset', randomState: [1, 2, 3, 4],
      dataOrder: { seed: config.seed, sampleCount: 2, epochs: 1, epoch: 0, index: 1 }, metricHistory: [], parameters: [], firstMoments: [], secondMoments: [],
    });
    const { session: trainingSession } = await session({ train: images(2, 't') }, { store });
    const caught = await trainingSession.checkResume().then(() => undefined, (error: unknown) => error);
    expect(caught).toBeInstanceOf(CheckpointDatasetMismatchError);
    expect((caught as Error).message).toMatch(/^Run "some run" was trained on another dataset .*Load the dataset the run started with, or start a new run\.$/);
  });
});
