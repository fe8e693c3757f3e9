// The training session on the demo model (public/demo-model) and a train-only dataset of three
// images, one of them with corrupt pixel data behind a valid header (the quick header check lets
// it through, as an upload damaged after the check would): measuring says it measures the train
// images and why, the corrupt image is skipped and named in the measurement and in the training
// progress, training finishes, and a second session on the same store (a reloaded page) finds the
// run and loads it back with the same adapter. Slow on SwiftShader: a demo-model step ≈ 10 s.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/dataset/load.ts';
import { formatAnswer } from '../../../src/dataset/question.ts';
import { parseCounts } from '../../../src/train/metrics.ts';
import { IndexedDbCheckpointStore } from '../../../src/train/checkpoint-idb.ts';
import { IndexedDbRunLog } from '../../../src/train/run-log-idb.ts';
import { defaultTrainingSettings } from '../../../src/train/config.ts';
import { TrainingSession } from '../../../src/train/session.ts';
import type { TrainingProgress } from '../../../src/train/trainer.ts';
import { noisyPng, roboflowTree, zipSource } from '../../helpers/dataset-builders.ts';
import { demoModelContents, demoModelFiles } from '../../helpers/demo-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

describe('TrainingSession on the demo model', () => {
  it('measures a train-only dataset on its train images, skips a corrupt image, trains, and loads the run back', { timeout: 600_000 }, async () => {
    const engine = await testEngine();
    const store = await IndexedDbCheckpointStore.open('session-gpu-test');
    const tree = roboflowTree({ train: [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png' }, { file: 'c.png', boxes: [[2, 2, 2, 5, 5]] }] });
    const corrupt = noisyPng(20, 16);
    corrupt.fill(0xff, 45, 70); // inside IDAT: the deflate stream breaks, the header stays valid
    tree['train/b.png'] = corrupt;
    const source = zipSource(tree);
    const dataset = await loadDataset(source, { question: { noun: 'coin' }, imageCheck: 'header' });
    expect(dataset.images.map((image) => image.path)).toEqual(['train/a.png', 'train/b.png', 'train/c.png']);

    const newSession = async () => {
      const session = new TrainingSession({ engine: async () => engine, checkpoints: async () => store });
      session.setDataset(source, dataset);
      await session.loadModelFiles(demoModelFiles(), { isDemo: true });
      return session;
    };
    const first = await newSession();

    const before = await first.measure(undefined, 2);
    expect(before.split).toBe('train');
    expect(before.note).toMatch(/no val or test split/);
    expect(before.samples).toBe(2);
    expect(before.results.map((row) => row.path)).toEqual(['train/a.png', 'train/c.png']);
    expect(before.skippedImages).toEqual([{ path: 'train/b.png', reason: expect.stringMatching(/^has corrupt PNG data/) }]);

    const progress: TrainingProgress[] = [];
    const settings = { ...defaultTrainingSettings(), loraRank: 2, loraAlpha: 4, learningRate: 1e-2, epochs: 1, gradientAccumulation: 1 };
    expect(await first.startTraining(settings, (update) => progress.push(update))).toBe('finished');
    expect(progress.map((update) => update.step)).toEqual([1, 2, 3]);
    // One step's only sample was the corrupt image: no loss there, finite losses elsewhere.
    expect(progress.filter((update) => update.loss === null)).toHaveLength(1);
    expect(progress.filter((update) => Number.isFinite(update.loss))).toHaveLength(2);
    expect(progress.at(-1)!.skippedImages.map((image) => image.path)).toEqual(['train/b.png']);
    const adapter = await first.exportAdapter();
    const offer = await first.findCheckpoint();
    expect(offer).toMatchObject({ step: 3, totalSteps: 3, settings: { loraRank: 2, epochs: 1, gradientAccumulation: 1, trainLimit: 3 } });
    expect(offer!.losses.map((point) => point.loss === null)).toEqual(progress.map((update) => update.loss === null));
    await first.dispose();

    // A reloaded page: a new session on the same store finds the run and loads it back.
    const second = await newSession();
    expect((await second.findCheckpoint())!.step).toBe(3);
    expect(await second.resumeTraining()).toBe('finished');
    expect(await second.exportAdapter()).toEqual(adapter);
    await second.dispose();
    store.close();
  });

  it('measures with answers constrained to the counting format: every answer is one the dataset could hold', { timeout: 300_000 }, async () => {
    const engine = await testEngine();
    const store = await IndexedDbCheckpointStore.open('session-gpu-test-constrained');
    const tree = roboflowTree({ test: [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png' }, { file: 'c.png', boxes: [[2, 2, 2, 5, 5]] }] });
    const source = zipSource(tree);
    const dataset = await loadDataset(source, { question: { noun: 'coin' } });
    const session = new TrainingSession({ engine: async () => engine, checkpoints: async () => store });
    session.setDataset(source, dataset);
    await session.loadModelFiles(demoModelFiles(), { isDemo: true });
    const classNames = dataset.classes.map((c) => c.name);
    const constrained = await session.measure(undefined, 128, undefined, { constrain: 'counts' });
    expect(constrained.decoding).toBe('counts');
    expect(constrained.parseableFraction).toBe(1);
    for (const row of constrained.results) {
      // The format formatAnswer writes: its own counts, written back, give the same text.
      const counts = parseCounts(row.answer)!;
      expect([...counts.keys()].every((name) => classNames.includes(name))).toBe(true);
      expect(row.answer).toBe(formatAnswer(classNames, classNames.map((name) => counts.get(name) ?? 0)));
    }
    expect((await session.measure(undefined, 128)).decoding).toBe('free');
    await session.dispose();
    store.close();
  });

  it('keeps every run with its before and after, lists and deletes them, and starts each run from the model as loaded', { timeout: 300_000 }, async () => {
    const engine = await testEngine();
    const store = await IndexedDbCheckpointStore.open('session-gpu-test-runs');
    const runLog = await IndexedDbRunLog.open('session-gpu-test-runs-log');
    const tree = roboflowTree({
      train: [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png', boxes: [[2, 2, 2, 5, 5], [1, 8, 8, 4, 4]] }, { file: 'c.png' }],
      test: [{ file: 't.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'u.png' }],
    });
    const source = zipSource(tree);
    const dataset = await loadDataset(source, { question: { noun: 'coin' } });
    const session = new TrainingSession({ engine: async () => engine, checkpoints: async () => store, runLog: async () => runLog });
    session.setDataset(source, dataset);
    await session.loadModelFiles(demoModelFiles(), { isDemo: true, name: 'demo model' });

    const baseline = await session.measure(undefined, 24);
    const base = { ...defaultTrainingSettings(), learningRate: 1e-2, epochs: 1, batchSize: 1, gradientAccumulation: 1 };
    const lossesOf = async (settings: typeof base) => {
      const progress: TrainingProgress[] = [];
      expect(await session.startTraining(settings, (update) => progress.push(update))).toBe('finished');
      return progress.map((update) => update.loss!);
    };
    // Full fine-tuning changes the model's own weights; the LoRA run after it must not start there.
    const full = await lossesOf({ ...base, fullFineTune: true });
    const afterFull = await session.measure(undefined, 24);
    const lora = await lossesOf({ ...base, loraRank: 2, loraAlpha: 4 });
    // Both runs' first step sees the loaded model on the same first sample (same seed, and LoRA's
    // B starts at zero): equal losses only if the full run's weights were put back. f32 sums of
    // the same order on the same device: equal to rounding.
    expect(lora[0]).toBeCloseTo(full[0], 5);
    expect(full.at(-1)).toBeLessThan(full[0]); // and full fine-tuning did change the weights

    const runs = await session.listRuns();
    expect(runs.map((run) => run.settings.fullFineTune)).toEqual([false, true]); // newest first
    const [loraRun, fullRun] = runs;
    expect(fullRun).toMatchObject({ modelName: 'demo model', datasetName: source.name, step: 3, totalSteps: 3, ofLoadedModel: true, inSession: false });
    expect(fullRun.before).toMatchObject({ step: 0, exactMatches: baseline.exactMatches, samples: 2, decoding: 'free' });
    expect(fullRun.after).toMatchObject({ step: 3, exactMatches: afterFull.exactMatches, parseableFraction: afterFull.parseableFraction });
    expect(fullRun.curve.map((point) => point.loss)).toEqual(full.map((loss) => Math.fround(loss)).map((loss) => expect.closeTo(loss, 6)));
    expect(fullRun.curve.every((point) => point.learningRate > 0)).toBe(true);
    expect(fullRun.storedBytes).toBeGreaterThan(0);
    expect(loraRun).toMatchObject({ inSession: true, before: { exactMatches: baseline.exactMatches }, step: 3 });
    expect(loraRun.after).toBeUndefined();
    expect(loraRun.storedBytes).toBeLessThan(fullRun.storedBytes); // rank-2 adapters against every weight

    // The offer is the run trained last.
    expect((await session.findCheckpoint())!.runId).toBe(loraRun.runId);
    expect(await session.deleteRun(fullRun.runId)).toBe(false);
    expect((await session.listRuns()).map((run) => run.runId)).toEqual([loraRun.runId]);
    expect((await store.runSummaries()).map((summary) => summary.runId)).toEqual([loraRun.runId]);
    // Deleting the session's own run takes its adapters off: the model answers as loaded.
    expect(await session.deleteRun(loraRun.runId)).toBe(true);
    expect(await session.listRuns()).toEqual([]);
    expect(await session.findCheckpoint()).toBeNull();
    expect((await session.measure(undefined, 24)).results.map((row) => row.answer)).toEqual(baseline.results.map((row) => row.answer));
    await session.dispose();
    store.close();
    runLog.close();
  });

  it('exports the trained model: after a full fine-tune, a LoRA run and a LoRA run with the token layers, the file loaded as a model of its own answers as the session does', { timeout: 300_000 }, async () => {
    const engine = await testEngine();
    const store = await IndexedDbCheckpointStore.open('session-gpu-test-export');
    const tree = roboflowTree({
      train: [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png', boxes: [[2, 2, 2, 5, 5], [1, 8, 8, 4, 4]] }, { file: 'c.png' }],
      test: [{ file: 't.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'u.png' }, { file: 'v.png', boxes: [[2, 3, 3, 5, 5]] }],
    });
    const source = zipSource(tree);
    const dataset = await loadDataset(source, { question: { noun: 'coin' } });
    const sessionOn = async (contents: Map<string, Uint8Array>) => {
      const session = new TrainingSession({ engine: async () => engine, checkpoints: async () => store });
      session.setDataset(source, dataset);
      await session.loadModelFiles(demoModelFiles(contents), { isDemo: true });
      return session;
    };
    const answers = async (session: TrainingSession) => (await session.measure(undefined, 24)).results.map((row) => row.answer);
    const session = await sessionOn(demoModelContents());
    await expect(session.exportTrainedModel()).rejects.toThrow(/Nothing has been trained yet/);
    const baseline = await answers(session);
    const base = { ...defaultTrainingSettings(), epochs: 1, batchSize: 1, gradientAccumulation: 1 };

    const lora = { ...base, loraRank: 4, loraAlpha: 8, learningRate: 5e-2 };
    for (const settings of [{ ...base, fullFineTune: true, learningRate: 1e-2 }, lora, { ...lora, trainTokenLayers: true }]) {
      expect(await session.startTraining(settings)).toBe('finished');
      const trained = await answers(session);
      expect(trained, 'training must change the answers for the comparison to mean something').not.toEqual(baseline);
      const progress: number[] = [];
      const file = new Uint8Array(await (await session.exportTrainedModel((done) => progress.push(done))).arrayBuffer());
      expect(progress.at(-1)).toBe(demoModelContents().get('model.safetensors')!.byteLength);
      const contents = demoModelContents();
      contents.set('model.safetensors', file);
      const reloaded = await sessionOn(contents);
      expect(await answers(reloaded), settings.fullFineTune ? 'full fine-tune' : settings.trainTokenLayers ? 'LoRA with token layers' : 'LoRA').toEqual(trained);
      await reloaded.dispose();
      // An adapter file alone would answer otherwise: the embedding and the head it lacks were trained.
      if (settings.trainTokenLayers) await expect(session.exportAdapter()).rejects.toThrow(/download the trained model instead/);
    }
    await session.dispose();
    store.close();
  });
});
