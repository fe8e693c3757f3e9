// What a training checkpoint is, and where checkpoints are kept. A checkpoint is everything needed
// to continue the same run exactly (ARCHITECTURE.md decision 6): trainable weights and AdamW
// moments as Float32Arrays, the step, the data-order position, the RNG state, the config, the
// metric history and the dataset fingerprint. Two stores keep them behind one interface:
// IndexedDB in the browser (checkpoint-idb.ts) and a folder in Node (checkpoint-folder.ts).
import type { TrainingConfig } from './config.ts';
import type { DataOrderState } from './data-order.ts';
import { TrainingInputError } from './input-error.ts';
import type { RandomState } from './random.ts';

/** A named f32 array (a LoRA A/B or a text-model weight, or one of their moments). */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** One point of the training curve; evaluation fields only where an evaluation ran. */
export interface MetricPoint {
  step: number;
  /** Mean loss over the step's samples; null when every sample of the step was skipped (images that cannot be decoded). */
  loss: number | null;
  learningRate: number;
  gradientNorm?: number;
  exactMatchAccuracy?: number;
}

export interface Checkpoint {
  runId: string;
  /** Optimizer steps completed (AdamW's t). */
  step: number;
  /** Milliseconds since 1970, when it was saved. */
  savedAt: number;
  config: TrainingConfig;
  datasetFingerprint: string;
  dataOrder: DataOrderState;
  randomState: RandomState;
  metricHistory: MetricPoint[];
  /** Trainable tensors, in the optimizer's order. */
  parameters: CheckpointTensor[];
  /** AdamW first and second moments, one per parameter, same order. */
  firstMoments: CheckpointTensor[];
  secondMoments: CheckpointTensor[];
}

/** What `list` shows without reading any tensor. */
export type CheckpointSummary = Omit<Checkpoint, 'parameters' | 'firstMoments' | 'secondMoments'> & {
  /** Bytes of tensor data (the bulk of the stored size). */
  tensorBytes: number;
  tensorCount: number;
};

export const TENSOR_GROUPS = ['parameters', 'firstMoments', 'secondMoments'] as const;
export type TensorGroup = (typeof TENSOR_GROUPS)[number];

/** Where a run's checkpoints are kept. */
export interface CheckpointStore {
  /**
   * A store of one run (a folder): that run is the one a resume continues, whatever data or model
   * it was trained on, so that a mismatch is reported rather than the run overlooked.
   */
  readonly singleRun?: boolean;
  /** Saves `checkpoint` atomically: until it is complete, the run's previous checkpoint stays. */
  save(checkpoint: Checkpoint): Promise<CheckpointSummary>;
  /** The newest checkpoint of a run without its tensors, or null when it has none. */
  latestSummary(runId: string): Promise<CheckpointSummary | null>;
  /**
   * The newest checkpoint of a run with its tensors, or null. With `expectedDatasetFingerprint`,
   * refuses one made on other data (CheckpointDatasetMismatchError).
   */
  latest(runId: string, expectedDatasetFingerprint?: string): Promise<Checkpoint | null>;
  /** The newest checkpoint of every stored run, without tensors. */
  runSummaries(): Promise<CheckpointSummary[]>;
  /** Deletes every checkpoint of a run. */
  deleteRun(runId: string): Promise<void>;
}

/** The browser refused the space for a checkpoint; the previous checkpoint is still there. */
export class CheckpointQuotaError extends Error {
  override readonly name = 'CheckpointQuotaError';
}

/** The checkpoint belongs to another dataset than the one loaded. */
export class CheckpointDatasetMismatchError extends TrainingInputError {
  override readonly name = 'CheckpointDatasetMismatchError';
}

/** A stored checkpoint that cannot be read back whole (a file cut short, a record missing). */
export class CheckpointDamagedError extends TrainingInputError {
  override readonly name = 'CheckpointDamagedError';
}

export function datasetMismatchMessage(runId: string): string {
  return `Run "${runId}" was trained on another dataset (or other questions) than the one loaded, so it cannot be resumed on it. Load the dataset the run started with, or start a new run.`;
}

/** Checks that every parameter has its two moments and every tensor as many values as its shape. */
export function checkShapes(checkpoint: Checkpoint): void {
  const { parameters, firstMoments, secondMoments } = checkpoint;
  if (firstMoments.length !== parameters.length || secondMoments.length !== parameters.length) {
    throw new Error(`A checkpoint needs one first and one second moment per parameter: ${parameters.length} parameters, ${firstMoments.length} and ${secondMoments.length} moments.`);
  }
  for (const tensor of [...parameters, ...firstMoments, ...secondMoments]) {
    const size = tensor.shape.reduce((product, dimension) => product * dimension, 1);
    if (size !== tensor.values.length) throw new Error(`Checkpoint tensor ${tensor.name} has ${tensor.values.length} values for shape [${tensor.shape.join(', ')}].`);
  }
}

/** A checkpoint's summary: its small fields and the size of its tensors. */
export function summarize(checkpoint: Checkpoint): CheckpointSummary {
  const { parameters, firstMoments, secondMoments, ...fields } = checkpoint;
  const all = [...parameters, ...firstMoments, ...secondMoments];
  return { ...fields, tensorBytes: all.reduce((bytes, tensor) => bytes + tensor.values.byteLength, 0), tensorCount: all.length };
}
