// The form's checks, case by case: each bad value names its field; good settings have none.
import { describe, expect, it } from 'vitest';
import { DEMO_TRAINING_SETTINGS, defaultTrainingSettings, type TrainingSettings } from '../../../src/train/config.ts';
import { settingsProblems, trainImagesUsed } from '../../../src/train/settings-problems.ts';

const lora = (changes: Partial<Record<keyof TrainingSettings, unknown>>) => ({ ...defaultTrainingSettings(), ...changes }) as TrainingSettings;

describe('settingsProblems', () => {
  it('has nothing to say about the defaults and the demo recipe', () => {
    expect(settingsProblems(defaultTrainingSettings(), 1000)).toEqual({});
    expect(settingsProblems({ ...DEMO_TRAINING_SETTINGS }, 1000)).toEqual({});
  });

  it('refuses a learning rate of 1, zero or empty, naming the field', () => {
    expect(settingsProblems(lora({ learningRate: 1 }), 1000).learningRate).toMatch(/diverge.*at most 0.1/);
    expect(settingsProblems(lora({ learningRate: 0 }), 1000).learningRate).toMatch(/positive/);
    expect(settingsProblems(lora({ learningRate: null }), 1000).learningRate).toMatch(/positive/);
  });

  it('refuses zero, fractional and empty counts', () => {
    expect(settingsProblems(lora({ epochs: 0 }), 1000).epochs).toMatch(/whole number of at least 1/);
    expect(settingsProblems(lora({ epochs: 1.5 }), 1000).epochs).toMatch(/whole number/);
    expect(settingsProblems(lora({ epochs: null }), 1000).epochs).toMatch(/Enter the number of epochs/);
    expect(settingsProblems(lora({ loraRank: 0 }), 1000).loraRank).toMatch(/LoRA rank/);
    expect(settingsProblems(lora({ loraRank: 0, fullFineTune: true }), 1000).loraRank).toBeUndefined(); // not used by full fine-tuning
    expect(settingsProblems(lora({ trainLimit: 0 }), 1000).trainLimit).toMatch(/train images/);
  });

  it('refuses a step larger than the train images', () => {
    expect(settingsProblems(lora({ batchSize: 4, gradientAccumulation: 8 }), 31).batchSize).toMatch(/32 samples, but the run has 31 train images/);
    expect(settingsProblems(lora({ batchSize: 4, gradientAccumulation: 8 }), 32)).toEqual({});
    expect(settingsProblems(lora({}), 0).batchSize).toMatch(/no train images/);
  });
});

describe('trainImagesUsed', () => {
  it('is the limit when it is smaller than the split', () => {
    expect(trainImagesUsed({ trainLimit: 10 }, 1000)).toBe(10);
    expect(trainImagesUsed({ trainLimit: 5000 }, 1000)).toBe(1000);
    expect(trainImagesUsed({}, 1000)).toBe(1000);
  });
});
