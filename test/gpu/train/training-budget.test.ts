// The training memory budget's formula (training-budget.ts) against the buffer pool's measured
// peak during one forward and backward of the tiny fixture's text decoder: LoRA and full
// fine-tuning, several batch shapes, activations stored and recomputed. The formula is derived
// from what each op keeps, not fitted to these runs; within 10% (the bar: the order in
// which temporaries are freed moves the peak by a few buffers).
import { describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import { LoraAdapters, LORA_TARGETS, loraLayerNames } from '../../../src/gpu/lora.ts';
import { IGNORE_INDEX } from '../../../src/gpu/ops/cross-entropy.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { revisionFromConfig } from '../../../src/model/revisions.ts';
import { TextDecoder } from '../../../src/model/text-decoder.ts';
import { namedTextParameters, textWeightsFrom } from '../../../src/model/text-weights.ts';
import { trainingBudget } from '../../../src/train/training-budget.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { tinyConfig, uploadTextWeights } from '../../helpers/text-fixture.ts';

const IMAGE_TOKENS = 16;
const RANK = 8;

describe('the training memory budget', () => {
  it("matches the buffer pool's peak over a step of the tiny model within 10%", async () => {
    const engine = await testEngine();
    const weightMap = uploadTextWeights(engine, 'model.safetensors');
    const weights = textWeightsFrom(weightMap, tinyConfig);
    const decoder = new TextDecoder(engine, weights, tinyConfig, { maskMode: 'prefix' });
    const revision = revisionFromConfig(tinyConfig);
    const { dim, ff_dim: ff } = tinyConfig.text;
    const layers = new Map(
      loraLayerNames(tinyConfig.text.n_layers, LORA_TARGETS).map((name) => [name, (name.endsWith('qkv') ? [3 * dim, dim] : name.endsWith('fc1') ? [ff, dim] : name.endsWith('fc2') ? [dim, ff] : [dim, dim]) as [number, number]]),
    );
    const cases = [
      { batchSize: 1, sequenceLength: 80, answerTokens: 8, full: false, recompute: false },
      { batchSize: 3, sequenceLength: 120, answerTokens: 12, full: false, recompute: false },
      { batchSize: 3, sequenceLength: 120, answerTokens: 12, full: false, recompute: true },
      { batchSize: 2, sequenceLength: 100, answerTokens: 10, full: true, recompute: false },
      { batchSize: 2, sequenceLength: 100, answerTokens: 10, full: true, recompute: true },
    ];
    for (const { batchSize, sequenceLength, answerTokens, full, recompute } of cases) {
      let seed = 1;
      const lora = full ? undefined : LoraAdapters.create(engine, { rank: RANK, alpha: 16, targets: LORA_TARGETS }, layers, () => ((seed = (seed * 16807) % 2147483647) / 2147483647));
      const parameters = lora ? lora.parameters() : namedTextParameters(weights).map(([, tensor]) => tensor);
      const images = Array.from({ length: batchSize }, (_, i) => engine.upload(randomFloats(IMAGE_TOKENS * dim, 80 + i), [IMAGE_TOKENS, dim]));
      const sequences = images.map((image) => {
        const ids = new Int32Array(sequenceLength).fill(-1);
        ids[0] = 0;
        for (let i = 1 + IMAGE_TOKENS; i < sequenceLength; i++) ids[i] = 10 + (i % 400);
        return { ids, image };
      });
      const targets = new Int32Array(batchSize * sequenceLength).fill(IGNORE_INDEX);
      for (let b = 0; b < batchSize; b++) targets.fill(5, b * sequenceLength + sequenceLength - answerTokens - 1, (b + 1) * sequenceLength - 1);

      await engine.sync();
      engine.pool.resetPeak();
      const before = engine.poolStats().liveBytes;
      const tape = new Tape(engine);
      tape.watch(...parameters);
      const inputs = decoder.embedBatch(tape, sequences, sequenceLength);
      const loss = decoder.loss(tape, inputs, targets, { lora, sequences: batchSize, recompute });
      tape.backward(loss);
      await engine.sync();
      const measured = engine.poolStats().peakLiveBytes - before;
      const budget = trainingBudget(revision, { batchSize, sequenceLength, answerTokens, training: lora ? { lora: { rank: RANK } } : { fullFineTune: true }, precision: 'f32', recompute });
      const shape = `${full ? 'full' : 'LoRA'} batch ${batchSize} × ${sequenceLength}${recompute ? ', recomputed' : ''}`;
      expect(budget.stepBytes / measured, `${shape}: formula ${budget.stepBytes} B, measured ${measured} B`).toBeGreaterThan(0.9);
      expect(budget.stepBytes / measured, `${shape}: formula ${budget.stepBytes} B, measured ${measured} B`).toBeLessThan(1.1);
      tape.dispose();
      for (const tensor of [inputs, loss, ...images]) tensor.dispose();
      lora?.dispose();
    }
    for (const tensor of weightMap.values() as Iterable<Tensor>) tensor.dispose();
  });
});
