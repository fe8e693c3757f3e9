import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TRAINING_CONFIG,
  samplesPerStep,
  totalOptimizerSteps,
  trainingConfig,
  trainingConfigProblems,
  validateTrainingConfig,
} from '../../../src/train/config.ts';

describe('TrainingConfig defaults', () => {
  it('carries the upstream optimizer settings (spec §11.1)', () => {
    expect(DEFAULT_TRAINING_CONFIG.beta1).toBe(0.9);
    expect(DEFAULT_TRAINING_CONFIG.beta2).toBe(0.95);
    expect(DEFAULT_TRAINING_CONFIG.eps).toBe(1e-6);
    expect(DEFAULT_TRAINING_CONFIG.warmupFraction).toBe(0.1);
    expect(DEFAULT_TRAINING_CONFIG.loraTargets).toEqual(['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2']);
  });

  it('are valid', () => {
    expect(trainingConfigProblems(trainingConfig())).toEqual([]);
  });

  it('applies overrides to a fresh copy', () => {
    const config = trainingConfig({ loraRank: 4 });
    expect(config.loraRank).toBe(4);
    config.loraTargets.pop();
    expect(DEFAULT_TRAINING_CONFIG.loraTargets).toHaveLength(4);
  });
});

describe('validateTrainingConfig', () => {
  it.each([
    [{ loraRank: 0 }, /loraRank must be a whole number of at least 1, got 0/],
    [{ loraRank: 2.5 }, /loraRank/],
    [{ loraAlpha: -1 }, /loraAlpha must be a positive number/],
    [{ loraTargets: [] }, /loraTargets is empty/],
    [{ loraTargets: ['attn.qkv', 'attn.qkv'] as never }, /names a layer twice/],
    [{ loraTargets: ['mlp.fc3'] as never }, /"mlp.fc3", which is not a text-decoder layer/],
    [{ learningRate: 0 }, /learningRate must be in \(0, 1\]/],
    [{ learningRate: Number.NaN }, /learningRate/],
    [{ beta1: 1 }, /beta1 must be in \[0, 1\)/],
    [{ beta2: -0.1 }, /beta2/],
    [{ eps: 0 }, /eps must be a small positive number/],
    [{ weightDecay: -0.01 }, /weightDecay/],
    [{ epochs: 0 }, /epochs/],
    [{ batchSize: 0 }, /batchSize/],
    [{ gradientAccumulation: 1.5 }, /gradientAccumulation/],
    [{ gradientClip: -1 }, /gradientClip must be 0 \(off\)/],
    [{ warmupFraction: 1 }, /warmupFraction/],
    [{ seed: -3 }, /seed/],
    [{ evalMaxTokens: 0 }, /evalMaxTokens/],
    [{ checkpointInterval: -1 }, /checkpointInterval must be a whole number of at least 0/],
    [{ fullFineTune: true, trainTokenLayers: true }, /trainTokenLayers goes with LoRA/],
  ])('refuses %o', (override, message) => {
    expect(() => validateTrainingConfig(trainingConfig(override))).toThrow(message);
  });

  it('takes trainTokenLayers with LoRA', () => {
    expect(trainingConfigProblems(trainingConfig({ trainTokenLayers: true }))).toEqual([]);
  });

  it('lists every problem at once', () => {
    expect(trainingConfigProblems(trainingConfig({ epochs: 0, eps: -1 }))).toHaveLength(2);
  });

  it('ignores LoRA settings when fine-tuning everything', () => {
    expect(trainingConfigProblems(trainingConfig({ fullFineTune: true, loraRank: 0, loraTargets: [] }))).toEqual([]);
  });
});

describe('totalOptimizerSteps (epochs · len(dataset) // samples per step, spec §11.1)', () => {
  it('accumulates across epoch boundaries and drops only the last partial group', () => {
    const config = trainingConfig({ epochs: 3, batchSize: 2, gradientAccumulation: 2 });
    expect(samplesPerStep(config)).toBe(4);
    expect(totalOptimizerSteps(config, 10)).toBe(7); // 30 samples // 4
    expect(totalOptimizerSteps(config, 1)).toBe(0);
  });
});
