// The training loop (nanoGPT-sized, read top to bottom): per optimizer step, `batchSize ×
// gradientAccumulation` samples in the data order, each run as one unpadded sequence
// [BOS] + image + prompt + answer + EOS with the loss on answer + EOS (spec §11.1); gradients
// averaged over the step's samples, clipped to a global norm, then one AdamW step at the
// scheduled learning rate. Checkpoints every `checkpointInterval` steps, on pause, at the end and
// before a failed step's error is rethrown hold everything needed to continue the same run
// exactly after a reload. Samples whose image cannot be decoded are skipped and reported.
import { Tape } from '../gpu/autograd.ts';
import type { Engine } from '../gpu/engine.ts';
import { adamwStep, createAdamWState, type AdamWState } from '../gpu/ops/adamw.ts';
import { gradientNormScale } from '../gpu/ops/clip.ts';
import { accumulate } from '../gpu/ops/elementwise.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from '../model/config.ts';
import type { Revision } from '../model/revisions.ts';
import type { RgbImage } from '../model/rgb-image.ts';
import type { TextDecoder } from '../model/text-decoder.ts';
import { imageEmbeddings, type VisionModel } from '../model/vision-encoder.ts';
import type { MoondreamTokenizer } from '../model/tokenizer.ts';
import { writeAdapterFile } from './adapter-export.ts';
import { CheckpointDatasetMismatchError, type Checkpoint, type CheckpointStore, type CheckpointSummary, type CheckpointTensor, type MetricPoint } from './checkpoint-store.ts';
import { samplesPerStep, totalOptimizerSteps, validateTrainingConfig, type TrainingConfig } from './config.ts';
import { DataOrder } from './data-order.ts';
import { UnusableImageError, type ImageFeatureCache, type SkippedImage } from './feature-cache.ts';
import { Xoshiro128 } from './random.ts';
import { learningRateForStep } from './schedule.ts';
import { createTrainableParameters, readTensors, writeTensors, type TrainableParameters } from './trainable-parameters.ts';
import { needsRecompute } from './training-budget.ts';
import { paddedTargets, trainingSequence, type TrainingSequence } from './training-sequence.ts';

/** The parts of a loaded model the trainer uses (a `Moondream` has them all). */
export interface TrainerModel {
  readonly engine: Engine;
  readonly revision: Revision;
  readonly tokenizer: MoondreamTokenizer;
  readonly decoder: TextDecoder;
  readonly vision: VisionModel;
}

export interface TrainingSample {
  /** Key of the image in the feature cache (its path in the dataset). */
  imagePath: string;
  question: string;
  answer: string;
}

/** Reported after every optimizer step; the same object reaches the page and the CLI. */
export interface TrainingProgress {
  runId: string;
  /** Optimizer steps completed. */
  step: number;
  totalSteps: number;
  /** Epoch of the next sample (0-based). */
  epoch: number;
  /** Mean loss over the last step's samples; null when all of them were skipped. */
  loss: number | null;
  learningRate: number;
  /** Global gradient norm before clipping (when clipping is on). */
  gradientNorm?: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
  /** Estimate for the remaining steps at the speed so far. */
  etaSeconds: number;
  /** Images left out so far because they cannot be decoded. */
  skippedImages: SkippedImage[];
  /** The last step recomputed decoder blocks on the backward pass to stay within the memory budget. */
  recomputing: boolean;
}

export interface TrainingRunOptions {
  runId: string;
  model: TrainerModel;
  /** The train split, in dataset order (the data order permutes indices into it). */
  samples: readonly TrainingSample[];
  features: ImageFeatureCache;
  /**
   * The decoded image of a sample (by imagePath): needed when the config trains the vision tower.
   * An image that cannot be decoded throws UnusableImageError, as the feature cache does.
   */
  images?: (imagePath: string) => Promise<RgbImage>;
  /** `datasetFingerprint(dataset)`: stored in checkpoints, checked on resume. */
  datasetFingerprint: string;
  /**
   * Where checkpoints go; without one the run keeps nothing across reloads. Only save() is
   * used, so the IndexedDB store (browser) and a folder store (CLI) both fit.
   */
  store?: Pick<CheckpointStore, 'save'>;
  onProgress?: (progress: TrainingProgress) => void;
  onCheckpoint?: (summary: CheckpointSummary) => void;
  /**
   * GPU bytes a training step may take the model to (training-budget.ts); a micro-batch whose
   * stored activations would pass it recomputes each decoder block on the backward pass
   * instead. Default DEFAULT_TRAINING_MEMORY_BYTES (an 8 GB card with room for the browser).
   */
  memoryLimitBytes?: number;
  /** Recompute always (true) or never (false), whatever the budget says. */
  recompute?: boolean;
}

/** Stream numbers for Xoshiro128.fromSeed(seed, stream): LoRA initialisation draws apart from the data order. */
const LORA_INIT_STREAM = 0x10ca;

export class TrainingRun {
  readonly totalSteps: number;
  readonly history: MetricPoint[];
  private readonly parameters: TrainableParameters;
  private readonly optimizer: AdamWState;
  /** Gradient sums of a step, allocated once (ordered like the parameters). */
  private readonly gradients: Tensor[];
  /**
   * Weight decay per trainable tensor: matrices decay, vectors (biases, LayerNorm weights) do not,
   * as nanoGPT groups them. LoRA's A and B are matrices.
   */
  private readonly weightDecay: number[];
  private readonly imageTokens: number;
  /** Train images met so far that cannot be decoded, in the order met. */
  private readonly skippedImages = new Map<string, SkippedImage>();
  /** The step of the last checkpoint saved by this run (undefined before its first save). */
  private savedStep: number | undefined;
  private pauseRequested = false;
  private running = false;
  private timing = { seconds: 0, tokens: 0, steps: 0 };
  private recomputing = false;

  private constructor(
    private readonly options: TrainingRunOptions,
    readonly config: TrainingConfig,
    private order: DataOrder,
    private random: Xoshiro128,
    history: MetricPoint[],
  ) {
    validateTrainingConfig(config);
    const { engine } = options.model;
    this.totalSteps = totalOptimizerSteps(config, options.samples.length);
    if (this.totalSteps < 1) {
      throw new Error(`${options.samples.length} train samples × ${config.epochs} epochs give no complete optimizer step of ${samplesPerStep(config)} samples; lower batchSize or gradientAccumulation, or add epochs.`);
    }
    this.history = history;
    this.imageTokens = deriveDimensions(options.model.revision.config).imageTokens;
    if (config.trainVision && !options.images) throw new Error('Training the vision tower needs the images themselves (TrainingRunOptions.images), not only their cached features.');
    this.parameters = createTrainableParameters(engine, options.model, config, () => random.nextFloat());
    this.optimizer = createAdamWState(engine, this.parameters.tensors);
    this.gradients = this.parameters.tensors.map((tensor) => engine.keep(engine.zeros(tensor.shape, 'f32', `grad sum ${tensor.label}`)));
    this.weightDecay = this.parameters.tensors.map((tensor) => (tensor.shape.length >= 2 ? config.weightDecay : 0));
  }

  /** A new run: fresh adapters (seeded), zero moments, the data order at its start. */
  static start(options: TrainingRunOptions, config: TrainingConfig): TrainingRun {
    validateTrainingConfig(config);
    const random = Xoshiro128.fromSeed(config.seed, LORA_INIT_STREAM);
    return new TrainingRun(options, config, DataOrder.start(config.seed, options.samples.length, config.epochs), random, []);
  }

  /** Continues a run from its checkpoint (same config, data position, weights, moments and RNG). */
  static resume(options: TrainingRunOptions, checkpoint: Checkpoint): TrainingRun {
    if (checkpoint.datasetFingerprint !== options.datasetFingerprint) {
      throw new CheckpointDatasetMismatchError(`Run "${checkpoint.runId}" was trained on another dataset (or other questions) than the one loaded; load the dataset the run started with, or start a new run.`);
    }
    const order = DataOrder.resume(checkpoint.dataOrder, options.samples.length);
    const run = new TrainingRun(options, checkpoint.config, order, Xoshiro128.fromSeed(checkpoint.config.seed, LORA_INIT_STREAM), [...checkpoint.metricHistory]);
    const { engine } = options.model;
    const { names, tensors } = run.parameters;
    try {
      writeTensors(engine, names, tensors, checkpoint.parameters, 'trainable tensors');
      writeTensors(engine, names, run.optimizer.firstMoments, checkpoint.firstMoments, 'first moments');
      writeTensors(engine, names, run.optimizer.secondMoments, checkpoint.secondMoments, 'second moments');
      run.random = new Xoshiro128(checkpoint.randomState);
    } catch (error) {
      run.dispose(); // leave the model as it was: no half-restored weights, no adapters left
      throw error;
    }
    run.optimizer.step = checkpoint.step;
    return run;
  }

  get runId(): string {
    return this.options.runId;
  }

  /** Optimizer steps completed. */
  get step(): number {
    return this.optimizer.step;
  }

  get finished(): boolean {
    return this.step >= this.totalSteps;
  }

  /** The adapters being trained (LoRA runs). */
  get adapters() {
    return this.parameters.adapters;
  }

  /**
   * The model's own weights this run trains in place (every text weight for full fine-tuning, the
   * vision weights with trainVision, the embedding and LM head with trainTokenLayers), read back
   * under their canonical names; none for LoRA alone.
   */
  async trainedWeights(): Promise<CheckpointTensor[]> {
    const { names, tensors, adapters } = this.parameters;
    // The LoRA A and B of each adapted layer come first (trainable-parameters.ts).
    const adapterTensors = adapters ? 2 * adapters.names.length : 0;
    return readTensors(this.options.model.engine, names.slice(adapterTensors), tensors.slice(adapterTensors));
  }

  /** Asks `run()` to stop after the step in progress (it then saves a checkpoint). */
  pause(): void {
    this.pauseRequested = true;
  }

  /**
   * Trains until the last step or a pause; checkpoints on the way and when it stops. A step that
   * fails leaves the run as it was before the step, and that state is saved before the error is
   * rethrown, so nothing completed is lost and run() (or a resume) can continue from it.
   */
  async run(): Promise<'finished' | 'paused'> {
    if (this.running) throw new Error(`Run "${this.runId}" is already training; pause it and wait for run() to return first.`);
    this.running = true;
    this.pauseRequested = false;
    try {
      const { checkpointInterval } = this.config;
      while (!this.finished) {
        if (this.pauseRequested) {
          await this.save();
          return 'paused';
        }
        await this.stepOrSave();
        // A failed save (e.g. CheckpointQuotaError) rejects here with the previous checkpoint
        // intact; the run's state is consistent, so run() may simply be called again.
        if (checkpointInterval > 0 && this.step % checkpointInterval === 0 && !this.finished) await this.save();
      }
      await this.save();
      return 'finished';
    } finally {
      this.running = false;
    }
  }

  /**
   * One optimizer step over the next `batchSize × gradientAccumulation` samples. Samples whose
   * image cannot be decoded are skipped (the step's gradient is the mean over the others); a
   * step left with none makes no update and records a null loss. If the step fails before the
   * update, the data order is rewound so the run is exactly as before it.
   */
  async trainStep(): Promise<MetricPoint> {
    if (this.finished) throw new Error(`Run "${this.runId}" has finished all ${this.totalSteps} steps.`);
    const started = performance.now();
    const { engine, decoder, revision, tokenizer } = this.options.model;
    const { tensors } = this.parameters;
    const position = this.order.position;
    const batch = this.order.nextBatch(samplesPerStep(this.config));
    const learningRate = learningRateForStep(this.step, this.totalSteps, this.config.learningRate, this.config.warmupFraction);

    // One forward and backward per micro-batch of batchSize sequences, padded to the longest;
    // each micro-batch's loss is the mean of its samples' mean answer losses, so weighting it by
    // its share of the step makes the step's gradient the mean over all the step's samples.
    let tokens = 0;
    let stepLoss: Tensor | undefined;
    let clipped: { norm: Tensor; scale: Tensor } | undefined;
    try {
      const samples = await this.usableSamples(batch.map(({ sample }) => this.options.samples[sample]));
      if (samples.length === 0) return this.record({ step: ++this.optimizer.step, loss: null, learningRate }, 0, started);
      // A clear, not a multiply by zero: a NaN or infinity left by a failed step must not survive.
      for (const gradient of this.gradients) engine.clear(gradient);
      stepLoss = engine.zeros([1], 'f32', 'step loss');
      for (const group of this.forwardGroups(samples)) {
        const tape = new Tape(engine);
        tape.watch(...tensors);
        const sequences = [];
        for (const { sample, pixels, sequence } of group) {
          tokens += sequence.ids.length;
          // A trained vision tower encodes the image on the tape; a frozen one's features are cached.
          const image = pixels ? imageEmbeddings(engine, this.options.model.vision, pixels, tape).embeddings : await this.options.features.get(sample.imagePath);
          sequences.push({ ...sequence, image });
        }
        const { length, targets } = paddedTargets(sequences);
        const recompute = this.recomputes(sequences.length, length, Math.max(...sequences.map(({ answerTokens }) => answerTokens)));
        this.recomputing = recompute;
        const inputs = decoder.embedBatch(tape, sequences, length);
        const loss = decoder.loss(tape, inputs, targets, { lora: this.parameters.adapters, sequences: sequences.length, recompute });
        tape.backward(loss);
        const share = group.length / samples.length;
        tensors.forEach((tensor, index) => {
          const gradient = tape.grad(tensor);
          if (gradient) accumulate(engine, this.gradients[index], gradient, share);
        });
        accumulate(engine, stepLoss, loss, share);
        tape.dispose();
        for (const tensor of [inputs, loss, ...sequences.map(({ image }) => image)]) tensor.dispose();
      }
      if (this.config.gradientClip > 0) clipped = gradientNormScale(engine, this.gradients, this.config.gradientClip);
    } catch (error) {
      stepLoss?.dispose();
      this.order = DataOrder.resume(position, this.options.samples.length);
      throw error;
    }

    // One read-back per step: the loss and (with clipping) the gradient norm.
    const readout = engine.empty([2], 'f32', 'step metrics');
    engine.copy(stepLoss, readout, 4);
    if (clipped) engine.copy(clipped.norm, readout, 4, 0, 4);
    const { beta1, beta2, eps } = this.config;
    adamwStep(engine, tensors, this.gradients, this.optimizer, { learningRate, beta1, beta2, eps, weightDecay: this.weightDecay }, clipped?.scale);
    const [loss, norm] = await engine.readFloat(readout);
    for (const tensor of [readout, stepLoss, clipped?.norm, clipped?.scale]) tensor?.dispose();
    return this.record({ step: this.step, loss, learningRate, ...(clipped ? { gradientNorm: norm } : {}) }, tokens, started);
  }

  /**
   * The step's samples as forwards of batchSize sequences, each cut smaller where its padded
   * batch would pass the engine's binding limit (TextDecoder.sequencesPerPass): the loss and
   * gradients are the same, since every forward is weighted by its share of the step.
   */
  private forwardGroups<T extends { sample: TrainingSample }>(samples: readonly T[]): (T & { sequence: TrainingSequence })[][] {
    const { decoder, revision, tokenizer } = this.options.model;
    const withSequences = samples.map((item) => ({ ...item, sequence: trainingSequence(revision, tokenizer, this.imageTokens, item.sample.question, item.sample.answer) }));
    const groups: (T & { sequence: TrainingSequence })[][] = [];
    for (let first = 0; first < withSequences.length; first += this.config.batchSize) {
      const batch = withSequences.slice(first, first + this.config.batchSize);
      const length = Math.max(...batch.map(({ sequence }) => sequence.ids.length));
      const labelled = Math.max(...batch.map(({ sequence }) => sequence.answerTokens));
      const perPass = decoder.sequencesPerPass(length, { labelled });
      for (let start = 0; start < batch.length; start += perPass) groups.push(batch.slice(start, start + perPass));
    }
    return groups;
  }

  /** Whether a micro-batch of this shape recomputes its blocks (options.recompute, else the memory budget). */
  private recomputes(batchSize: number, sequenceLength: number, answerTokens: number): boolean {
    const { recompute, memoryLimitBytes, model } = this.options;
    if (recompute !== undefined) return recompute;
    const training = this.config.fullFineTune ? ({ fullFineTune: true } as const) : { lora: { rank: this.config.loraRank, targets: this.config.loraTargets } };
    const precision = model.decoder.weights.blocks[0]?.attn.qkv.weight.dtype === 'f16' ? 'f16' : 'f32';
    return needsRecompute(model.revision, { batchSize, sequenceLength, answerTokens, training, precision }, memoryLimitBytes);
  }

  /** Everything needed to continue this run exactly, read back from the GPU. */
  async checkpoint(): Promise<Checkpoint> {
    const { engine } = this.options.model;
    const { names, tensors } = this.parameters;
    return {
      runId: this.runId,
      step: this.step,
      savedAt: Date.now(),
      config: this.config,
      datasetFingerprint: this.options.datasetFingerprint,
      dataOrder: this.order.position,
      randomState: this.random.state,
      metricHistory: this.history.map((point) => ({ ...point })),
      parameters: await readTensors(engine, names, tensors),
      firstMoments: await readTensors(engine, names, this.optimizer.firstMoments),
      secondMoments: await readTensors(engine, names, this.optimizer.secondMoments),
    };
  }

  /** Saves a checkpoint to the store (if the run has one); the previous one is kept until this one is complete. */
  async save(): Promise<CheckpointSummary | null> {
    if (!this.options.store) return null;
    const summary = await this.options.store.save(await this.checkpoint());
    this.savedStep = summary.step;
    this.options.onCheckpoint?.(summary);
    return summary;
  }

  /** The trained adapters as a safetensors file (LoRA runs; full fine-tuning changes the model's own weights). */
  async exportAdapterFile(): Promise<Uint8Array> {
    const { adapters } = this.parameters;
    if (!adapters) throw new Error('This run fine-tunes every text weight, so there are no adapters to export; save the checkpoint instead.');
    const { engine, revision } = this.options.model;
    return writeAdapterFile({ config: adapters.config, revision: revision.id, adapters: await adapters.export(engine) });
  }

  /** Frees the optimizer state, the gradient buffers and the adapters. */
  dispose(): void {
    for (const tensor of [...this.gradients, ...this.optimizer.firstMoments, ...this.optimizer.secondMoments]) tensor.dispose();
    this.parameters.dispose();
  }

  /** A step, or, when it fails before its update, a checkpoint of the run as it was before it. */
  private async stepOrSave(): Promise<void> {
    const stepBefore = this.step;
    try {
      await this.trainStep();
    } catch (error) {
      if (this.step === stepBefore && this.savedStep !== stepBefore) {
        // Best effort: when the device is gone the save fails too, and the step's own error is
        // the one to report; the store still holds the checkpoint before.
        await this.save().catch(() => {});
      }
      throw error;
    }
  }

  /**
   * The samples whose image can be had: its embeddings computed now when not cached, or with a
   * trained vision tower its pixels decoded. The others are remembered as skipped.
   */
  private async usableSamples(samples: readonly TrainingSample[]): Promise<{ sample: TrainingSample; pixels?: RgbImage }[]> {
    const usable: { sample: TrainingSample; pixels?: RgbImage }[] = [];
    for (const sample of samples) {
      try {
        if (this.config.trainVision) {
          usable.push({ sample, pixels: await this.options.images!(sample.imagePath) });
        } else {
          await this.options.features.features(sample.imagePath);
          usable.push({ sample });
        }
      } catch (error) {
        if (!(error instanceof UnusableImageError)) throw error;
        this.skippedImages.set(error.path, { path: error.path, reason: error.reason });
      }
    }
    return usable;
  }

  private record(point: MetricPoint, tokens: number, started: number): MetricPoint {
    this.history.push(point);
    this.report(point, tokens, (performance.now() - started) / 1000);
    return point;
  }

  private report(point: MetricPoint, tokens: number, seconds: number): void {
    this.timing = { seconds: this.timing.seconds + seconds, tokens: this.timing.tokens + tokens, steps: this.timing.steps + 1 };
    const secondsPerStep = this.timing.seconds / this.timing.steps;
    this.options.onProgress?.({
      runId: this.runId,
      step: this.step,
      totalSteps: this.totalSteps,
      epoch: this.order.position.epoch,
      loss: point.loss,
      learningRate: point.learningRate,
      gradientNorm: point.gradientNorm,
      tokensPerSecond: this.timing.seconds > 0 ? this.timing.tokens / this.timing.seconds : 0,
      elapsedSeconds: this.timing.seconds,
      etaSeconds: secondsPerStep * (this.totalSteps - this.step),
      skippedImages: [...this.skippedImages.values()],
      recomputing: this.recomputing,
    });
  }
}
