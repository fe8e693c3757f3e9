// A batch of sequences of different lengths, padded and stacked, gives the loss and the gradients
// of the same sequences run one at a time, averaged (the loss is the mean over samples of each
// sample's mean answer loss): full fine-tuning of every text weight plus LoRA adapters with B ≠ 0,
// on the tiny fixture, for the prefix mask (2025) and the causal one (2024).
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

describe('a padded batch of sequences', () => {
  for (const maskMode of ['prefix', 'causal'] as const) {
    it(`gives the averaged loss and gradients of the sequences run alone (${maskMode} mask)`, async () => {
      const engine = await testEngine();
      const weightMap = uploadTextWeights(engine, 'model.safetensors');
      const weights = textWeightsFrom(weightMap, tinyConfig);
      const decoder = new TextDecoder(engine, weights, tinyConfig, { maskMode });
      const names = loraLayerNames(2, LORA_TARGETS);
      const data = new Map<string, LoraAdapterData>(
        names.map((name, i) => {
          const [outFeatures, inFeatures] = name.endsWith('qkv') ? [192, 64] : name.endsWith('fc1') ? [256, 64] : name.endsWith('fc2') ? [64, 256] : [64, 64];
          return [name, { a: randomFloats(2 * inFeatures, 10 + i, -0.3, 0.3), b: randomFloats(outFeatures * 2, 40 + i, -0.3, 0.3), inFeatures, outFeatures }];
        }),
      );
      const lora = LoraAdapters.fromData(engine, { rank: 2, alpha: 4, targets: LORA_TARGETS }, data);
      const parameters = [...namedTextParameters(weights).map(([, tensor]) => tensor), ...lora.parameters()];
      const samples = [trainingIds(5, 3, 1), trainingIds(9, 6, 2), trainingIds(2, 1, 3)];
      const images = samples.map((_, i) => engine.upload(randomFloats(IMAGE_TOKENS * DIM, 70 + i), [IMAGE_TOKENS, DIM]));

      const run = async (batch: number[]) => {
        const tape = new Tape(engine);
        tape.watch(...parameters);
        const length = Math.max(...batch.map((i) => samples[i].ids.length));
        const targets = new Int32Array(batch.length * length).fill(IGNORE_INDEX);
        batch.forEach((i, row) => targets.set(samples[i].targets, row * length));
        const inputs = decoder.embedBatch(tape, batch.map((i) => ({ ids: samples[i].ids, image: images[i] })), length);
        const loss = decoder.loss(tape, inputs, targets, { lora, sequences: batch.length });
        tape.backward(loss);
        const values = [await engine.readFloat(loss)];
        for (const tensor of parameters) values.push(await engine.readFloat(tape.grad(tensor)!));
        tape.dispose();
        inputs.dispose();
        loss.dispose();
        return values;
      };
      const batched = await run([0, 1, 2]);
      const singles = [await run([0]), await run([1]), await run([2])];
      const averaged = batched.map((_, t) => Float32Array.from(batched[t], (_, i) => (singles[0][t][i] + singles[1][t][i] + singles[2][t][i]) / 3));
      // Same sums in another order and three runs averaged on the host: f32 rounding of values
      // up to ~10 (loss) and ~1 (gradients), 1e-5 absolute.
      expect(Math.abs(batched[0][0] - averaged[0][0])).toBeLessThan(1e-5);
      batched.slice(1).forEach((gradient, i) => expect(maxAbsDifference(gradient, averaged[i + 1]), `gradient ${i}`).toBeLessThan(1e-5));
      lora.dispose();
      for (const tensor of [...images, ...(weightMap.values() as Iterable<Tensor>)]) tensor.dispose();
    });
  }
});
