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
import type { EvaluationResult } from '../session-types.ts';
import { openMoondream, type OpenedMoondream } from '../../model/moondream.ts';
import { countAnswerConstraint } from '../count-constraint.ts';

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
  /**
   * Also measure, before and after training, with answers constrained to the counting format and,
   * for its cost, free answers one image at a time as constrained ones are decoded (outside the
   * phase times).
   */
  readonly constrained?: boolean;
  readonly log?: (line: string) => void;
}

/** The constrained measurement beside the free one, both decoded one image at a time. */
export interface ConstrainedFigures {
  readonly exactMatch: number;
  readonly parseable: number;
  /** Milliseconds per image (image features cached: prefill and decode), free and constrained. */
  readonly freeMsPerImage: number;
  readonly constrainedMsPerImage: number;
  /** Answer tokens (with EOS) per image, free and constrained. */
  readonly freeTokensPerImage: number;
  readonly constrainedTokensPerImage: number;
  /** CPU milliseconds per token to mask the logits and advance the automaton, over the constrained answers' tokens. */
  readonly maskMsPerToken: number;
}

export interface DemoBenchResult {
  readonly baseline: number;
  readonly after: number;
  readonly constrained?: { readonly baseline: ConstrainedFigures; readonly after: ConstrainedFigures };
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
    const opened = options.constrained ? await openMoondream(folderModelFiles(modelFolder)) : undefined;
    await opened?.weightsFile.stream.cancel();
    // Answer tokens and their EOS: what a measurement decoded.
    const answerIds = (answer: string) => [...opened!.tokenizer.encode(answer), opened!.revision.eosId];
    const tokensPerImage = (result: EvaluationResult) => result.results.reduce((sum, row) => sum + answerIds(row.answer).length, 0) / result.samples;
    const constrainedFigures = async (label: string): Promise<ConstrainedFigures> => {
      const free = await session.measure(options.testLimit, settings.evalMaxTokens, undefined, { batchSize: 1 });
      const constrained = await session.measure(options.testLimit, settings.evalMaxTokens, undefined, { constrain: 'counts' });
      const figures = {
        exactMatch: constrained.exactMatchAccuracy,
        parseable: constrained.parseableFraction,
        freeMsPerImage: (1000 * free.seconds) / free.samples,
        constrainedMsPerImage: (1000 * constrained.seconds) / constrained.samples,
        freeTokensPerImage: tokensPerImage(free),
        constrainedTokensPerImage: tokensPerImage(constrained),
        maskMsPerToken: maskMillisecondsPerToken(opened!, dataset.classes.map((c) => c.name), constrained.results.map((row) => answerIds(row.answer))),
      };
      log(
        `${label}, constrained to JSON counts: ${constrained.exactMatches}/${constrained.samples} exact, ${(100 * constrained.parseableFraction).toFixed(0)}% parseable; ` +
          `one image at a time: free ${figures.freeMsPerImage.toFixed(0)} ms and ${figures.freeTokensPerImage.toFixed(1)} tokens per image, ` +
          `constrained ${figures.constrainedMsPerImage.toFixed(0)} ms and ${figures.constrainedTokensPerImage.toFixed(1)} tokens; the mask ${figures.maskMsPerToken.toFixed(3)} ms per token on the CPU`,
      );
      return figures;
    };
    const constrainedBefore = options.constrained ? await constrainedFigures('baseline') : undefined;
    const trainingStarts = clock();

    let lastLog = 0;
    const outcome = await session.startTraining(settings, (progress) => {
      if (progress.elapsedSeconds - lastLog < 15 && progress.step < progress.totalSteps) return;
      lastLog = progress.elapsedSeconds;
      log(`  step ${progress.step}/${progress.totalSteps}  loss ${progress.loss?.toFixed(3) ?? '—'}  ${progress.elapsedSeconds.toFixed(0)} s`);
    });
    const trained = clock();
    const run = session.currentRun!;
    const finalLoss = run.history.at(-1)?.loss ?? null;
    log(`training: ${outcome}, ${run.step} steps in ${(trained - trainingStarts).toFixed(1)} s`);

    const after = await session.measure(options.testLimit, settings.evalMaxTokens);
    const done = clock();
    log(`after: ${after.exactMatches}/${after.samples} exact, ${(100 * after.parseableFraction).toFixed(0)}% parseable, in ${(done - trained).toFixed(1)} s`);
    if (options.answersCsv) writeFileSync(options.answersCsv, evaluationCsv(dataset.classes.map((c) => c.name), after.results));
    const constrainedAfter = options.constrained ? await constrainedFigures('after') : undefined;
    const phases = { load: loaded - started, baseline: measured - loaded, train: trained - trainingStarts, after: done - trained };
    return {
      baseline: baseline.exactMatchAccuracy,
      after: after.exactMatchAccuracy,
      ...(constrainedBefore && constrainedAfter ? { constrained: { baseline: constrainedBefore, after: constrainedAfter } } : {}),
      phases,
      // The demo flow itself, without the extra constrained measurements.
      totalSeconds: phases.load + phases.baseline + phases.train + phases.after,
      trainSteps: run.step,
      finalLoss,
    };
  } finally {
    await session.dispose();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** CPU time per token of the counting constraint (masking a vocabulary of logits, advancing the automaton) over these token sequences. */
function maskMillisecondsPerToken(model: OpenedMoondream, classNames: readonly string[], answers: readonly number[][]): number {
  const constraint = countAnswerConstraint(model, classNames);
  const logits = new Float32Array(model.revision.config.text.vocab_size).map((_, i) => Math.sin(i));
  let masked: Float32Array = new Float32Array(logits.length);
  let tokens = 0;
  const started = performance.now();
  for (const answer of answers) {
    let state = constraint.start;
    for (const token of answer) {
      masked = constraint.maskLogits(state, logits, masked);
      tokens++;
      if (token === model.revision.eosId) break;
      state = constraint.advance(state, token);
    }
  }
  return tokens === 0 ? 0 : (performance.now() - started) / tokens;
}

