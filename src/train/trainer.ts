// The training loop (nanoGPT-sized, read top to bottom): per optimizer step, `batchSize ×
// gradientAccumulation` samples in the data order, each run as one unpadded sequence
// [BOS] + image + prompt + answer + EOS with the loss on answer + EOS (spec §11.1); gradients
// averaged over the step's samples, clipped to a global norm, then one AdamW step at the
// scheduled learning rate. Checkpoints every `checkpointInterval` steps, on pause and at the end
// hold everything needed to continue the same run exactly after a reload.
import { Tape } from '../gpu/autograd.ts';
import type { Engine } from '../gpu/engine.ts';
import { adamwStep, createAdamWState, type AdamWState } from '../gpu/ops/adamw.ts';
import { clipGradNorm, scaleInPlace } from '../gpu/ops/clip.ts';
import { accumulate } from '../gpu/ops/elementwise.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from '../model/config.ts';
import type { Revision } from '../model/revisions.ts';
import type { RgbImage } from '../model/rgb-image.ts';
import type { TextDecoder } from '../model/text-decoder.ts';
import { imageEmbeddings, type VisionModel } from '../model/vision-encoder.ts';
import type { MoondreamTokenizer } from '../model/tokenizer.ts';
import { writeAdapterFile } from './adapter-export.ts';
import { CheckpointDatasetMismatchError, type Checkpoint, type CheckpointStore, type CheckpointSummary, type MetricPoint } from './checkpoint-store.ts';
import { samplesPerStep, totalOptimizerSteps, validateTrainingConfig, type TrainingConfig } from './config.ts';
import { DataOrder } from './data-order.ts';
import type { ImageFeatureCache } from './feature-cache.ts';
import { Xoshiro128 } from './random.ts';
import { learningRateForStep } from './schedule.ts';
import { createTrainableParameters, readTensors, writeTensors, type TrainableParameters } from './trainable-parameters.ts';
import { trainingSequence } from './training-sequence.ts';

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

export interface TrainingProgress {
  runId: string;
  /** Optimizer steps completed. */
  step: number;
  totalSteps: number;
  /** Epoch of the next sample (0-based). */
  epoch: number;
  /** Mean loss over the last step's samples. */
  loss: number;
  learningRate: number;
  /** Global gradient norm before clipping (when clipping is on). */
  gradientNorm?: number;
  tokensPerSecond: number;
  elapsedSeconds: number;
  /** Estimate for the remaining steps at the speed so far. */
  etaSeconds: number;
}

export interface TrainingRunOptions {
  runId: string;
  model: TrainerModel;
  /** The train split, in dataset order (the data order permutes indices into it). */
  samples: readonly TrainingSample[];
  features: ImageFeatureCache;
  /** The decoded image of a sample (by imagePath): needed when the config trains the vision tower. */
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
  /** [1] holding 0: gradient sums are cleared by scaling in place on the GPU, so no host buffer the size of the largest weight is needed. */
  private readonly zero: Tensor;
  private readonly imageTokens: number;
  private pauseRequested = false;
  private running = false;
  private timing = { seconds: 0, tokens: 0, steps: 0 };

  private constructor(
    private readonly options: TrainingRunOptions,
    readonly config: TrainingConfig,
    private readonly order: DataOrder,
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
    this.zero = engine.keep(engine.upload(Float32Array.of(0), [1], 'f32', 'zero'));
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
      run.dispose(); // leave the model as it was: no half-restored adapters on the decoder
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

  /** Asks `run()` to stop after the step in progress (it then saves a checkpoint). */
  pause(): void {
    this.pauseRequested = true;
  }

  /** Trains until the last step or a pause; checkpoints on the way and when it stops. */
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
        await this.trainStep();
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

  /** One optimizer step over the next `batchSize × gradientAccumulation` samples. */
  async trainStep(): Promise<MetricPoint> {
    if (this.finished) throw new Error(`Run "${this.runId}" has finished all ${this.totalSteps} steps.`);
    const started = performance.now();
    const { engine, decoder, revision, tokenizer } = this.options.model;
    const { tensors } = this.parameters;
    const batch = this.order.nextBatch(samplesPerStep(this.config));
    const learningRate = learningRateForStep(this.step, this.totalSteps, this.config.learningRate, this.config.warmupFraction);
    for (const gradient of this.gradients) scaleInPlace(engine, gradient, this.zero);

    const losses: Tensor[] = [];
    let tokens = 0;
    for (const { sample } of batch) {
      const { imagePath, question, answer } = this.options.samples[sample];
      const sequence = trainingSequence(revision, tokenizer, this.imageTokens, question, answer);
      tokens += sequence.ids.length;
      const tape = new Tape(engine);
      tape.watch(...tensors);
      const image = this.config.trainVision
        ? imageEmbeddings(engine, this.options.model.vision, await this.options.images!(imagePath), tape).embeddings
        : await this.options.features.get(imagePath);
      const inputs = decoder.embed(tape, sequence.ids, image);
      const loss = decoder.loss(tape, inputs, sequence.targets, { lora: this.parameters.adapters });
      tape.backward(loss);
      // The step's gradient is the mean over its samples of each sample's mean answer loss.
      tensors.forEach((tensor, index) => {
        const gradient = tape.grad(tensor);
        if (gradient) accumulate(engine, this.gradients[index], gradient, 1 / batch.length);
      });
      tape.dispose();
      inputs.dispose();
      image.dispose();
      losses.push(loss);
    }

    let gradientNorm: number | undefined;
    if (this.config.gradientClip > 0) {
      const { norm, scale } = clipGradNorm(engine, this.gradients, this.config.gradientClip);
      gradientNorm = (await engine.readFloat(norm))[0];
      norm.dispose();
      scale.dispose();
    }
    const { beta1, beta2, eps, weightDecay } = this.config;
    adamwStep(engine, tensors, this.gradients, this.optimizer, { learningRate, beta1, beta2, eps, weightDecay });
    let lossSum = 0;
    for (const loss of losses) {
      lossSum += (await engine.readFloat(loss))[0];
      loss.dispose();
    }

    const point: MetricPoint = { step: this.step, loss: lossSum / batch.length, learningRate, ...(gradientNorm === undefined ? {} : { gradientNorm }) };
    this.history.push(point);
    this.report(point, tokens, (performance.now() - started) / 1000);
    return point;
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
    for (const tensor of [...this.gradients, ...this.optimizer.firstMoments, ...this.optimizer.secondMoments, this.zero]) tensor.dispose();
    this.parameters.dispose();
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
    });
  }
}
