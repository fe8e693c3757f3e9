// Training through the tape against the fixture's fine-tuning example (README "Fine-tuning
// example"): full fine-tuning of all 25 text parameters, and the two LoRA traces (3 AdamW steps).
// Tolerances from the README's expected float32 agreement: loss 1e-5; gradients 1e-4 absolute
// or 1e-3 relative (f32 sums over 32 positions of products of values up to ~7); LoRA A/B after
// AdamW steps 1e-5 absolute (updates are ~lr = 1e-3 in size; Adam's m/√v normalisation turns a
// 1e-3 relative gradient error into at most ~1e-6 of parameter change per step).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import type { Engine } from '../../../src/gpu/engine.ts';
import { LoraAdapters, type LoraAdapterData } from '../../../src/gpu/lora.ts';
import { adamwStep, createAdamWState } from '../../../src/gpu/ops/adamw.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { namedTextParameters, textWeightsFrom } from '../../../src/model/text-weights.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { goldenFile, tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const golden = goldenFile();
const ids = golden.int32('train_input_ids');
const targets = golden.int32('train_shifted_labels');
const LORA_TARGETS = ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'] as const;

function worstGradientError(actual: Float32Array, expected: Float32Array): number {
  // max over elements of |a − e| / max(1e-4, 1e-3·|e|): ≤ 1 means within 1e-4 abs or 1e-3 rel.
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1e-4, 1e-3 * Math.abs(expected[i])));
  return worst;
}

describe('training the tiny text decoder through the tape', () => {
  let engine: Engine;
  let weightMap: Map<string, Tensor>;
  let image: Tensor;

  beforeAll(async () => {
    engine = await testEngine();
    weightMap = uploadTextWeights(engine, 'model.safetensors');
    image = engine.uploadWeight(golden.float32('image_embeddings'), [16, 64], 'f32', 'image_embeddings');
  });

  afterAll(() => {
    for (const tensor of weightMap.values()) tensor.dispose();
    image.dispose();
  });

  it('gives train_loss and the gradient of every text parameter (full fine-tuning)', async () => {
    const weights = textWeightsFrom(weightMap, tinyConfig);
    const decoder = new TextDecoder(engine, weights, tinyConfig, { maskMode: 'prefix' });
    const before = engine.poolStats().liveBuffers;
    const parameters = namedTextParameters(weights);
    expect(parameters).toHaveLength(25);
    const tape = new Tape(engine);
    tape.watch(...parameters.map(([, tensor]) => tensor));
    const inputs = decoder.embed(tape, ids, image);
    const loss = decoder.loss(tape, inputs, targets);
    tape.backward(loss);
    expect(Math.abs((await engine.readFloat(loss))[0] - golden.float32('train_loss')[0])).toBeLessThan(1e-5);
    for (const [name, tensor] of parameters) {
      const grad = tape.grad(tensor);
      expect(grad, name).toBeDefined();
      expect(worstGradientError(await engine.readFloat(grad!), golden.float32(`grad.${name}`)), name).toBeLessThanOrEqual(1);
    }
    tape.dispose();
    inputs.dispose();
    loss.dispose();
    // Every activation, saved tensor and gradient went back to the pool.
    expect(engine.poolStats().liveBuffers).toBe(before);
  });

  for (const variant of ['lora_zeroB', 'lora_randB'] as const) {
    it(`reproduces the ${variant} trace: losses, gradients and A/B after 3 AdamW steps`, async () => {
      const weights = textWeightsFrom(weightMap, tinyConfig);
      const layerNames = [0, 1].flatMap((block) => LORA_TARGETS.map((target) => `model.text.blocks.${block}.${target}`));
      const data = new Map<string, LoraAdapterData>();
      for (const layer of layerNames) {
        const a = golden.float32(`${variant}.step0.${layer}.lora_A`);
        const b = golden.float32(`${variant}.step0.${layer}.lora_B`);
        data.set(layer, { a, b, inFeatures: a.length / 4, outFeatures: b.length / 4 });
      }
      const config = { rank: 4, alpha: 8, targets: LORA_TARGETS };
      const adapters = LoraAdapters.fromData(engine, config, data);
      const decoder = new TextDecoder(engine, weights, tinyConfig, { maskMode: 'prefix' });
      const parameters = adapters.parameters();
      const optimizer = createAdamWState(engine, parameters);
      const expectedLosses = golden.float32(`${variant}.loss`);
      const before = engine.poolStats().liveBuffers;
      let createdAfterFirstStep = 0;
      for (let step = 1; step <= 3; step++) {
        const tape = new Tape(engine);
        tape.watch(...parameters);
        const inputs = decoder.embed(tape, ids, image);
        const loss = decoder.loss(tape, inputs, targets, { lora: adapters });
        tape.backward(loss);
        expect(Math.abs((await engine.readFloat(loss))[0] - expectedLosses[step - 1]), `loss before step ${step}`).toBeLessThan(1e-5);
        for (const layer of layerNames) {
          const adapter = adapters.get(layer)!;
          for (const [tensor, suffix] of [[adapter.a, 'lora_A'], [adapter.b, 'lora_B']] as const) {
            const expected = golden.float32(`${variant}.grad_step${step}.${layer}.${suffix}`);
            const grad = tape.grad(tensor);
            const actual = grad ? await engine.readFloat(grad) : new Float32Array(expected.length);
            expect(worstGradientError(actual, expected), `grad ${layer}.${suffix} step ${step}`).toBeLessThanOrEqual(1);
          }
        }
        const grads = parameters.map((tensor) => tape.grad(tensor) ?? engine.zeros(tensor.shape));
        adamwStep(engine, parameters, grads, optimizer, { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0 });
        for (const grad of grads) if (!parameters.some((tensor) => tape.grad(tensor) === grad)) grad.dispose();
        tape.dispose();
        inputs.dispose();
        loss.dispose();
        expect(engine.poolStats().liveBuffers, `live buffers after step ${step}`).toBe(before);
        // Steps after the first reuse pooled buffers only: no new GPU allocations in the loop.
        if (step === 1) createdAfterFirstStep = engine.poolStats().created;
        else expect(engine.poolStats().created, `buffers created by step ${step}`).toBe(createdAfterFirstStep);
        const exported = await adapters.export(engine);
        for (const layer of layerNames) {
          const values = exported.get(layer)!;
          expect(maxAbsDifference(values.a, golden.float32(`${variant}.step${step}.${layer}.lora_A`)), `A ${layer} step ${step}`).toBeLessThan(1e-5);
          expect(maxAbsDifference(values.b, golden.float32(`${variant}.step${step}.${layer}.lora_B`)), `B ${layer} step ${step}`).toBeLessThan(1e-5);
        }
      }
      // The loss after the third step.
      const inputs = decoder.embed(null, ids, image);
      const loss = decoder.loss(null, inputs, targets, { lora: adapters });
      expect(Math.abs((await engine.readFloat(loss))[0] - expectedLosses[3])).toBeLessThan(1e-5);
      inputs.dispose();
      loss.dispose();
      optimizer.firstMoments.forEach((tensor) => tensor.dispose());
      optimizer.secondMoments.forEach((tensor) => tensor.dispose());
      adapters.dispose();
    });
  }
});
