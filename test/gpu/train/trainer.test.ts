// The training loop on the tiny fixture model (test/fixtures/moondream-tiny, f32 weights): LoRA
// training lowers the loss on a tiny synthetic set; a run paused, checkpointed to IndexedDB
// (fake-indexeddb) and resumed in a new TrainingRun ends with the same adapter weights, bit for
// bit, as an uninterrupted run (same dispatches in the same order on the same device, so no
// tolerance is needed); greedy evaluation reproduces the fixture's golden greedy tokens.
// Kept small: on SwiftShader one tiny-model sample takes seconds and gradient clipping ~10 s.
import type { LoraAdapters } from '../../../src/gpu/lora.ts';
import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import { loadMoondream, type Moondream } from '../../../src/model/moondream.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { namedTextParameters } from '../../../src/model/text-weights.ts';
import { readAdapterFile } from '../../../src/train/adapter-export.ts';
import { IndexedDbCheckpointStore } from '../../../src/train/checkpoint-idb.ts';
import { trainingConfig, type TrainingConfig } from '../../../src/train/config.ts';
import { evaluateSamples } from '../../../src/train/evaluate.ts';
import { epochPermutation } from '../../../src/train/data-order.ts';
import { ImageFeatureCache, UnusableImageError } from '../../../src/train/feature-cache.ts';
import { Xoshiro128 } from '../../../src/train/random.ts';
import { TrainingRun, type TrainingProgress, type TrainingRunOptions, type TrainingSample } from '../../../src/train/trainer.ts';
import { trainingSequence } from '../../../src/train/training-sequence.ts';
import { fixtureBytes, fixtureImage, goldenFile } from '../../helpers/fixture-files.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { namedVisionParameters } from '../../../src/model/vision-weights.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

const IMAGE_TOKENS = 16;
const DIM = 64;

// Synthetic image embeddings (seeded per image) stand in for the frozen vision encoder.
const SAMPLES: TrainingSample[] = [
  { imagePath: 'a', question: '40 41', answer: '60 61' },
  { imagePath: 'b', question: '40 41', answer: '62' },
  { imagePath: 'c', question: '40 41', answer: '63 64 65' },
  { imagePath: 'd', question: '40 41', answer: '66' },
];

const CONFIG: TrainingConfig = trainingConfig({
  loraRank: 4,
  loraAlpha: 8,
  learningRate: 3e-2,
  epochs: 1,
  batchSize: 1,
  gradientAccumulation: 1,
  gradientClip: 0,
  checkpointInterval: 0,
  seed: 7,
  evalMaxTokens: 6,
});

/** Seeded embeddings per image path: the stand-in for the frozen vision encoder. */
function syntheticEmbeddings(engine: Engine, path: string) {
  const random = Xoshiro128.fromSeed(path.charCodeAt(0));
  return engine.upload(Float32Array.from({ length: IMAGE_TOKENS * DIM }, () => random.nextFloat() * 2 - 1), [IMAGE_TOKENS, DIM]);
}

describe('TrainingRun on the tiny model', () => {
  let engine: Engine;
  /** The adapters of the uninterrupted run with clipping (the pause/resume test), for the failure test. */
  let straightAdapters: Float32Array[] | undefined;
  let model: Moondream;
  let features: ImageFeatureCache;
  let store: IndexedDbCheckpointStore;

  beforeAll(async () => {
    engine = await testEngine();
    const files = memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]]));
    model = await loadMoondream(engine, files, { precision: 'f32' });
    features = new ImageFeatureCache(engine, async (path) => syntheticEmbeddings(engine, path));
    store = await IndexedDbCheckpointStore.open('train-loop-test');
  });

  afterAll(() => {
    store.close();
    model.dispose();
  });

  const options = (overrides: Partial<TrainingRunOptions> = {}): TrainingRunOptions => ({
    runId: 'tiny', model, samples: SAMPLES, features, datasetFingerprint: 'fp-1', store, ...overrides,
  });

  /** Mean answer loss over the set, without a tape (the model as loaded, or with a run's adapters). */
  async function meanLoss(lora?: LoraAdapters): Promise<number> {
    let sum = 0;
    for (const sample of SAMPLES) {
      const { ids, targets } = trainingSequence(model.revision, model.tokenizer, IMAGE_TOKENS, sample.question, sample.answer);
      const image = await features.get(sample.imagePath);
      const loss = engine.scope(() => model.decoder.loss(null, model.decoder.embed(null, ids, image), targets, { lora }));
      sum += (await engine.readFloat(loss))[0];
      loss.dispose();
      image.dispose();
    }
    return sum / SAMPLES.length;
  }

  async function adapterValues(run: TrainingRun): Promise<Float32Array[]> {
    const exported = await run.adapters!.export(engine);
    return [...exported.values()].flatMap(({ a, b }) => [a, b]);
  }

  it('lowers the loss, reports progress, and leaves the model unchanged once disposed', { timeout: 400_000 }, async () => {
    const before = await meanLoss();
    const progress: TrainingProgress[] = [];
    const run = TrainingRun.start(options({ store: undefined, onProgress: (p) => progress.push(p) }), trainingConfig({ ...CONFIG, epochs: 3, gradientAccumulation: 2 }));
    expect(run.totalSteps).toBe(6); // 3 epochs × 4 samples / 2 per step
    expect(await meanLoss(run.adapters)).toBeCloseTo(before, 5); // B = 0: a fresh adapter changes nothing
    expect(await run.run()).toBe('finished');
    const after = await meanLoss(run.adapters);
    // A random tiny model starts near ln(512) ≈ 6.2 per answer token; 6 steps over the 4
    // samples must bring the mean down by a clear margin, not by noise.
    expect(after).toBeLessThan(before - 1);
    expect(progress).toHaveLength(6);
    expect(progress.at(-1)).toMatchObject({ step: 6, totalSteps: 6, etaSeconds: 0 });
    expect(progress[0].learningRate).toBe(3e-2); // step 0 at the constructor rate (spec §11.1)
    // Step 1 of 6: x = 1/6 ≥ 0.1, so the cosine at (1/6 − 0.1)·π = π/15: 0.1·LR + 0.9·LR·(1 + cos(π/15))/2.
    expect(progress[1].learningRate).toBeCloseTo(3e-3 + (27e-3 * (1 + 0.9781476007338057)) / 2, 12);
    expect(progress.every((p) => p.tokensPerSecond > 0 && Number.isFinite(p.loss) && p.gradientNorm === undefined)).toBe(true);
    run.dispose();
    expect(run.adapters!.names).toEqual([]); // freed with the run
    expect(await meanLoss()).toBeCloseTo(before, 5);
  });

  it('recomputes decoder blocks when the memory budget says so, ending with the adapters of a run that stores them', { timeout: 400_000 }, async () => {
    const config = trainingConfig({ ...CONFIG, batchSize: 2 });
    const trained = async (runId: string, overrides: Partial<TrainingRunOptions>) => {
      const progress: TrainingProgress[] = [];
      const run = TrainingRun.start(options({ runId, store: undefined, onProgress: (p) => progress.push(p), ...overrides }), config);
      await run.run();
      const values = await adapterValues(run);
      run.dispose();
      return { values, progress };
    };
    // The default budget (an 8 GB card) holds the tiny model's activations many times over;
    // a limit of one byte cannot hold any, so every step recomputes.
    const stored = await trained('stored', {});
    const recomputed = await trained('recomputed', { memoryLimitBytes: 1 });
    expect(stored.progress.map((p) => p.recomputing)).toEqual([false, false]);
    expect(recomputed.progress.map((p) => p.recomputing)).toEqual([true, true]);
    // Same kernels on the same inputs; gradients differ at most in the order two terms are added
    // (text-recompute.test.ts), and two AdamW steps of LR 3e-2 carry that to ~1e-7: 1e-6.
    recomputed.values.forEach((values, i) => expect(maxAbsDifference(values, stored.values[i]), `tensor ${i}`).toBeLessThan(1e-6));
    expect(recomputed.progress.map((p) => p.loss)).toEqual(stored.progress.map((p) => p.loss));
  });

  it('paused, checkpointed and resumed in a new run, ends with bit-identical adapters', { timeout: 400_000 }, async () => {
    // Clipping on here, so the resumed run must also reproduce the clipped steps.
    const config = trainingConfig({ ...CONFIG, gradientClip: 0.5 });
    const saved: number[] = [];
    const uninterrupted = TrainingRun.start(options({ runId: 'straight', onCheckpoint: (s) => saved.push(s.step) }), trainingConfig({ ...config, checkpointInterval: 1 }));
    expect(await uninterrupted.run()).toBe('finished');
    expect(saved).toEqual([1, 2, 3, 4]); // every step, the last one once
    expect((await store.list('straight')).map((s) => s.step)).toEqual([4]); // older ones replaced
    const expected = await adapterValues(uninterrupted);
    straightAdapters = expected;
    const expectedHistory = uninterrupted.history;
    uninterrupted.dispose();

    let first: TrainingRun | undefined;
    first = TrainingRun.start(options({ runId: 'interrupted', onProgress: (p) => p.step === 2 && first!.pause() }), config);
    const running = first.run();
    await expect(first.run()).rejects.toThrow(/already training/);
    expect(await running).toBe('paused');
    expect(first.step).toBe(2);
    first.dispose(); // as a page reload would

    const summaries = await store.list('interrupted');
    expect(summaries.map((s) => s.step)).toEqual([2]);
    expect(summaries[0].tensorBytes).toBeGreaterThan(0);
    const checkpoint = await store.latest('interrupted', 'fp-1');
    const resumed = TrainingRun.resume(options({ runId: 'interrupted' }), checkpoint!);
    expect(resumed.step).toBe(2);
    expect(await resumed.run()).toBe('finished');
    expect(resumed.step).toBe(4);
    const actual = await adapterValues(resumed);
    expect(actual.length).toBe(expected.length);
    actual.forEach((values, index) => expect(values, `tensor ${index}`).toEqual(expected[index]));
    expect(resumed.history).toEqual(expectedHistory);
    expect((await store.latest('interrupted'))!.step).toBe(4);
    expect(resumed.history.every((point) => point.gradientNorm! > 0)).toBe(true);
    const exported = readAdapterFile(await resumed.exportAdapterFile());
    expect(exported.config).toEqual({ rank: 4, alpha: 8, targets: ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'] });
    expect([...exported.adapters.values()].flatMap(({ a, b }) => [a, b])).toEqual(expected);
    resumed.dispose();
  });

  it('a step that fails saves the step before it; resuming from there ends as the uninterrupted run', { timeout: 400_000 }, async () => {
    expect(straightAdapters, 'the pause/resume test must run first').toBeDefined();
    const config = trainingConfig({ ...CONFIG, gradientClip: 0.5 }); // checkpointInterval 0: no save but the failure's
    // The image of step 3 (the order's third sample) fails the first time it is computed.
    const failing = SAMPLES[epochPermutation(config.seed, 0, SAMPLES.length)[2]].imagePath;
    let armed = true;
    const flaky = new ImageFeatureCache(engine, async (path) => {
      if (path === failing && armed) throw new Error('injected failure');
      return syntheticEmbeddings(engine, path);
    });
    const failed = TrainingRun.start(options({ runId: 'failing', features: flaky }), config);
    await expect(failed.run()).rejects.toThrow('injected failure');
    expect(failed.step).toBe(2);
    failed.dispose();
    expect((await store.list('failing')).map((s) => s.step)).toEqual([2]);
    const checkpoint = (await store.latest('failing', 'fp-1'))!;
    expect(checkpoint.dataOrder).toMatchObject({ epoch: 0, index: 2 }); // step 3's sample not consumed
    expect(checkpoint.metricHistory.map((point) => point.step)).toEqual([1, 2]);

    armed = false;
    const resumed = TrainingRun.resume(options({ runId: 'failing', features: flaky }), checkpoint);
    expect(await resumed.run()).toBe('finished');
    const actual = await adapterValues(resumed);
    actual.forEach((values, index) => expect(values, `tensor ${index}`).toEqual(straightAdapters![index]));
    resumed.dispose();
  });

  it('skips an image that cannot be decoded: its step makes no update and says so', { timeout: 400_000 }, async () => {
    const broken = new ImageFeatureCache(engine, async (path) => {
      if (path === 'b') throw new UnusableImageError('b', 'has corrupt PNG data (unexpected EOF); export or copy the image again.');
      return syntheticEmbeddings(engine, path);
    });
    const progress: TrainingProgress[] = [];
    const run = TrainingRun.start(options({ runId: 'skipping', features: broken, store: undefined, onProgress: (p) => progress.push(p) }), CONFIG);
    let previous = await adapterValues(run);
    const emptyStep = epochPermutation(CONFIG.seed, 0, SAMPLES.length).indexOf(1) + 1; // 'b' is sample 1
    for (let step = 1; step <= 4; step++) {
      const point = await run.trainStep();
      const values = await adapterValues(run);
      if (step === emptyStep) {
        expect(point.loss).toBeNull();
        // No sample, no update: every adapter value as before, bit for bit.
        values.forEach((tensor, index) => expect(tensor).toEqual(previous[index]));
      } else {
        expect(Number.isFinite(point.loss)).toBe(true);
        expect(values.some((tensor, index) => tensor.some((value, i) => value !== previous[index][i]))).toBe(true);
      }
      previous = values;
    }
    expect(run.step).toBe(4);
    expect(progress.map((p) => p.skippedImages.length)).toEqual([1, 2, 3, 4].map((step) => (step < emptyStep ? 0 : 1)));
    expect(progress.at(-1)!.skippedImages).toEqual([{ path: 'b', reason: 'has corrupt PNG data (unexpected EOF); export or copy the image again.' }]);
    run.dispose();
  });

  it('refuses to resume on another dataset', async () => {
    const run = TrainingRun.start(options({ runId: 'other-data' }), CONFIG);
    const checkpoint = await run.checkpoint();
    run.dispose();
    expect(() => TrainingRun.resume(options({ datasetFingerprint: 'fp-2' }), checkpoint)).toThrow(/another dataset .*load the dataset the run started with/);
  });

  it('evaluates with greedy decoding: the untrained model gives the golden greedy tokens', async () => {
    // Golden: image_embeddings of the fixture image and the greedy answer to "40 41 42 43".
    const golden = goldenFile();
    const goldenFeatures = new ImageFeatureCache(engine, async () => engine.upload(golden.float32('image_embeddings'), [IMAGE_TOKENS, DIM]));
    const greedy = Array.from(golden.int32('greedy_tokens')).slice(0, 6).join(' ');
    const samples = [
      { imagePath: 'image.png', question: '40 41 42 43', answer: greedy },
      { imagePath: 'image.png', question: '40 41 42 43', answer: '{"penny": 1}' },
    ];
    const done: number[] = [];
    const report = await evaluateSamples(model, goldenFeatures, samples, ['penny'], { maxTokens: 6, batchSize: 1, onProgress: (n) => done.push(n) });
    expect(done).toEqual([1, 2]);
    expect(report.results.map((r) => r.answer)).toEqual([greedy, greedy]);
    // Both images in one batch (one prefill, one decode step per token, argmax on the GPU): the same tokens.
    const batchedDone: number[] = [];
    const batched = await evaluateSamples(model, goldenFeatures, samples, ['penny'], { maxTokens: 6, onProgress: (n) => batchedDone.push(n) });
    expect(batchedDone).toEqual([2]);
    expect(batched.results.map((r) => r.answer)).toEqual([greedy, greedy]);
    expect(report.exactMatches).toBe(1);
    expect(report.answersWithoutCounts).toBe(1);
    expect(report.parseableFraction).toBe(0); // id tokens are no JSON
    expect(report.perClassAccuracy).toEqual([{ className: 'penny', accuracy: 0 }]);
  }, 300_000);

  it('refuses a checkpoint saved for other trainable tensors, and leaves the decoder without adapters', async () => {
    const run = TrainingRun.start(options({ runId: 'renamed' }), CONFIG);
    const checkpoint = await run.checkpoint();
    run.dispose();
    const renamed = { ...checkpoint, parameters: checkpoint.parameters.map((t, i) => (i === 0 ? { ...t, name: 'model.text.blocks.0.attn.qkv.lora_X' } : t)) };
    expect(() => TrainingRun.resume(options({ runId: 'renamed' }), renamed)).toThrow(/lora_X .*saved for another model\. Start a new run/);
    const otherRank = await (async () => {
      const other = TrainingRun.start(options({ runId: 'rank2' }), trainingConfig({ ...CONFIG, loraRank: 2 }));
      const saved = await other.checkpoint();
      other.dispose();
      return { ...saved, config: CONFIG }; // tensors of rank 2 under a rank-4 config
    })();
    expect(() => TrainingRun.resume(options({ runId: 'rank2' }), otherRank)).toThrow(/saved for another model/);
  });
});

describe('TrainingRun, full fine-tuning of the tiny text model', () => {
  const fresh = async (engine: Engine) =>
    loadMoondream(engine, memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]])), { precision: 'f32' });

  it('trains every text parameter and resumes to bit-identical weights', { timeout: 400_000 }, async () => {
    const engine = await testEngine();
    const features = new ImageFeatureCache(engine, async (path) => syntheticEmbeddings(engine, path));
    const store = await IndexedDbCheckpointStore.open('train-loop-full-test');
    const samples = SAMPLES.slice(0, 3);
    const config = trainingConfig({ ...CONFIG, fullFineTune: true, learningRate: 1e-3 });
    const weightsOf = async (model: Moondream) => {
      const named = new Map(namedTextParameters(model.decoder.weights));
      return Promise.all(['model.text.wte', 'model.text.lm_head.weight', 'model.text.blocks.1.mlp.fc2.weight'].map((name) => engine.readFloat(named.get(name)!)));
    };
    const runOptions = (model: Moondream, runId: string): TrainingRunOptions => ({ runId, model, samples, features, datasetFingerprint: 'fp-full', store });

    const straightModel = await fresh(engine);
    const initial = await weightsOf(straightModel);
    const straight = TrainingRun.start(runOptions(straightModel, 'full'), config);
    expect(straight.totalSteps).toBe(3);
    await straight.run();
    const expected = await weightsOf(straightModel);
    expect(expected[1]).not.toEqual(initial[1]); // lm_head moved
    straight.dispose();
    straightModel.dispose();

    const firstModel = await fresh(engine);
    const first = TrainingRun.start(runOptions(firstModel, 'full-resumed'), config);
    await first.trainStep();
    await first.save();
    first.dispose();
    firstModel.dispose();

    const resumedModel = await fresh(engine); // the weights as loaded: the checkpoint restores them
    const resumed = TrainingRun.resume(runOptions(resumedModel, 'full-resumed'), (await store.latest('full-resumed', 'fp-full'))!);
    await resumed.run();
    const actual = await weightsOf(resumedModel);
    actual.forEach((values, index) => expect(values, `weight ${index}`).toEqual(expected[index]));
    resumed.dispose();
    resumedModel.dispose();
    store.close();
  });

  it('decays matrices and leaves vectors (LayerNorm, biases) undecayed, as nanoGPT', { timeout: 200_000 }, async () => {
    const engine = await testEngine();
    const model = await fresh(engine);
    const features = new ImageFeatureCache(engine, async (path) => syntheticEmbeddings(engine, path));
    // lr·wd = 0.1: a decayed weight shrinks by a tenth, far more than the step's Adam update, which
    // at t = 1 is lr·g/(|g| + ε) ≤ lr = 1e-4 per value.
    const config = trainingConfig({ ...CONFIG, fullFineTune: true, learningRate: 1e-4, weightDecay: 1000 });
    const named = new Map(namedTextParameters(model.decoder.weights));
    const vectors = ['model.text.blocks.0.ln.weight', 'model.text.blocks.0.ln.bias', 'model.text.blocks.1.attn.qkv.bias', 'model.text.post_ln.weight'];
    const matrices = ['model.text.blocks.0.mlp.fc1.weight', 'model.text.lm_head.weight'];
    const read = () => Promise.all([...vectors, ...matrices].map((name) => engine.readFloat(named.get(name)!)));
    const before = await read();
    const run = TrainingRun.start({ runId: 'decay', model, samples: SAMPLES.slice(0, 1), features, datasetFingerprint: 'fp-decay' }, config);
    await run.trainStep();
    const after = await read();
    // Bound: the Adam update (≤ 1e-4) plus f32 rounding of values O(1) (≤ 1e-6).
    const bound = 1e-4 + 1e-6;
    vectors.forEach((name, index) => {
      const moved = Math.max(...after[index].map((value, i) => Math.abs(value - before[index][i])));
      expect(moved, name).toBeLessThanOrEqual(bound);
    });
    matrices.forEach((name, offset) => {
      const index = vectors.length + offset;
      const fromDecay = Math.max(...after[index].map((value, i) => Math.abs(value - 0.9 * before[index][i])));
      expect(fromDecay, name).toBeLessThanOrEqual(bound);
      expect(Math.max(...before[index].map(Math.abs)) * 0.1, `${name} is large enough to tell decay from the update`).toBeGreaterThan(10 * bound);
    });
    run.dispose();
    model.dispose();
  });
});

describe('TrainingRun with the vision tower trained too', () => {
  it('moves the vision and projection weights and lowers the loss on the fixture image', { timeout: 400_000 }, async () => {
    const engine = await testEngine();
    const model = await loadMoondream(engine, memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]])), { precision: 'f32' });
    const { width, height, pixels } = fixtureImage();
    const image = rgbImage(width, height, pixels);
    // The cached features are never read: every step encodes the image with the tape.
    const features = new ImageFeatureCache(engine, async () => {
      throw new Error('a vision-training run must not read cached features');
    });
    const samples = SAMPLES.slice(0, 2).map((sample) => ({ ...sample, imagePath: 'image.png' }));
    const config = trainingConfig({ ...CONFIG, fullFineTune: true, trainVision: true, learningRate: 1e-3, epochs: 2 });
    const named = new Map(namedVisionParameters(model.vision.weights));
    const watched = ['model.vision.patch_emb.weight', 'model.vision.blocks.0.attn.qkv.weight', 'model.vision.proj_mlp.fc2.bias'];
    const initial = await Promise.all(watched.map((name) => engine.readFloat(named.get(name)!)));
    const run = TrainingRun.start({ runId: 'vision', model, samples, features, images: async () => image, datasetFingerprint: 'fp-vision' }, config);
    expect(run.totalSteps).toBe(4);
    const losses: number[] = [];
    while (!run.finished) losses.push((await run.trainStep()).loss!);
    const after = await Promise.all(watched.map((name) => engine.readFloat(named.get(name)!)));
    after.forEach((values, index) => expect(values, watched[index]).not.toEqual(initial[index]));
    // Same two samples each epoch: the second epoch's losses are below the first's.
    expect(losses[2] + losses[3]).toBeLessThan(losses[0] + losses[1]);
    run.dispose();
    model.dispose();
  });

  it('refuses to start without the images', async () => {
    const engine = await testEngine();
    const model = await loadMoondream(engine, memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]])), { precision: 'f32' });
    const features = new ImageFeatureCache(engine, async () => engine.zeros([IMAGE_TOKENS, DIM]));
    expect(() => TrainingRun.start({ runId: 'no-images', model, samples: SAMPLES, features, datasetFingerprint: 'fp' }, trainingConfig({ ...CONFIG, trainVision: true }))).toThrow(/needs the images themselves/);
    model.dispose();
  });
});
