import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { adamwReference, adamwStep, createAdamWState, type AdamWConfig } from '../../../src/gpu/ops/adamw.ts';
import { clipGradNormReference, gradientNormScale, scaleInPlace } from '../../../src/gpu/ops/clip.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

const GOLDEN_PATH = new URL('../../fixtures/moondream-tiny/golden.safetensors', import.meta.url).pathname;

/** The f32 tensors of the golden fixture whose names start with `prefix`, keyed without it. */
function goldenTensors(prefix: string): Map<string, Float32Array> {
  const file = new SafetensorsFile(readFileSync(GOLDEN_PATH));
  const tensors = new Map<string, Float32Array>();
  for (const name of file.names) if (name.startsWith(prefix)) tensors.set(name.slice(prefix.length), file.float32(name));
  return tensors;
}

describe('AdamW', () => {
  it('reproduces torch.optim.AdamW on the golden LoRA trace (3 steps, 16 tensors)', async () => {
    const engine = await testEngine();
    const golden = goldenTensors('lora_randB.');
    // Fixture README, "LoRA trace": lr 1e-3, betas (0.9, 0.95), eps 1e-6, weight_decay 0.
    const config: AdamWConfig = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0 };
    const names = [...golden.keys()].filter((name) => name.startsWith('step0.')).map((name) => name.slice('step0.'.length));
    expect(names.length).toBe(16);
    const parameters = names.map((name) => engine.upload(golden.get(`step0.${name}`)!, [golden.get(`step0.${name}`)!.length]));
    const state = createAdamWState(engine, parameters);
    for (let step = 1; step <= 3; step++) {
      const grads = names.map((name) => {
        const values = golden.get(`grad_step${step}.${name}`)!;
        return engine.upload(values, [values.length]);
      });
      adamwStep(engine, parameters, grads, state, config);
      for (let index = 0; index < names.length; index++) {
        const actual = await engine.readFloat(parameters[index]);
        const expected = golden.get(`step${step}.${names[index]}`)!;
        // Same f32 operations as torch in the same order; updates are ~1e-3, parameters ~0.02:
        // 1e-7 absolute allows a few ulps of rounding difference (sqrt, division).
        for (let i = 0; i < actual.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(1e-7);
      }
      for (const grad of grads) grad.dispose();
    }
    expect(state.step).toBe(3);
    for (const tensor of [...parameters, ...state.firstMoments, ...state.secondMoments]) tensor.dispose();
  });

  it('matches the float64 reference with weight decay over 4 steps (odd sizes)', async () => {
    const engine = await testEngine();
    const config = { learningRate: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
    const sizes = [1, 7, 70_000];
    const initial = sizes.map((size, i) => randomFloats(size, 10 + i));
    const parameters = initial.map((values) => engine.upload(values, [values.length]));
    const state = createAdamWState(engine, parameters);
    const reference = initial.map((values) => ({ p: Float64Array.from(values), m: new Float64Array(values.length), v: new Float64Array(values.length) }));
    for (let step = 1; step <= 4; step++) {
      const gradValues = sizes.map((size, i) => randomFloats(size, 100 * step + i, -2, 2));
      const grads = gradValues.map((values) => engine.upload(values, [values.length]));
      adamwStep(engine, parameters, grads, state, config);
      reference.forEach((r, i) => adamwReference(r.p, gradValues[i], r.m, r.v, step, config));
      for (const grad of grads) grad.dispose();
    }
    for (let index = 0; index < sizes.length; index++) {
      const actual = await engine.readFloat(parameters[index]);
      // f32 vs float64 over 4 steps of size ≤ ~0.01: ~1e-7 absolute.
      for (let i = 0; i < actual.length; i++) expect(Math.abs(actual[i] - reference[index].p[i])).toBeLessThan(1e-6);
    }
    for (const tensor of [...parameters, ...state.firstMoments, ...state.secondMoments]) tensor.dispose();
  });

  it('hand-computed: zero gradient only decays, p·(1 − lr·wd); the first step moves by ≈ lr·sign(g)', async () => {
    const engine = await testEngine();
    const parameter = engine.upload([2, -4, 1], [3]);
    const grad = engine.upload([0, 0, 0.5], [3]);
    const state = createAdamWState(engine, [parameter]);
    adamwStep(engine, [parameter], [grad], state, { learningRate: 0.5, beta1: 0.9, beta2: 0.999, weightDecay: 0.1, eps: 1e-8 });
    // Decay 1 − 0.05 = 0.95; element 2: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) ≈ 0.5.
    const values = await engine.readFloat(parameter);
    expect(values[0]).toBeCloseTo(1.9, 6);
    expect(values[1]).toBeCloseTo(-3.8, 6);
    expect(values[2]).toBeCloseTo(0.95 - 0.5, 6);
    for (const tensor of [parameter, grad, ...state.firstMoments, ...state.secondMoments]) tensor.dispose();
  });

  it('hand-computed: per-parameter weight decay decays only the parameters given a rate', async () => {
    const engine = await testEngine();
    const decayed = engine.upload([2, -4], [2]);
    const kept = engine.upload([2, -4], [2]);
    const grads = [engine.upload([0, 0], [2]), engine.upload([0, 0], [2])];
    const state = createAdamWState(engine, [decayed, kept]);
    adamwStep(engine, [decayed, kept], grads, state, { learningRate: 0.5, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: [0.1, 0] });
    // Zero gradients: the decayed tensor scales by 1 − 0.5·0.1 = 0.95, the other stays exactly.
    expect(Array.from(await engine.readFloat(decayed))).toEqual([Math.fround(2 * 0.95), Math.fround(-4 * 0.95)]);
    expect(Array.from(await engine.readFloat(kept))).toEqual([2, -4]);
    expect(() => adamwStep(engine, [decayed, kept], grads, state, { learningRate: 0.5, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: [0.1] })).toThrow(/1 weight decay rates for 2 parameters/);
    for (const tensor of [decayed, kept, ...grads, ...state.firstMoments, ...state.secondMoments]) tensor.dispose();
  });

  it('applies clipping\'s scale as it reads the gradients: the float64 reference on clipped gradients, and clipping in place then AdamW bit for bit', async () => {
    const engine = await testEngine();
    const config = { learningRate: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const sizes = [5, 300];
    const initial = sizes.map((size, i) => randomFloats(size, 40 + i));
    const gradValues = sizes.map((size, i) => randomFloats(size, 50 + i, -3, 3));
    const expected = clipGradNormReference(gradValues, 1);
    expect(expected.norm).toBeGreaterThan(1);
    const fused = initial.map((values) => engine.upload(values, [values.length]));
    const separate = initial.map((values) => engine.upload(values, [values.length]));
    const grads = gradValues.map((values) => engine.upload(values, [values.length]));
    const fusedState = createAdamWState(engine, fused);
    const separateState = createAdamWState(engine, separate);
    const { norm, scale } = gradientNormScale(engine, grads, 1);
    adamwStep(engine, fused, grads, fusedState, config, scale);
    // The gradients are left unscaled.
    for (let t = 0; t < sizes.length; t++) expect(Array.from(await engine.readFloat(grads[t]))).toEqual(Array.from(gradValues[t]));
    for (const grad of grads) scaleInPlace(engine, grad, scale);
    adamwStep(engine, separate, grads, separateState, config);
    for (let t = 0; t < sizes.length; t++) {
      const actual = await engine.readFloat(fused[t]);
      // The same f32 product g·scale either way: identical parameters.
      expect(Array.from(actual)).toEqual(Array.from(await engine.readFloat(separate[t])));
      const reference = { p: Float64Array.from(initial[t]), m: new Float64Array(sizes[t]), v: new Float64Array(sizes[t]) };
      adamwReference(reference.p, expected.clipped[t], reference.m, reference.v, 1, config);
      // f32 vs float64, one step of ≤ 0.01: ~1e-8 absolute.
      for (let i = 0; i < actual.length; i++) expect(Math.abs(actual[i] - reference.p[i])).toBeLessThan(1e-6);
    }
    expect(() => adamwStep(engine, fused, grads, fusedState, config, grads[0])).toThrow(/gradient scale must be f32 \[1\]/);
    for (const tensor of [...fused, ...separate, ...grads, ...fusedState.firstMoments, ...fusedState.secondMoments, ...separateState.firstMoments, ...separateState.secondMoments, norm, scale]) tensor.dispose();
  });
});
