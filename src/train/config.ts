// The whole training configuration in one typed object with documented defaults (nanoGPT style).
// Defaults follow the upstream recipes (spec §11.1, §11.3) where they apply to a small counting
// dataset, and say so where they depart from them. The object is plain data: it is stored in
// every checkpoint and crosses the worker boundary unchanged.
import { LORA_TARGETS, type LoraTarget } from '../gpu/lora.ts';

export interface TrainingConfig {
  /**
   * Train LoRA adapters on the text decoder (default) or, when true, every text-model parameter
   * (spec §11.1 trains all of `text.*`; only practical for models that fit, e.g. the tiny demo).
   */
  fullFineTune: boolean;
  /** LoRA rank r. Default 8. */
  loraRank: number;
  /** LoRA alpha; the update is scaled by alpha / rank. Default 16 (scale 2). */
  loraAlpha: number;
  /** Layers of each text block that carry an adapter. Default: all four (ARCHITECTURE.md decision 3). */
  loraTargets: LoraTarget[];
  /**
   * Also train every weight of the vision encoder and the projection (f32), computing each
   * sample's image embeddings with the tape instead of reading them from the feature cache.
   * Default false: upstream advises a frozen vision tower below ~100k images, and a frozen one
   * costs one encode per image rather than one per step. Pre-training a model from scratch
   * needs it.
   */
  trainVision: boolean;
  /**
   * With LoRA, also train the token embedding (`wte`) and the LM head (weight and bias) in place,
   * in f32. Default false. A small model pre-trained on other text than the answers has never
   * read or written some of their tokens (`{`, `":`); adapters alone cannot move those rows
   * (public/demo-model/README.md measures it). For Moondream2 these are 2 × 105M values.
   */
  trainTokenLayers: boolean;

  /**
   * Peak learning rate. Default 1e-4, a usual LoRA rate; spec §11.1 uses 3e-6 for full
   * fine-tuning of the 2B model and §11.3 used 1e-5…3e-5.
   */
  learningRate: number;
  /** AdamW β1. Default 0.9 (spec §11.1). */
  beta1: number;
  /** AdamW β2. Default 0.95 (spec §11.1). */
  beta2: number;
  /** AdamW ε. Default 1e-6 (spec §11.1). */
  eps: number;
  /**
   * Decoupled weight decay. Default 0.01 (bitsandbytes AdamW default, spec §11.1). Applied to
   * matrices only: biases and LayerNorm vectors are not decayed (nanoGPT's parameter groups).
   */
  weightDecay: number;

  /** Passes over the train split. Default 3 (spec §11.1). */
  epochs: number;
  /**
   * Samples per micro-batch. Sequences are run one at a time without padding (spec §11.1) and
   * their gradients summed, so this and `gradientAccumulation` only multiply: one optimizer step
   * sees `batchSize × gradientAccumulation` samples. Default 1.
   */
  batchSize: number;
  /**
   * Micro-batches per optimizer step. Default 8 (spec §11.1 uses 128 over ~15k DOCCI samples; a
   * counting dataset of a few hundred images would get a handful of steps with 128).
   */
  gradientAccumulation: number;
  /**
   * Clip the global gradient L2 norm to this value before each optimizer step; 0 turns clipping
   * off. Default 1.0. The gradient of one step is the mean of the per-sample mean losses.
   */
  gradientClip: number;
  /** Fraction of optimizer steps spent warming up from 0.1·LR to LR. Default 0.1 (spec §11.1). */
  warmupFraction: number;
  /** Seeds the data order and the LoRA initialisation. Default 1337. */
  seed: number;

  /** Tokens generated per answer when evaluating (greedy). Default 128: enough for a JSON of ~10 classes. */
  evalMaxTokens: number;
  /**
   * Save a checkpoint every this many optimizer steps (and on pause, failure and at the end); 0
   * saves only then. Default 1: a reload or a crash loses at most the step in progress (a LoRA
   * checkpoint of the 2B model is ~75 MB of adapters and moments).
   */
  checkpointInterval: number;
}

export const DEFAULT_TRAINING_CONFIG: Readonly<TrainingConfig> = Object.freeze({
  fullFineTune: false,
  loraRank: 8,
  loraAlpha: 16,
  loraTargets: [...LORA_TARGETS],
  trainVision: false,
  trainTokenLayers: false,
  learningRate: 1e-4,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-6,
  weightDecay: 0.01,
  epochs: 3,
  batchSize: 1,
  gradientAccumulation: 8,
  gradientClip: 1.0,
  warmupFraction: 0.1,
  seed: 1337,
  evalMaxTokens: 128,
  checkpointInterval: 1,
});

/** The settings a person chooses (the page's form, the CLI's flags); the rest keeps its defaults. */
export type TrainingSettings = Pick<
  TrainingConfig,
  'fullFineTune' | 'loraRank' | 'loraAlpha' | 'learningRate' | 'epochs' | 'batchSize' | 'gradientAccumulation' | 'evalMaxTokens'
> &
  Partial<Pick<TrainingConfig, 'trainTokenLayers'>> & {
  /** Train on the first N train images only (quick trials); undefined = all. */
  trainLimit?: number;
};

/** The settings of a configuration (what a resumed run shows in the form). */
export function settingsOf(config: TrainingConfig, trainLimit?: number): TrainingSettings {
  const { fullFineTune, loraRank, loraAlpha, learningRate, epochs, batchSize, gradientAccumulation, evalMaxTokens, trainTokenLayers } = config;
  return {
    fullFineTune,
    loraRank,
    loraAlpha,
    learningRate,
    epochs,
    batchSize,
    gradientAccumulation,
    evalMaxTokens,
    ...(trainTokenLayers ? { trainTokenLayers } : {}),
    ...(trainLimit === undefined ? {} : { trainLimit }),
  };
}

/** The default settings (a fresh object). */
export function defaultTrainingSettings(): TrainingSettings {
  return settingsOf(DEFAULT_TRAINING_CONFIG);
}

/** LoRA alpha for a rank when only the rank is chosen: the default alpha / rank ratio (scale 2). */
export function defaultLoraAlpha(loraRank: number): number {
  return loraRank * (DEFAULT_TRAINING_CONFIG.loraAlpha / DEFAULT_TRAINING_CONFIG.loraRank);
}

/** The defaults with `overrides` applied (a fresh object; the targets array is copied). */
export function trainingConfig(overrides: Partial<TrainingConfig> = {}): TrainingConfig {
  const config = { ...DEFAULT_TRAINING_CONFIG, ...overrides };
  return { ...config, loraTargets: [...config.loraTargets] };
}

/** Samples that contribute to one optimizer step. */
export function samplesPerStep(config: Pick<TrainingConfig, 'batchSize' | 'gradientAccumulation'>): number {
  return config.batchSize * config.gradientAccumulation;
}

/**
 * Every problem with `config`, one sentence each, naming the field and what to set it to.
 * Empty when the configuration is usable.
 */
export function trainingConfigProblems(config: TrainingConfig): string[] {
  const problems: string[] = [];
  const positiveInteger = (name: keyof TrainingConfig, value: number) => {
    if (!Number.isInteger(value) || value < 1) problems.push(`${name} must be a whole number of at least 1, got ${value}.`);
  };
  const nonNegativeInteger = (name: keyof TrainingConfig, value: number) => {
    if (!Number.isInteger(value) || value < 0) problems.push(`${name} must be a whole number of at least 0, got ${value}.`);
  };
  const inRange = (name: keyof TrainingConfig, value: number, low: number, high: number, hint: string) => {
    if (!Number.isFinite(value) || value < low || value >= high) problems.push(`${name} must be in [${low}, ${high}), got ${value}; ${hint}.`);
  };

  if (!config.fullFineTune) {
    positiveInteger('loraRank', config.loraRank);
    if (!Number.isFinite(config.loraAlpha) || config.loraAlpha <= 0) problems.push(`loraAlpha must be a positive number, got ${config.loraAlpha}; twice the rank is usual.`);
    if (config.loraTargets.length === 0) problems.push(`loraTargets is empty: pick at least one of ${LORA_TARGETS.join(', ')}, or set fullFineTune.`);
    for (const target of config.loraTargets) {
      if (!(LORA_TARGETS as readonly string[]).includes(target)) problems.push(`loraTargets has "${target}", which is not a text-decoder layer; use ${LORA_TARGETS.join(', ')}.`);
    }
    if (new Set(config.loraTargets).size !== config.loraTargets.length) problems.push('loraTargets names a layer twice; list each once.');
  } else if (config.trainTokenLayers) {
    problems.push('trainTokenLayers goes with LoRA: full fine-tuning already trains the embedding and the LM head; turn one of them off.');
  }
  if (!Number.isFinite(config.learningRate) || config.learningRate <= 0 || config.learningRate > 1) {
    problems.push(`learningRate must be in (0, 1], got ${config.learningRate}; 1e-4 suits LoRA, 3e-6 full fine-tuning (spec §11.1).`);
  }
  inRange('beta1', config.beta1, 0, 1, '0.9 is usual');
  inRange('beta2', config.beta2, 0, 1, '0.95 is the upstream value');
  if (!Number.isFinite(config.eps) || config.eps <= 0) problems.push(`eps must be a small positive number, got ${config.eps}; 1e-6 is the upstream value.`);
  if (!Number.isFinite(config.weightDecay) || config.weightDecay < 0) problems.push(`weightDecay must be 0 or more, got ${config.weightDecay}.`);
  positiveInteger('epochs', config.epochs);
  positiveInteger('batchSize', config.batchSize);
  positiveInteger('gradientAccumulation', config.gradientAccumulation);
  if (!Number.isFinite(config.gradientClip) || config.gradientClip < 0) problems.push(`gradientClip must be 0 (off) or a positive norm, got ${config.gradientClip}.`);
  inRange('warmupFraction', config.warmupFraction, 0, 1, '0.1 is the upstream value');
  if (!Number.isInteger(config.seed) || config.seed < 0 || config.seed > 0xffffffff) problems.push(`seed must be a whole number in [0, 4294967295], got ${config.seed}.`);
  positiveInteger('evalMaxTokens', config.evalMaxTokens);
  nonNegativeInteger('checkpointInterval', config.checkpointInterval);
  return problems;
}

/** Throws one error listing every problem with `config`. */
export function validateTrainingConfig(config: TrainingConfig): void {
  const problems = trainingConfigProblems(config);
  if (problems.length > 0) throw new Error(`The training configuration cannot be used:\n- ${problems.join('\n- ')}`);
}

/**
 * Optimizer steps in a run over `trainSamples` samples: upstream counts samples across epochs
 * and steps every `samplesPerStep` of them, so accumulation runs over epoch boundaries and only
 * the run's last partial group is dropped (spec §11.1: `epochs · len(dataset) // accum`).
 */
export function totalOptimizerSteps(config: TrainingConfig, trainSamples: number): number {
  return Math.floor((config.epochs * trainSamples) / samplesPerStep(config));
}

/**
 * The fine-tune the page and the CLI default to for the shipped demo model (public/demo-model):
 * measured to take it from its pre-trained captions to the counting answers within minutes on a
 * CPU (public/demo-model/README.md has the runs behind the numbers). Moondream2 keeps the defaults.
 */
export const DEMO_TRAINING_SETTINGS: Readonly<TrainingSettings> = Object.freeze({
  // Full fine-tuning: LoRA cannot move the LM head, and pre-training on captions pushed the
  // logits of the JSON tokens ({, ":, …) far down (the first fine-tune loss is ~13 nats a token).
  fullFineTune: true,
  loraRank: 16,
  loraAlpha: 32,
  learningRate: 6e-3,
  // Optimizer steps matter more than samples per step here (measured, 100 test images: batch 16 ×
  // 1 epoch 41%, × 3 epochs 54%; batch 8 × 1 epoch 50%, × 2 epochs 55% in 347 s, × 3 epochs 55%).
  epochs: 2,
  batchSize: 8,
  gradientAccumulation: 1,
  evalMaxTokens: DEFAULT_TRAINING_CONFIG.evalMaxTokens,
});
