// The engine under the limits a browser may grant. On a device with WebGPU's default limits
// (maxStorageBufferBindingSize 128 MiB, maxBufferSize 256 MiB; the tiny model fits them whole)
// the tiny model gives its golden greedy tokens. Under limits scaled down to the tiny model as
// the defaults are to Moondream2 (wte and lm_head [512, 64] f32 = 128 KiB over a 96 KiB
// binding, as [51200, 2048] f16 = 200 MB is over 128 MiB; a batch of four training sequences
// over one binding at fc1), the weights are split, training forwards and evaluation batches are
// cut smaller, and every result equals the unlimited engine's. The engine refuses any binding
// over its limits, so a tensor that was not split or tiled fails here instead of passing.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../src/gpu/engine.ts';
import { acquireNodeDevice } from '../../../src/gpu/node-device.ts';
import { loadMoondream, type Moondream } from '../../../src/model/moondream.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { trainingConfig } from '../../../src/train/config.ts';
import { evaluateSamples } from '../../../src/train/evaluate.ts';
import { ImageFeatureCache } from '../../../src/train/feature-cache.ts';
import { Xoshiro128 } from '../../../src/train/random.ts';
import { TrainingRun, type TrainingProgress } from '../../../src/train/trainer.ts';
import { trainingSequence } from '../../../src/train/training-sequence.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';
import { fixtureBytes, fixtureImage, goldenFile } from '../../helpers/fixture-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

const IMAGE_TOKENS = 16;
const DIM = 64;
const SCALED_LIMITS = { maxStorageBufferBindingSize: 96 * 1024, maxBufferSize: 192 * 1024 };
const SAMPLES = [
  { imagePath: 'a', question: '40 41 42 43 44 45', answer: '60 61' },
  { imagePath: 'b', question: '40 41 42', answer: '62' },
  { imagePath: 'c', question: '40 41 42 43', answer: '63 64 65' },
  { imagePath: 'd', question: '40 41', answer: '66' },
];

function fixtureFiles() {
  return memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]]));
}

function picture() {
  const { width, height, pixels } = fixtureImage();
  return rgbImage(width, height, pixels);
}

/** Seeded embeddings per image path: the stand-in for the frozen vision encoder. */
function syntheticFeatures(engine: Engine): ImageFeatureCache {
  return new ImageFeatureCache(engine, async (path) => {
    const random = Xoshiro128.fromSeed(path.charCodeAt(0));
    return engine.upload(Float32Array.from({ length: IMAGE_TOKENS * DIM }, () => random.nextFloat() * 2 - 1), [IMAGE_TOKENS, DIM]);
  });
}

/** One optimizer step over all four samples at batch 4: the loss and the adapters after it. */
async function trainedOnce(model: Moondream): Promise<{ loss: number | null; adapters: Float32Array[] }> {
  const progress: TrainingProgress[] = [];
  const config = trainingConfig({ loraRank: 4, loraAlpha: 8, learningRate: 1e-3, epochs: 1, batchSize: 4, gradientAccumulation: 1, gradientClip: 0, checkpointInterval: 0, seed: 7 });
  const run = TrainingRun.start({ runId: 'limits', model, samples: SAMPLES, features: syntheticFeatures(model.engine), datasetFingerprint: 'fp', onProgress: (p) => progress.push(p) }, config);
  await run.run();
  const exported = await run.adapters!.export(model.engine);
  run.dispose();
  return { loss: progress[0].loss, adapters: [...exported.values()].flatMap(({ a, b }) => [a, b]) };
}

describe('the engine under limits a browser may grant', () => {
  it("runs the tiny model on a device with WebGPU's default limits", async () => {
    const engine = new Engine(await acquireNodeDevice({ swiftShader: process.env.MOONTUNE_SWIFTSHADER !== '0', defaultLimits: true }));
    expect(engine.limits).toEqual({ maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 });
    const model = await loadMoondream(engine, fixtureFiles(), { precision: 'f32' });
    const result = await model.query(picture(), '40 41 42 43', { temperature: 0, maxTokens: 12 });
    expect(result.tokens).toEqual(Array.from(goldenFile().int32('greedy_tokens')));
    model.dispose();
  }, 120_000);

  it('splits weights, cuts training and evaluation batches, and gives the results of no limits', async () => {
    const unlimited = await testEngine();
    const limited = new Engine(unlimited.context, SCALED_LIMITS);
    const whole = await loadMoondream(unlimited, fixtureFiles(), { precision: 'f32' });
    const split = await loadMoondream(limited, fixtureFiles(), { precision: 'f32' });
    try {
      expect(split.weights.rowParts('model.text.wte').length).toBeGreaterThan(1);
      expect(whole.weights.rowParts('model.text.wte').length).toBe(1);
      // The longest training sequence: four of them at once would pass one binding at fc1.
      const longest = Math.max(...SAMPLES.map((s) => trainingSequence(split.revision, split.tokenizer, IMAGE_TOKENS, s.question, s.answer).ids.length));
      expect(split.decoder.sequencesPerPass(longest)).toBeLessThan(4);
      expect(whole.decoder.sequencesPerPass(longest)).toBeGreaterThanOrEqual(4);

      const query = await split.query(picture(), '40 41 42 43', { temperature: 0, maxTokens: 12 });
      expect(query.tokens).toEqual(Array.from(goldenFile().int32('greedy_tokens')));

      const [wholeRun, splitRun] = [await trainedOnce(whole), await trainedOnce(split)];
      // The same sums, split over more dispatches and forwards weighted by their share: f32
      // rounding of a loss ~6, 1e-5. AdamW's first step moves each value by lr·g/(|g| + eps),
      // which turns a gradient's rounding (~1e-9 near g = 0) into up to lr/eps = 1e3 times as
      // much: 1e-6, so 1e-5 for the adapters.
      expect(Math.abs(splitRun.loss! - wholeRun.loss!)).toBeLessThan(1e-5);
      splitRun.adapters.forEach((values, i) => expect(maxAbsDifference(values, wholeRun.adapters[i]), `tensor ${i}`).toBeLessThan(1e-5));

      // Twelve images asked at once: the scaled limits take them in smaller batches, with the same answers.
      const samples = Array.from({ length: 12 }, (_, i) => ({ imagePath: 'abcdefghijkl'[i], question: '40 41 42 43', answer: '60' }));
      const answers = async (model: Moondream) => (await evaluateSamples(model, syntheticFeatures(model.engine), samples, ['penny'], { maxTokens: 6, batchSize: 12 })).results.map((r) => r.answer);
      expect(await answers(split)).toEqual(await answers(whole));
    } finally {
      whole.dispose();
      split.dispose();
    }
  }, 300_000);
});
