// Pre-training the demo model (src/train/demo-pretraining.ts, run by `npm run demo:pretrain`):
// from a fixed seed a few steps lower the losses, and the same seed gives the same weights bit for
// bit (same dispatches in the same order on the same device). A few small steps only: the whole
// pre-training takes the better part of an hour on this CPU.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PRETRAINING, DemoPretraining, demoModelContents, demoModelFromFolder, initialDemoModel, type PretrainingStep } from '../../../src/train/demo-pretraining.ts';
import { DEMO_MODEL_DIR } from '../../helpers/demo-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

const tokenizerJson = JSON.parse(readFileSync(join(DEMO_MODEL_DIR, 'tokenizer.json'), 'utf8'));
const SETTINGS = { ...DEFAULT_PRETRAINING, steps: 40, batchSize: 4, learningRate: 3e-3, warmupFraction: 0 };

async function pretrain(steps: number, settings = SETTINGS): Promise<{ curve: PretrainingStep[]; weights: Map<string, Float32Array> }> {
  const engine = await testEngine();
  const { model, initial } = await initialDemoModel(engine, tokenizerJson, 7);
  const pretraining = new DemoPretraining(model, initial, settings);
  const curve: PretrainingStep[] = [];
  for (let step = 0; step < steps; step++) curve.push(await pretraining.trainStep());
  const weights = new Map((await pretraining.weights()).map(({ name, values }) => [name, values]));
  pretraining.dispose();
  model.weights.dispose();
  return { curve, weights };
}

describe('demo pre-training', () => {
  it('lowers the caption and auxiliary losses within a few steps, and one seed gives one set of weights', async () => {
    const first = await pretrain(6);
    const [start, end] = [first.curve[0], first.curve.at(-1)!];
    // At the start the caption loss is about ln(vocabulary) ≈ 6 and the 5-way patch loss near
    // ln 5 ≈ 1.6 (measured 6.3 and 2.0); six steps of fresh images bring them to 2.0 and 0.53
    // (measured, batch 4), while step-to-step noise is ~0.5 and ~0.1.
    expect(start.captionLoss).toBeGreaterThan(5);
    expect(end.captionLoss).toBeLessThan(start.captionLoss - 1.5);
    expect(end.auxiliaryLoss).toBeLessThan(start.auxiliaryLoss - 0.3);
    for (const step of first.curve) expect(Number.isFinite(step.loss)).toBe(true);

    const second = await pretrain(6);
    expect(second.curve.map(({ loss }) => loss)).toEqual(first.curve.map(({ loss }) => loss));
    for (const [name, values] of first.weights) expect(second.weights.get(name), name).toEqual(values);
    // The trained weights moved; the region head (not trained) did not.
    const engineInitial = await initialDemoModel(await testEngine(), tokenizerJson, 7);
    const initial = new Map(engineInitial.initial.map(({ name, values }) => [name, values]));
    engineInitial.model.weights.dispose();
    expect(first.weights.get('model.vision.patch_emb.weight')).not.toEqual(initial.get('model.vision.patch_emb.weight'));
    expect(first.weights.get('model.text.lm_head.weight')).not.toEqual(initial.get('model.text.lm_head.weight'));
    expect(first.weights.get('model.region.coord_encoder.weight')).toEqual(initial.get('model.region.coord_encoder.weight'));
  }, 300_000);

  it('with count questions, also lowers the question loss, and a second stage starts from a written folder', async () => {
    const { curve, weights } = await pretrain(6, { ...SETTINGS, countQuestions: true });
    const [start, end] = [curve[0], curve.at(-1)!];
    // The question's answer is one digit and EOS: about ln(vocabulary) ≈ 6 at the start (measured
    // 6.2), and the digits and EOS are learned within a few steps (measured 2.1 after six).
    expect(start.questionLoss).toBeGreaterThan(4);
    expect(end.questionLoss).toBeLessThan(start.questionLoss - 1.5);
    // The total is the sum of the three (f32 additions of three numbers: 1e-5 relative).
    for (const step of curve) expect(step.loss).toBeCloseTo(step.captionLoss + step.questionLoss + step.auxiliaryLoss * SETTINGS.auxiliaryWeight, 4);

    // The weights written as the script writes them load back unchanged for the next stage.
    const engine = await testEngine();
    const { config, initial } = await initialDemoModel(engine, tokenizerJson, 7);
    const folder = mkdtempSync(join(tmpdir(), 'moontune-pretrained-'));
    try {
      const trained = initial.map((tensor) => ({ ...tensor, values: weights.get(tensor.name) ?? tensor.values }));
      for (const [file, bytes] of demoModelContents(tokenizerJson, config, trained, 'test')) writeFileSync(join(folder, file), bytes);
      const loaded = await demoModelFromFolder(engine, tokenizerJson, folder);
      expect(loaded.config).toEqual(config);
      expect(loaded.initial.map(({ name }) => name)).toEqual(trained.map(({ name }) => name));
      loaded.initial.forEach((tensor, index) => expect(tensor.values, tensor.name).toEqual(trained[index].values));
      expect(await engine.readFloat(loaded.model.decoder.weights.lmHead.bias)).toEqual(weights.get('model.text.lm_head.bias'));
      loaded.model.weights.dispose();
      // Weights trained for other token ids are refused rather than loaded under this vocabulary.
      const other = { ...tokenizerJson, model: { ...tokenizerJson.model, merges: tokenizerJson.model.merges.slice(1) } };
      writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(other));
      await expect(demoModelFromFolder(engine, tokenizerJson, folder)).rejects.toThrow(/not this run's tokenizer/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 300_000);
});
