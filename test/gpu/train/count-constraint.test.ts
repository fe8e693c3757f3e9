// Counting-constrained answers of the shipped demo model (random weights, its own BPE tokenizer)
// on demo test images: greedy answers through evaluateSamples and sampled ones through
// Moondream.query all parse as JSON of the counting format with keys in class order (the oracle
// of helpers/count-answers.ts); unconstrained, the same model writes noise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CountingDataset, DatasetImage, DatasetSource } from '../../../src/dataset/types.ts';
import { loadMoondream, type Moondream } from '../../../src/model/moondream.ts';
import type { RgbImage } from '../../../src/model/rgb-image.ts';
import { countAnswerConstraint } from '../../../src/train/count-constraint.ts';
import { datasetImageEmbeddings, splitSamples } from '../../../src/train/dataset-samples.ts';
import { evaluateSamples } from '../../../src/train/evaluate.ts';
import { ImageFeatureCache } from '../../../src/train/feature-cache.ts';
import { isCountAnswer } from '../../helpers/count-answers.ts';
import { demoModelFiles, demoTestImage } from '../../helpers/demo-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32 } from '../../helpers/random.ts';

describe('count-constrained answers of the demo model', () => {
  let model: Moondream;
  let source: DatasetSource;
  let dataset: CountingDataset;
  let classNames: string[];
  let sample: DatasetImage;
  let image: RgbImage;

  beforeAll(async () => {
    model = await loadMoondream(await testEngine(), demoModelFiles(), { precision: 'f32' });
    ({ source, dataset, sample, image } = await demoTestImage());
    classNames = dataset.classes.map((entry) => entry.name);
  });

  afterAll(() => model?.dispose());

  it('measures greedy answers that all parse as counts, where unconstrained ones do not', async () => {
    const samples = splitSamples(dataset, 'test').slice(0, 4);
    const features = new ImageFeatureCache(model.engine, datasetImageEmbeddings(model.engine, model.vision, source, dataset));
    const constraint = countAnswerConstraint(model, classNames);
    const constrained = await evaluateSamples(model, features, samples, classNames, { maxTokens: 48, constraint });
    expect(constrained.parseableFraction).toBe(1);
    for (const { answer } of constrained.results) expect(isCountAnswer(answer, classNames), JSON.stringify(answer)).toBe(true);
    const free = await evaluateSamples(model, features, samples, classNames, { maxTokens: 48 });
    expect(free.results.filter(({ answer }) => isCountAnswer(answer, classNames)).length).toBeLessThan(samples.length);
  });

  it('samples answers of the counting format with entries, keys in class order', async () => {
    const constraint = countAnswerConstraint(model, classNames);
    const answers: string[] = [];
    // Pre-trained on captions, the demo model puts the JSON entry tokens far below "{}" (at
    // temperature 2, 8 and 40, six answers of six were "{}"): at 1000 sampling is near uniform over
    // what the constraint allows, which is what this checks. The vocabulary has a "{}" token, so
    // even uniform sampling answers "{}" a third of the time or more: twelve draws.
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) {
      const result = await model.query(image, sample.question, { temperature: 1000, topP: 1, maxTokens: 60, random: mulberry32(seed), constraint });
      expect(result.hitEos).toBe(true);
      answers.push(result.answer);
    }
    for (const answer of answers) expect(isCountAnswer(answer, classNames), JSON.stringify(answer)).toBe(true);
    expect(answers.some((answer) => answer.includes(':'))).toBe(true);
  });
});
