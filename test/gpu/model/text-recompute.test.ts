// Recomputing each decoder block on the backward pass (TextForwardOptions.recompute) gives the
// loss and gradients of storing its activations: full fine-tuning of every text weight plus LoRA
// adapters with B ≠ 0 and image embeddings that take a gradient (as when the vision tower
// trains), on the tiny fixture with a padded batch of three sequences; and it holds fewer bytes
// at its peak.
import { describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import { LoraAdapters, LORA_TARGETS, loraLayerNames, type LoraAdapterData } from '../../../src/gpu/lora.ts';
import { IGNORE_INDEX } from '../../../src/gpu/ops/cross-entropy.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { namedTextParameters, textWeightsFrom } from '../../../src/model/text-weights.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { tinyConfig, trainingIds, uploadTextWeights } from '../../helpers/text-fixture.ts';

const IMAGE_TOKENS = 16;
const DIM = 64;

describe('recomputing decoder blocks on the backward pass', () => {
  for (const what of ['full fine-tune and LoRA, image embeddings trained', 'LoRA only'] as const) {
    it(`gives the gradients of stored activations with a lower peak (${what})`, async () => {
      const engine = await testEngine();
      const weightMap = uploadTextWeights(engine, 'model.safetensors');
      const weights = textWeightsFrom(weightMap, tinyConfig);
      const decoder = new TextDecoder(engine, weights, tinyConfig, { maskMode: 'prefix' });
      const names = loraLayerNames(2, LORA_TARGETS);
      const data = new Map<string, LoraAdapterData>(
        names.map((name, i) => {
          const [outFeatures, inFeatures] = name.endsWith('qkv') ? [192, 64] : name.endsWith('fc1') ? [256, 64] : name.endsWith('fc2') ? [64, 256] : [64, 64];
          return [name, { a: randomFloats(2 * inFeatures, 10 + i, -0.3, 0.3), b: randomFloats(outFeatures * 2, 40 + i, -0.3, 0.3), inFeatures, outFeatures }];
        }),
      );
      const lora = LoraAdapters.fromData(engine, { rank: 2, alpha: 4, targets: LORA_TARGETS }, data);
      const samples = [trainingIds(30, 8, 1), trainingIds(41, 12, 2), trainingIds(20, 4, 3)];
      const images = samples.map((_, i) => engine.upload(randomFloats(IMAGE_TOKENS * DIM, 70 + i), [IMAGE_TOKENS, DIM]));
      const full = what !== 'LoRA only';
      const parameters = [...(full ? [...namedTextParameters(weights).map(([, tensor]) => tensor), ...images] : []), ...lora.parameters()];

      const run = async (recompute: boolean) => {
        await engine.sync();
        engine.pool.resetPeak();
        const before = engine.poolStats().liveBytes;
        const tape = new Tape(engine);
        tape.watch(...parameters);
        const length = Math.max(...samples.map(({ ids }) => ids.length));
        const targets = new Int32Array(samples.length * length).fill(IGNORE_INDEX);
        samples.forEach(({ targets: own }, row) => targets.set(own, row * length));
        const inputs = decoder.embedBatch(tape, samples.map(({ ids }, i) => ({ ids, image: images[i] })), length);
        const loss = decoder.loss(tape, inputs, targets, { lora, sequences: samples.length, recompute });
        tape.backward(loss);
        const values = [await engine.readFloat(loss)];
        for (const tensor of parameters) values.push(await engine.readFloat(tape.grad(tensor)!));
        const peak = engine.poolStats().peakLiveBytes - before;
        tape.dispose();
        inputs.dispose();
        loss.dispose();
        return { values, peak };
      };
      const stored = await run(false);
      const again = await run(true);
      // The recomputed forward runs the same kernels on the same inputs, so its activations are
      // the same bits; only where the block input's two gradients (residual and LayerNorm) are
      // summed differs. 1e-6 absolute on losses ~7 and gradients ≤ ~1.
      expect(Math.abs(again.values[0][0] - stored.values[0][0])).toBeLessThan(1e-6);
      again.values.slice(1).forEach((gradient, i) => expect(maxAbsDifference(gradient, stored.values[i + 1]), `gradient ${i}`).toBeLessThan(1e-6));
      expect(again.peak).toBeLessThan(stored.peak);
      lora.dispose();
      for (const tensor of [...images, ...(weightMap.values() as Iterable<Tensor>)]) tensor.dispose();
    });
  }
});
