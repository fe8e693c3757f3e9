// The text of the runs table and the comparison, by hand.
import { describe, expect, it } from 'vitest';
import { comparisonRows, exactMatchGain, formatRate, measurementText, settingsText } from '../../../src/app/run-rows.ts';
import type { RunMeasurement, RunSummary } from '../../../workers/session-api.ts';
import { defaultTrainingSettings } from '../../../src/train/config.ts';

const measured = (exactMatches: number, samples: number, overrides: Partial<RunMeasurement> = {}): RunMeasurement => ({
  step: 0,
  samples,
  exactMatches,
  exactMatchAccuracy: exactMatches / samples,
  parseableFraction: 0.5,
  meanAbsoluteCountError: 1.25,
  decoding: 'free',
  measuredAt: 0,
  ...overrides,
});

const run = (overrides: Partial<RunSummary> = {}): RunSummary => ({
  runId: 'r',
  startedAt: 0,
  modelName: 'demo model',
  revision: 'demo',
  datasetName: 'coins.coco.zip',
  datasetFingerprint: 'f',
  settings: { ...defaultTrainingSettings(), fullFineTune: false, loraRank: 16, loraAlpha: 32, learningRate: 6e-3, batchSize: 8, gradientAccumulation: 1, epochs: 2 },
  totalSteps: 10,
  step: 10,
  storedBytes: 2_500_000,
  curve: [{ step: 1, loss: 3 }, { step: 2, loss: 1.23456 }].map((point) => ({ ...point, learningRate: 1e-3 })),
  ofLoadedModel: true,
  inSession: false,
  ...overrides,
});

describe('run rows', () => {
  it('writes settings on one line, images only when limited', () => {
    expect(settingsText(run().settings)).toBe('LoRA r16 α32 · LR 6e-3 · batch 8 × 1 · 2 epochs');
    expect(settingsText({ ...run().settings, fullFineTune: true, epochs: 1, trainLimit: 480 })).toBe('full fine-tune · LR 6e-3 · batch 8 × 1 · 1 epoch · 480 images');
  });

  it('writes learning rates as papers do', () => {
    expect(formatRate(3e-5)).toBe('3e-5');
    expect(formatRate(1.5e-4)).toBe('1.5e-4');
    expect(formatRate(0.1)).toBe('1e-1');
  });

  it('writes a measurement with its count, and says when it was constrained', () => {
    expect(measurementText(undefined)).toBe('—');
    expect(measurementText(measured(41, 100))).toBe('41.0% (41/100)');
    expect(measurementText(measured(1, 3, { decoding: 'counts' }))).toBe('33.3% (1/3, constrained)');
  });

  it('puts two runs in columns, the change in points', () => {
    const first = run({ before: measured(0, 100), after: measured(55, 100) });
    const second = run({ settings: { ...run().settings, fullFineTune: true }, before: measured(2, 100), step: 4 });
    expect(exactMatchGain(first)).toBeCloseTo(55, 10);
    expect(exactMatchGain(second)).toBeUndefined();
    const rows = Object.fromEntries(comparisonRows([first, second]).map((row) => [row.label, row.values]));
    expect(rows['training']).toEqual(['LoRA r16 α32', 'full fine-tune']);
    expect(rows['steps']).toEqual(['10 of 10', '4 of 10']);
    expect(rows['exact match after']).toEqual(['55.0% (55/100)', '—']);
    expect(rows['change']).toEqual(['+55.0 points', '—']);
    expect(rows['last loss']).toEqual(['1.2346', '1.2346']);
    expect(rows['valid JSON before / after']).toEqual(['50.0% / 50.0%', '50.0% / —']);
    expect(rows['mean count error before / after']).toEqual(['1.25 / 1.25', '1.25 / —']);
    expect(rows['stored']).toEqual(['2.5 MB', '2.5 MB']);
  });
});
