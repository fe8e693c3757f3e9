// The log of training runs: one record per run ever started, kept beside its checkpoint so that
// runs can be listed, compared and deleted long after they ran. A record holds what the checkpoint
// does not: when the run started, on which model and dataset (by name), its settings and step
// count, and the accuracy measured before it started and after it trained. The curve and the
// step reached are the checkpoint's own (session.ts joins the two when it lists runs).
// IndexedDB keeps the log in the browser (run-log-idb.ts); elsewhere it lives in memory.
import type { EvaluationReport } from './metrics.ts';
import type { AnswerDecoding } from './session-types.ts';
import type { TrainingSettings } from './config.ts';

/** The scores of one measurement, without its answers. */
export interface RunMeasurement {
  /** Optimizer steps the measured weights had trained (0: the model as loaded). */
  step: number;
  samples: number;
  exactMatches: number;
  exactMatchAccuracy: number;
  parseableFraction: number;
  meanAbsoluteCountError: number | null;
  decoding: AnswerDecoding;
  /** Milliseconds since 1970. */
  measuredAt: number;
}

export interface RunRecord {
  runId: string;
  /** Milliseconds since 1970. */
  startedAt: number;
  /** The model as the person chose it (e.g. "vikhyatk/moondream2@2025-06-21", "demo model"). */
  modelName: string;
  /** The revision id the run trained (part of the run's identity). */
  revision: string;
  datasetName: string;
  datasetFingerprint: string;
  settings: TrainingSettings;
  totalSteps: number;
  /** The model without this run's training, measured before it started (the latest such measurement). */
  before?: RunMeasurement;
  /** The run's trained weights, measured (the latest such measurement). */
  after?: RunMeasurement;
}

export interface RunLog {
  put(record: RunRecord): Promise<void>;
  get(runId: string): Promise<RunRecord | undefined>;
  /** Every record, in no particular order. */
  list(): Promise<RunRecord[]>;
  delete(runId: string): Promise<void>;
}

/** A run log that lasts as long as the process (the CLI, tests). */
export class MemoryRunLog implements RunLog {
  private readonly records = new Map<string, RunRecord>();

  async put(record: RunRecord): Promise<void> {
    this.records.set(record.runId, structuredClone(record));
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const record = this.records.get(runId);
    return record && structuredClone(record);
  }

  async list(): Promise<RunRecord[]> {
    return [...this.records.values()].map((record) => structuredClone(record));
  }

  async delete(runId: string): Promise<void> {
    this.records.delete(runId);
  }
}

/** A measurement's scores, as a run record keeps them. */
export function runMeasurement(report: EvaluationReport & { decoding: AnswerDecoding }, step: number, measuredAt = Date.now()): RunMeasurement {
  const { samples, exactMatches, exactMatchAccuracy, parseableFraction, meanAbsoluteCountError, decoding } = report;
  return { step, samples, exactMatches, exactMatchAccuracy, parseableFraction, meanAbsoluteCountError, decoding, measuredAt };
}
