// The demo's whole story, timed (`npm run bench:demo`): the shipped demo model and dataset in a
// TrainingSession, as the page drives it — exact match on the test split, the default demo
// fine-tune (DEMO_TRAINING_SETTINGS) on the train split, exact match again — with the time of
// every phase. Node only (it reads public/ from disk); checkpoints go to a temporary folder, as
// the page's go to IndexedDB.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../dataset/load.ts';
import { sourceFromPath } from '../../dataset/node-source.ts';
import type { Engine } from '../../gpu/engine.ts';
import { folderModelFiles } from '../../model/node-file-source.ts';
import { FolderCheckpointStore } from '../checkpoint-folder.ts';
import { DEMO_TRAINING_SETTINGS, type TrainingSettings } from '../config.ts';
import { evaluationCsv } from '../evaluation-export.ts';
import { TrainingSession } from '../session.ts';

export interface DemoBenchOptions {
  /** Repository root (public/ lives there). */
  readonly root: string;
  /** Another model folder (default public/demo-model), e.g. a pre-training run's output. */
  readonly modelFolder?: string;
  /** Test images measured (default: the whole split) and train images used (default: all). */
  readonly testLimit?: number;
  readonly settings?: Partial<TrainingSettings>;
  /** Where to write the answers after training as CSV (file, expected, answer, match, counts), if anywhere. */
  readonly answersCsv?: string;
  readonly log?: (line: string) => void;
}

export interface DemoBenchResult {
  readonly baseline: number;
  readonly after: number;
  readonly phases: Record<'load' | 'baseline' | 'train' | 'after', number>;
  readonly totalSeconds: number;
  readonly trainSteps: number;
  readonly finalLoss: number | null;
}

export async function benchDemo(engine: Engine, options: DemoBenchOptions): Promise<DemoBenchResult> {
  const log = options.log ?? (() => {});
  const folder = mkdtempSync(join(tmpdir(), 'moontune-demo-bench-'));
  const session = new TrainingSession({ engine: async () => engine, checkpoints: async () => new FolderCheckpointStore(folder) });
  const clock = () => performance.now() / 1000;
  const started = clock();
  try {
    const modelFolder = options.modelFolder ?? join(options.root, 'public', 'demo-model');
    const files = folderModelFiles(modelFolder);
    const source = await sourceFromPath(join(options.root, 'public', 'demo', 'coins.coco.zip'));
    const dataset = await loadDataset(source);
    session.setDataset(source, dataset);
    const summary = await session.loadModelFiles(files, { isDemo: true });
    const loaded = clock();
    log(`loaded the demo model (${summary.parameters} parameters) and dataset in ${(loaded - started).toFixed(1)} s`);

    const settings: TrainingSettings = { ...DEMO_TRAINING_SETTINGS, ...options.settings };
    const baseline = await session.measure(options.testLimit, settings.evalMaxTokens);
    const measured = clock();
    log(`baseline: ${baseline.exactMatches}/${baseline.samples} exact, ${(100 * baseline.parseableFraction).toFixed(0)}% parseable, in ${(measured - loaded).toFixed(1)} s`);

    let lastLog = 0;
    const outcome = await session.startTraining(settings, (progress) => {
      if (progress.elapsedSeconds - lastLog < 15 && progress.step < progress.totalSteps) return;
      lastLog = progress.elapsedSeconds;
      log(`  step ${progress.step}/${progress.totalSteps}  loss ${progress.loss?.toFixed(3) ?? '—'}  ${progress.elapsedSeconds.toFixed(0)} s`);
    });
    const trained = clock();
    const run = session.currentRun!;
    const finalLoss = run.history.at(-1)?.loss ?? null;
    log(`training: ${outcome}, ${run.step} steps in ${(trained - measured).toFixed(1)} s`);

    const after = await session.measure(options.testLimit, settings.evalMaxTokens);
    const done = clock();
    log(`after: ${after.exactMatches}/${after.samples} exact, ${(100 * after.parseableFraction).toFixed(0)}% parseable, in ${(done - trained).toFixed(1)} s`);
    if (options.answersCsv) writeFileSync(options.answersCsv, evaluationCsv(dataset.classes.map((c) => c.name), after.results));
    return {
      baseline: baseline.exactMatchAccuracy,
      after: after.exactMatchAccuracy,
      phases: { load: loaded - started, baseline: measured - loaded, train: trained - measured, after: done - trained },
      totalSeconds: done - started,
      trainSteps: run.step,
      finalLoss,
    };
  } finally {
    await session.dispose();
    rmSync(folder, { recursive: true, force: true });
  }
}
