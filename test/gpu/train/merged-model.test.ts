// The merged model read back by moontune: the demo model's model.safetensors with a LoRA adapter
// merged in (mergedModelStream), loaded as a model of its own, answers a demo question with the
// same greedy tokens as the base model carrying the adapter in memory — and, for the test to mean
// something, those differ from the base model's own tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import { LoraAdapters } from '../../../src/gpu/lora.ts';
import { openWeights } from '../../../src/model/model-source.ts';
import { loadMoondream, type Moondream } from '../../../src/model/moondream.ts';
import type { RgbImage } from '../../../src/model/rgb-image.ts';
import { mergedModelStream } from '../../../src/train/merged-model.ts';
import { randomAdapterFile } from '../../helpers/adapters.ts';
import { demoModelContents, demoModelFiles, demoTestImage } from '../../helpers/demo-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

describe('merged model export', () => {
  let engine: Engine;
  let model: Moondream;
  let image: RgbImage;
  let question: string;
  const settings = { temperature: 0, maxTokens: 10 };

  beforeAll(async () => {
    engine = await testEngine();
    model = await loadMoondream(engine, demoModelFiles(), { precision: 'f32' });
    ({ image, sample: { question } } = await demoTestImage());
  });

  afterAll(() => model?.dispose());

  it('loads as a model that answers with the tokens of the base model carrying the adapter', async () => {
    const baseTokens = (await model.query(image, question, settings)).tokens;
    // Large enough to change the answer of the pre-trained demo model (±0.2 left its greedy tokens as they were).
    const adapterFile = randomAdapterFile(model, 4, 1);
    const adapters = LoraAdapters.fromData(engine, adapterFile.config, adapterFile.adapters);
    let adaptedTokens: number[];
    try {
      adaptedTokens = (await model.query(image, question, { ...settings, lora: adapters })).tokens;
    } finally {
      adapters.dispose();
    }
    expect(adaptedTokens).not.toEqual(baseTokens);

    const contents = demoModelContents();
    const base = await openWeights(demoModelFiles(contents));
    const merged = new Uint8Array(await new Response(mergedModelStream(base.stream, adapterFile, { expectedByteLength: base.byteLength })).arrayBuffer());
    expect(merged.byteLength).toBeGreaterThanOrEqual(contents.get('model.safetensors')!.byteLength - 64);
    contents.set('model.safetensors', merged);
    const mergedModel = await loadMoondream(engine, demoModelFiles(contents), { precision: 'f32' });
    try {
      // (W + s·B·A)·x and W·x + s·B·(A·x) differ by float32 rounding only: the greedy tokens agree.
      expect((await mergedModel.query(image, question, settings)).tokens).toEqual(adaptedTokens);
    } finally {
      mergedModel.dispose();
    }
  });
});
