// What the runs table and the side-by-side comparison write for a stored run: its settings in
// one line, a measurement as "41.0% (41/100)", and the rows of the comparison, one per quantity,
// a column per run. Plain functions over the session's RunSummary, so they are tested without a page.
import type { RunMeasurement, RunSummary, TrainingSettings } from '../../workers/session-api.ts';
import { formatBytes, formatPercent } from './format.ts';

/** "LoRA r16 α32 · LR 6e-3 · batch 8 × 1 · 2 epochs · 480 images" (the images only when limited). */
export function settingsText(settings: TrainingSettings): string {
  return [
    settings.fullFineTune ? 'full fine-tune' : `LoRA r${settings.loraRank} α${settings.loraAlpha}`,
    `LR ${formatRate(settings.learningRate)}`,
    `batch ${settings.batchSize} × ${settings.gradientAccumulation}`,
    `${settings.epochs} epoch${settings.epochs === 1 ? '' : 's'}`,
    ...(settings.trainLimit ? [`${settings.trainLimit} images`] : []),
  ].join(' · ');
}

/** "6e-3", "3e-5", "1.5e-4": the way learning rates are written in papers and notebooks. */
export function formatRate(rate: number): string {
  const [mantissa, exponent] = rate.toExponential().split('e');
  return `${Number(Number(mantissa).toPrecision(3))}e${Number(exponent)}`;
}

/** "41.0% (41/100)", with "constrained" when the answers were decoded to the counting format; "—" when not measured. */
export function measurementText(measurement: RunMeasurement | undefined): string {
  if (!measurement) return '—';
  const constrained = measurement.decoding === 'counts' ? ', constrained' : '';
  return `${formatPercent(measurement.exactMatchAccuracy)} (${measurement.exactMatches}/${measurement.samples}${constrained})`;
}

/** Exact match after minus before, in percentage points; undefined unless both were measured. */
export function exactMatchGain(run: RunSummary): number | undefined {
  if (!run.before || !run.after) return undefined;
  return 100 * (run.after.exactMatchAccuracy - run.before.exactMatchAccuracy);
}

export interface ComparisonRow {
  label: string;
  values: string[];
}

/** The comparison of runs: a row per quantity, a value per run in the order given. */
export function comparisonRows(runs: readonly RunSummary[]): ComparisonRow[] {
  const row = (label: string, value: (run: RunSummary) => string): ComparisonRow => ({ label, values: runs.map(value) });
  const gain = (run: RunSummary) => {
    const points = exactMatchGain(run);
    return points === undefined ? '—' : `${points >= 0 ? '+' : ''}${points.toFixed(1)} points`;
  };
  const countError = (measurement: RunMeasurement | undefined) => (measurement?.meanAbsoluteCountError == null ? '—' : measurement.meanAbsoluteCountError.toFixed(2));
  const json = (measurement: RunMeasurement | undefined) => (measurement ? formatPercent(measurement.parseableFraction) : '—');
  const lastLoss = (run: RunSummary) => (run.curve.length > 0 ? run.curve.at(-1)!.loss.toFixed(4) : '—');
  return [
    row('started', (run) => new Date(run.startedAt).toLocaleString()),
    row('model', (run) => run.modelName),
    row('dataset', (run) => run.datasetName || '—'),
    row('training', (run) => (run.settings.fullFineTune ? 'full fine-tune' : `LoRA r${run.settings.loraRank} α${run.settings.loraAlpha}`)),
    row('learning rate', (run) => formatRate(run.settings.learningRate)),
    row('batch × accumulation', (run) => `${run.settings.batchSize} × ${run.settings.gradientAccumulation}`),
    row('epochs', (run) => String(run.settings.epochs)),
    row('train images', (run) => (run.settings.trainLimit ? String(run.settings.trainLimit) : 'all')),
    row('steps', (run) => `${run.step} of ${run.totalSteps}`),
    row('last loss', lastLoss),
    row('exact match before', (run) => measurementText(run.before)),
    row('exact match after', (run) => measurementText(run.after)),
    row('change', gain),
    row('valid JSON before / after', (run) => `${json(run.before)} / ${json(run.after)}`),
    row('mean count error before / after', (run) => `${countError(run.before)} / ${countError(run.after)}`),
    row('stored', (run) => formatBytes(run.storedBytes)),
  ];
}
