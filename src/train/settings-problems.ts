// What is wrong with the settings a person typed into the page's form, field by field, in words
// that say what to set instead. trainingConfigProblems (config.ts) guards the engine against any
// configuration that cannot run; this is stricter where a value runs but cannot be meant (a
// learning rate of 1 diverges at once) and knows the dataset (a step cannot need more samples
// than the train split holds). An empty result means the form may start a run.
import type { TrainingSettings } from './config.ts';

export type SettingsField = keyof TrainingSettings;

/** Above this every run measured here diverged; the defaults are 1e-4 (LoRA) and 6e-3 (demo, full). */
export const MAX_LEARNING_RATE = 0.1;

/** `trainImages`: the train images a run would use (the split, or fewer with trainLimit). */
export function settingsProblems(settings: TrainingSettings, trainImages: number): Partial<Record<SettingsField, string>> {
  const problems: Partial<Record<SettingsField, string>> = {};
  // A number input that is empty or not a number binds as null (or NaN).
  const wholeAtLeast = (field: SettingsField, value: number | null | undefined, low: number, what: string) => {
    if (value === null || value === undefined || Number.isNaN(value)) problems[field] = `Enter the ${what}.`;
    else if (!Number.isInteger(value) || value < low) problems[field] = `The ${what} must be a whole number of at least ${low}.`;
  };

  if (!settings.fullFineTune) {
    wholeAtLeast('loraRank', settings.loraRank, 1, 'LoRA rank');
    const alpha = settings.loraAlpha as number | null;
    if (alpha === null || !Number.isFinite(alpha) || alpha <= 0) problems.loraAlpha = 'LoRA alpha must be a positive number; twice the rank is usual.';
  }
  const rate = settings.learningRate as number | null;
  if (rate === null || !Number.isFinite(rate) || rate <= 0) problems.learningRate = 'Enter a positive learning rate, e.g. 1e-4 for LoRA.';
  else if (rate > MAX_LEARNING_RATE) problems.learningRate = `A learning rate of ${rate} makes training diverge; use at most ${MAX_LEARNING_RATE} (1e-4 suits LoRA on Moondream2).`;
  wholeAtLeast('epochs', settings.epochs, 1, 'number of epochs');
  wholeAtLeast('batchSize', settings.batchSize, 1, 'batch size');
  wholeAtLeast('gradientAccumulation', settings.gradientAccumulation, 1, 'gradient accumulation');
  if (settings.trainLimit !== undefined && settings.trainLimit !== null) wholeAtLeast('trainLimit', settings.trainLimit, 1, 'number of train images');
  wholeAtLeast('evalMaxTokens', settings.evalMaxTokens, 1, 'answer length in tokens');

  const perStep = settings.batchSize * settings.gradientAccumulation;
  if (!problems.batchSize && !problems.gradientAccumulation && !problems.trainLimit && perStep > trainImages) {
    const message =
      trainImages === 0
        ? 'The dataset has no train images to train on.'
        : `A step takes batch × accumulation = ${perStep} samples, but the run has ${trainImages} train ${trainImages === 1 ? 'image' : 'images'}; lower the batch or the accumulation.`;
    problems.batchSize = message;
  }
  return problems;
}

/** The train images a run with these settings uses from a split of `splitImages`. */
export function trainImagesUsed(settings: Pick<TrainingSettings, 'trainLimit'>, splitImages: number): number {
  const limit = settings.trainLimit;
  return limit !== undefined && limit !== null && Number.isInteger(limit) && limit > 0 ? Math.min(limit, splitImages) : splitImages;
}
