// What a training session hands back to its host: plain data, the same objects for the page
// (through the worker, structured-clone safe) and for the CLI.
import type { SplitName } from '../dataset/types.ts';
import type { TrainingSettings } from './config.ts';
import type { Evaluation } from './evaluate.ts';
import type { SkippedImage } from './feature-cache.ts';
import type { RunRecord } from './run-log.ts';

export interface ModelLoadProgress {
  stage: 'download' | 'weights';
  /** The file being read. */
  file: string;
  doneBytes: number;
  totalBytes: number | undefined;
  /** Bytes that came from the browser cache rather than the network (hub downloads). */
  cachedBytes: number;
  bytesPerSecond: number;
  etaSeconds: number | undefined;
}

export interface ModelSummary {
  /** The revision id (a hub branch, or the source's name for config-described models). */
  revision: string;
  description: string;
  parameters: number;
  gpuBytes: number;
  /** Storage dtypes of the weights on the GPU, e.g. "f16 + f32". */
  precision: string;
  /** Small enough to fine-tune every text weight. */
  fullFineTuneAllowed: boolean;
  /** Whether this is the shipped demo model (public/demo-model). */
  isDemo: boolean;
}

/** One accuracy measurement: the scores, the answers, and what was measured on. */
export interface EvaluationResult extends Evaluation {
  /** The split measured (evaluation-split.ts decides which). */
  split: SplitName;
  /** Why that split, when it is not the test split. */
  note?: string;
  seconds: number;
  /** How the answers were decoded: 'free' (greedy, any tokens) or 'counts' (only the counting format). */
  decoding: AnswerDecoding;
}

/** Greedy decoding of any tokens, or only of answers in the counting format (count-constraint.ts). */
export type AnswerDecoding = 'free' | 'counts';

/** A stored checkpoint the loaded dataset and model can continue from. */
export interface ResumeOffer {
  runId: string;
  step: number;
  totalSteps: number;
  savedAt: number;
  settings: TrainingSettings;
  /** Loss per completed step, for the curve (null for a step whose samples were all skipped). */
  losses: { step: number; loss: number | null }[];
}

export type TrainingOutcome = 'finished' | 'paused';

/** A stored run as the runs table shows it: its record joined with its newest checkpoint. */
export interface RunSummary extends RunRecord {
  /** Optimizer steps its checkpoint holds (0 before the first is saved). */
  step: number;
  /** When its newest checkpoint was saved, if it has one. */
  savedAt?: number;
  /** Bytes of its checkpoint's tensors. */
  storedBytes: number;
  /** Loss and learning rate per completed step. */
  curve: { step: number; loss: number; learningRate: number }[];
  /** A run of the loaded dataset and model. */
  ofLoadedModel: boolean;
  /** The run the session holds (training, paused or finished since the model loaded or resumed it). */
  inSession: boolean;
}

export type { SkippedImage, TrainingSettings };
