// The text decoder over weights split by rows: the tiny model loaded with an 8 KiB "binding limit"
// splits wte and lm_head [512, 64] f32 (256 B a row) into 16 blocks of 32 rows, qkv [192, 64] into
// 6, fc1 [256, 64] into 8 and fc2 [64, 256] (1 KiB a row) into 8 — as wte and lm_head [51200,
// 2048] in f16 (200 MB) are split on a device that allows 128 MiB per binding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import type { Engine } from '../../../src/gpu/engine.ts';
import { loadMoondream, type Moondream } from '../../../src/model/moondream.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { isSplit } from '../../../src/model/layers.ts';
import { trainingConfig } from '../../../src/train/config.ts';
import { createTrainableParameters } from '../../../src/train/trainable-parameters.ts';
import { fixtureBytes, fixtureImage, goldenFile } from '../../helpers/fixture-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32 } from '../../helpers/random.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const SMALL_BINDING = 8192;

function fixtureFiles() {
  return memoryModelFiles('moondream-tiny', new Map([
    ['config.json', fixtureBytes('config.json')],
    ['model.safetensors', fixtureBytes('model.safetensors')],
  ]));
}

function image() {
  const { width, height, pixels } = fixtureImage();
  return rgbImage(width, height, pixels);
}


describe('Moondream with text weights split by rows', () => {
  let engine: Engine;
  let whole: Moondream;
  let split: Moondream;
  const golden = goldenFile();

  beforeAll(async () => {
    engine = await testEngine();
    whole = await loadMoondream(engine, fixtureFiles(), { precision: 'f32' });
    split = await loadMoondream(engine, fixtureFiles(), { precision: 'f32', maxBindingBytes: SMALL_BINDING });
  });

  afterAll(() => {
    whole?.dispose();
    split?.dispose();
  });

  it('splits wte, lm_head and the block Linears', () => {
    const parts = (name: string) => split.weights.rowParts(name).length;
    expect(parts('model.text.wte')).toBe(16);
    expect(parts('model.text.lm_head.weight')).toBe(16);
    expect(parts('model.text.blocks.0.attn.qkv.weight')).toBe(6);
    expect(parts('model.text.blocks.1.mlp.fc1.weight')).toBe(8);
    expect(parts('model.text.blocks.1.mlp.fc2.weight')).toBe(8);
    expect(isSplit(split.decoder.weights.wte)).toBe(true);
    expect(isSplit(split.decoder.weights.lmHead.weight)).toBe(true);
    expect(isSplit(whole.decoder.weights.wte)).toBe(false);
  });

  it('answers with the golden greedy tokens and the prefill logits of the unsplit model', async () => {
    const picture = image();
    const result = await split.query(picture, '40 41 42 43', { temperature: 0, maxTokens: 12 });
    expect(result.tokens).toEqual(Array.from(golden.int32('greedy_tokens')));
    const splitLogits = await split.promptLogits(picture, '40 41 42 43');
    const wholeLogits = await whole.promptLogits(image(), '40 41 42 43');
    // Each output is the same f32 dot product over K ≤ 256 either way; only which dispatch and
    // tile computes it changes, so any difference is summation-order rounding of values up to
    // ~7: well under 1e-5. The golden itself is matched to 2e-4 (fixture README, as moondream.test.ts).
    expect(maxAbsDifference(splitLogits, wholeLogits)).toBeLessThan(1e-5);
    expect(maxAbsDifference(splitLogits, golden.float32('prefill_logits_last'))).toBeLessThan(2e-4);
  });

  it('trains LoRA adapters through split weights with the gradients of the unsplit model', async () => {
    const config = trainingConfig({ loraRank: 4, loraAlpha: 8 });
    const ids = golden.int32('train_input_ids');
    const targets = golden.int32('train_shifted_labels');
    const imageEmbeddings = engine.uploadWeight(golden.float32('image_embeddings'), [16, 64], 'f32', 'image_embeddings');
    const gradients = async (model: Moondream) => {
      // Same seed: the same A (B is zero), so both runs compute the same function.
      const trainable = createTrainableParameters(engine, model, config, mulberry32(5));
      const tape = new Tape(engine);
      tape.watch(...trainable.tensors);
      const inputs = model.decoder.embed(tape, ids, imageEmbeddings);
      const loss = model.decoder.loss(tape, inputs, targets, { lora: trainable.adapters });
      tape.backward(loss);
      const values = [await engine.readFloat(loss)];
      for (const tensor of trainable.tensors) values.push(await engine.readFloat(tape.grad(tensor)!));
      tape.dispose();
      inputs.dispose();
      loss.dispose();
      trainable.dispose();
      return values;
    };
    const [wholeLoss, ...wholeGrads] = await gradients(whole);
    const [splitLoss, ...splitGrads] = await gradients(split);
    imageEmbeddings.dispose();
    // B = 0: the loss is the base model's train_loss (README: float32 agreement 1e-5).
    expect(Math.abs(splitLoss[0] - golden.float32('train_loss')[0])).toBeLessThan(1e-5);
    expect(Math.abs(splitLoss[0] - wholeLoss[0])).toBeLessThan(1e-6);
    expect(splitGrads).toHaveLength(wholeGrads.length);
    // Same sums in possibly another order (gradients ~1e-2, sums over 32 positions): 1e-6.
    splitGrads.forEach((grad, i) => expect(maxAbsDifference(grad, wholeGrads[i]), `gradient ${i}`).toBeLessThan(1e-6));
  });

  it('refuses full fine-tuning of split weights, saying what to do instead', () => {
    expect(() => createTrainableParameters(engine, split, trainingConfig({ fullFineTune: true }), mulberry32(1))).toThrow(
      /model\.text\.wte is split into 16 row blocks[\s\S]*Train LoRA adapters instead/,
    );
  });
});
