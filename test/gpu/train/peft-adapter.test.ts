// The PEFT adapter read back by moontune: adapters written as adapter_config.json +
// adapter_model.safetensors, read with readPeftAdapter and loaded onto a freshly loaded base
// (demo) model, give the same greedy tokens as the model that carried them in memory — tokens
// that differ from the base model's own.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import { LoraAdapters } from '../../../src/gpu/lora.ts';
import { loadMoondream, type Moondream } from '../../../src/model/moondream.ts';
import type { RgbImage } from '../../../src/model/rgb-image.ts';
import { readPeftAdapter, writePeftAdapter } from '../../../src/train/peft-adapter.ts';
import { randomAdapterFile } from '../../helpers/adapters.ts';
import { demoModelFiles, demoTestImage } from '../../helpers/demo-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

describe('PEFT adapter export', () => {
  let engine: Engine;
  let image: RgbImage;
  let question: string;
  const settings = { temperature: 0, maxTokens: 10 };

  beforeAll(async () => {
    engine = await testEngine();
    ({ image, sample: { question } } = await demoTestImage());
  });

  async function answerWith(model: Moondream, adapters?: LoraAdapters): Promise<number[]> {
    return (await model.query(image, question, { ...settings, lora: adapters })).tokens;
  }

  it('loads back onto the base model and answers as the model that carried the adapter', async () => {
    const trained = await loadMoondream(engine, demoModelFiles(), { precision: 'f32' });
    // Large enough to change the answer of the pre-trained demo model (±0.2 left its greedy tokens as they were).
    const adapterFile = randomAdapterFile(trained, 2, 1);
    const inMemory = LoraAdapters.fromData(engine, adapterFile.config, adapterFile.adapters);
    const baseTokens = await answerWith(trained);
    const adaptedTokens = await answerWith(trained, inMemory);
    inMemory.dispose();
    const files = writePeftAdapter(adapterFile, trained.revision);
    trained.dispose();
    expect(adaptedTokens).not.toEqual(baseTokens);

    const base = await loadMoondream(engine, demoModelFiles(), { precision: 'f32' });
    const read = readPeftAdapter(files);
    const loaded = LoraAdapters.fromData(engine, read.config, read.adapters);
    try {
      // The same f32 values on the same device: the tokens are identical, not just close.
      expect(await answerWith(base, loaded)).toEqual(adaptedTokens);
    } finally {
      loaded.dispose();
      base.dispose();
    }
  });
});
