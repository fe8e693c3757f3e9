// Pre-training the demo model from a seed, with moontune's own engine, vision included: the
// tiny Moondream learns to see the synthetic coins, so that fine-tuning has something to build on
// (as the real Moondream sees objects but does not know the counting format).
//
// Each step draws a fresh batch of coin images from the demo generator (its own seed, so never
// the demo set's test images) and trains every vision, projection and text weight on up to three losses:
//   caption:   the caption template + "2 dime, 1 penny" (counts as digits, classes in the dataset's
//              order), next-token cross-entropy on the caption and EOS;
//   question:  (with countQuestions) the query template + a question about one class, e.g.
//              `How many dime are there?` → `2` (a class drawn at random, zero counts included):
//              the skill of reading one named class's count off the image, as a real VLM has it
//              before it meets the counting format;
//   auxiliary: a throw-away linear head on the ViT outputs that names, per patch, the class of
//              the coin whose centre lies in it (or none): dense supervision that teaches the
//              encoder where the coins are far sooner than the caption alone.
// loss = caption (+ question) + auxiliaryWeight · auxiliary. AdamW, warm-up then cosine, one read-back per step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apply, release, Tape } from '../gpu/autograd.ts';
import type { Engine } from '../gpu/engine.ts';
import { adamwStep, createAdamWState, type AdamWState } from '../gpu/ops/adamw.ts';
import { gradientNormScale } from '../gpu/ops/clip.ts';
import { sliceRowsOp } from '../gpu/ops/copy.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { COIN_CLASSES, createRandom, generateCoinImage, type CoinImage } from '../dataset/demo-coins.ts';
import { deriveDimensions } from '../model/config.ts';
import { add, crossEntropy, linear, type LinearWeights } from '../model/layers.ts';
import { DEMO_INIT, demoConfig, demoWeights, standardNormal } from '../model/demo-model.ts';
import type { MoondreamConfig } from '../model/config.ts';
import { memoryModelFiles } from '../model/model-source.ts';
import { loadMoondream, type Moondream } from '../model/moondream.ts';
import { answerTargetIds, queryPromptIds } from '../model/revisions.ts';
import { SafetensorsFile } from '../model/safetensors.ts';
import { writeSafetensors, type NamedTensor } from '../model/safetensors-writer.ts';
import { namedTextParameters } from '../model/text-weights.ts';
import { imagePatches, visionEncoder } from '../model/vision-encoder.ts';
import { projectImageFeatures } from '../model/vision-projection.ts';
import { namedVisionParameters } from '../model/vision-weights.ts';
import { Xoshiro128 } from './random.ts';
import { scheduledLearningRate } from './schedule.ts';
import { paddedTargets, promptedSequence } from './training-sequence.ts';

export interface PretrainingSettings {
  steps: number;
  /** Images per step (one forward and backward). */
  batchSize: number;
  learningRate: number;
  /** Share of the steps spent warming up from 0.1·learningRate. */
  warmupFraction: number;
  /** Weight of the per-patch auxiliary loss beside the caption loss. */
  auxiliaryWeight: number;
  gradientClip: number;
  weightDecay: number;
  /** Also ask one count question per image (the question loss beside the caption loss). */
  countQuestions: boolean;
  /** Seeds the image stream and the auxiliary head. */
  seed: number;
}

export const DEFAULT_PRETRAINING: PretrainingSettings = {
  steps: 1000,
  batchSize: 16,
  learningRate: 3e-3,
  warmupFraction: 0.05,
  auxiliaryWeight: 1,
  gradientClip: 1,
  weightDecay: 0.01,
  countQuestions: false,
  seed: 20251202,
};

export interface PretrainingStep {
  step: number;
  loss: number;
  captionLoss: number;
  /** 0 without countQuestions. */
  questionLoss: number;
  auxiliaryLoss: number;
  learningRate: number;
  gradientNorm: number;
  seconds: number;
}

/** Class names in the dataset's order (the demo zip lists its categories alphabetically). */
export const CAPTION_CLASS_NAMES: readonly string[] = COIN_CLASSES.map(({ name }) => name).sort();

/** The caption of an image: "2 dime, 1 penny" (non-zero counts, dataset order), or "no coins". */
export function coinCaption(image: Pick<CoinImage, 'coins'>): string {
  const parts: string[] = [];
  for (const name of CAPTION_CLASS_NAMES) {
    const count = image.coins.filter((coin) => COIN_CLASSES[coin.classIndex].name === name).length;
    if (count > 0) parts.push(`${count} ${name}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'no coins';
}

/**
 * Per patch of a grid×grid crop of the whole image (row-major): 0 when no coin centre lies in
 * it, else 1 + the caption index of the class of the first coin whose centre does.
 */
export function patchCentreClasses(image: Pick<CoinImage, 'coins' | 'width' | 'height'>, grid: number): Int32Array {
  const classes = new Int32Array(grid * grid);
  for (const coin of image.coins) {
    const row = Math.min(grid - 1, Math.floor((coin.centreY / image.height) * grid));
    const col = Math.min(grid - 1, Math.floor((coin.centreX / image.width) * grid));
    if (classes[row * grid + col] === 0) classes[row * grid + col] = 1 + CAPTION_CLASS_NAMES.indexOf(COIN_CLASSES[coin.classIndex].name);
  }
  return classes;
}

/** Stream number for the auxiliary head's initial weights (apart from the image stream). */
const AUXILIARY_INIT_STREAM = 0xa0c5;
/** Stream number for the count questions' classes and phrasings. */
const QUESTION_STREAM = 0x9e57;

/**
 * A question about one class of the image and its answer: the class named bare or in quotes
 * (`How many dime are there?`, `How many "dime" are there?`), the count as digits.
 */
export function countQuestion(image: Pick<CoinImage, 'coins'>, classIndex: number, quoted: boolean): { question: string; answer: string } {
  const name = CAPTION_CLASS_NAMES[classIndex];
  const count = image.coins.filter((coin) => COIN_CLASSES[coin.classIndex].name === name).length;
  return { question: `How many ${quoted ? `"${name}"` : name} are there?`, answer: String(count) };
}

export class DemoPretraining {
  private readonly names: string[];
  private readonly parameters: Tensor[];
  private readonly weightDecay: number[];
  private readonly optimizer: AdamWState;
  private readonly auxiliaryHead: LinearWeights;
  private readonly nextImageSeed: () => number;
  private readonly questionRandom: Xoshiro128;
  private stepsDone = 0;

  /**
   * Trains the weights of `model` (loaded in f32) in place. `initial` is the model's full
   * weight list, whose untrained tensors (the region head) `weights()` passes through.
   */
  constructor(
    private readonly model: Moondream,
    private readonly initial: readonly NamedTensor[],
    readonly settings: PretrainingSettings,
  ) {
    const { engine } = model;
    const named = [...namedVisionParameters(model.vision.weights), ...namedTextParameters(model.decoder.weights)];
    this.names = named.map(([name]) => name);
    this.parameters = named.map(([, tensor]) => tensor);
    const { vision } = model.revision.config;
    const random = Xoshiro128.fromSeed(settings.seed, AUXILIARY_INIT_STREAM);
    const classes = 1 + CAPTION_CLASS_NAMES.length;
    const std = 1 / Math.sqrt(vision.enc_dim);
    const normal = () => standardNormal(() => random.nextFloat());
    this.auxiliaryHead = {
      weight: engine.keep(engine.upload(Float32Array.from({ length: classes * vision.enc_dim }, () => std * normal()), [classes, vision.enc_dim], 'f32', 'auxiliary.weight')),
      bias: engine.keep(engine.zeros([classes], 'f32', 'auxiliary.bias')),
    };
    this.parameters.push(this.auxiliaryHead.weight as Tensor, this.auxiliaryHead.bias);
    this.weightDecay = this.parameters.map((tensor) => (tensor.shape.length >= 2 ? settings.weightDecay : 0));
    this.optimizer = createAdamWState(engine, this.parameters);
    this.nextImageSeed = createRandom(settings.seed);
    this.questionRandom = Xoshiro128.fromSeed(settings.seed, QUESTION_STREAM);
  }

  get step(): number {
    return this.stepsDone;
  }

  /** The next batch of the image stream (deterministic from the seed). */
  private nextImages(): CoinImage[] {
    return Array.from({ length: this.settings.batchSize }, () => generateCoinImage(createRandom(Math.floor(this.nextImageSeed() * 2 ** 32))));
  }

  async trainStep(): Promise<PretrainingStep> {
    const started = performance.now();
    const { engine, revision, tokenizer, decoder, vision } = this.model;
    const { config } = revision;
    const { imageTokens, patchDim } = deriveDimensions(config);
    const grid = Math.sqrt(imageTokens);
    const images = this.nextImages();
    const learningRate = scheduledLearningRate(this.stepsDone, this.settings.steps, this.settings.learningRate, this.settings.warmupFraction);

    // All crops of the batch through the ViT in one pass; every image has the same crop count.
    const encoded = images.map((image) => imagePatches(revision, { width: image.width, height: image.height, data: image.rgb }));
    const crops = encoded[0].crops;
    if (encoded.some((entry) => entry.crops !== crops)) throw new Error('Pre-training needs one tiling for every image; use a config with max_crops 1.');
    const patchValues = new Float32Array(images.length * crops * imageTokens * patchDim);
    encoded.forEach(({ patches }, index) => patchValues.set(patches, index * patches.length));
    // Auxiliary targets: every crop of the one-tile layout covers the whole image (the global
    // crop squashed, the tile resized with its margins), so each gets the image's patch classes.
    const auxiliaryTargets = new Int32Array(images.length * crops * imageTokens);
    images.forEach((image, index) => {
      const classes = patchCentreClasses(image, grid);
      for (let crop = 0; crop < crops; crop++) auxiliaryTargets.set(classes, (index * crops + crop) * imageTokens);
    });

    const tape = new Tape(engine);
    tape.watch(...this.parameters);
    const patches = engine.upload(patchValues, [images.length * crops * imageTokens, patchDim], 'f32', 'pretraining.patches');
    const features = visionEncoder(engine, tape, vision, patches);
    release(tape, patches);

    const auxiliaryLogits = linear(engine, tape, features, this.auxiliaryHead);
    const auxiliaryTargetTensor = engine.upload(auxiliaryTargets, [auxiliaryTargets.length], 'i32');
    const auxiliaryRowWeights = engine.upload(new Float32Array(auxiliaryTargets.length).fill(this.settings.auxiliaryWeight / auxiliaryTargets.length), [auxiliaryTargets.length], 'f32');
    const auxiliaryLoss = crossEntropy(engine, tape, auxiliaryLogits, auxiliaryTargetTensor, auxiliaryRowWeights);
    release(tape, auxiliaryLogits, auxiliaryTargetTensor, auxiliaryRowWeights);

    const captionPrompt = config.tokenizer.templates.caption.normal;
    const embeddings = images.map((_, index) => {
      const rows = apply(engine, tape, sliceRowsOp, [features], { start: index * crops * imageTokens, count: crops * imageTokens });
      const projected = projectImageFeatures(engine, tape, vision, rows, encoded[index].tiling);
      release(tape, rows);
      return projected;
    });
    release(tape, features);
    // Next-token loss of one prompted answer per image, all images in one padded batch.
    const textLoss = (prompts: { prompt: readonly number[]; answer: string }[]): Tensor => {
      const sequences = prompts.map(({ prompt, answer }, index) => ({ ...promptedSequence(revision, imageTokens, prompt, answerTargetIds(revision, tokenizer, answer)), image: embeddings[index] }));
      const { length, targets } = paddedTargets(sequences);
      const inputs = decoder.embedBatch(tape, sequences, length);
      const result = decoder.loss(tape, inputs, targets, { sequences: sequences.length });
      release(tape, inputs);
      return result;
    };
    const captionLoss = textLoss(images.map((image) => ({ prompt: captionPrompt, answer: coinCaption(image) })));
    let loss = add(engine, tape, captionLoss, auxiliaryLoss);
    let questionLoss: Tensor | undefined;
    if (this.settings.countQuestions) {
      questionLoss = textLoss(
        images.map((image) => {
          const classIndex = this.questionRandom.nextBelow(CAPTION_CLASS_NAMES.length);
          const { question, answer } = countQuestion(image, classIndex, this.questionRandom.nextFloat() < 0.5);
          return { prompt: queryPromptIds(revision, tokenizer, question), answer };
        }),
      );
      const withQuestions = add(engine, tape, loss, questionLoss);
      release(tape, loss);
      loss = withQuestions;
    }
    release(tape, ...embeddings);
    tape.backward(loss);

    // A weight the losses do not reach (none today) still takes its decay step, on a zero gradient.
    const missing: Tensor[] = [];
    const gradients = this.parameters.map((tensor) => tape.grad(tensor) ?? missing[missing.push(engine.zeros(tensor.shape, 'f32', 'zero gradient')) - 1]);
    const clipped = gradientNormScale(engine, gradients, this.settings.gradientClip);
    const { weightDecay } = this;
    adamwStep(engine, this.parameters, gradients, this.optimizer, { learningRate, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay }, clipped.scale);
    const metrics = [loss, captionLoss, auxiliaryLoss, clipped.norm, ...(questionLoss ? [questionLoss] : [])];
    const readout = engine.empty([metrics.length], 'f32', 'pretraining metrics');
    metrics.forEach((tensor, index) => engine.copy(tensor, readout, 4, 0, 4 * index));
    const [total, caption, auxiliary, norm, question = 0] = await engine.readFloat(readout);
    for (const gradient of missing) gradient.dispose();
    tape.dispose();
    for (const tensor of [readout, ...metrics, clipped.scale]) tensor.dispose();
    this.stepsDone++;
    return { step: this.stepsDone, loss: total, captionLoss: caption, questionLoss: question, auxiliaryLoss: auxiliary / this.settings.auxiliaryWeight, learningRate, gradientNorm: norm, seconds: (performance.now() - started) / 1000 };
  }

  /** The model's whole weight list with the trained values (the auxiliary head is left out). */
  async weights(): Promise<NamedTensor[]> {
    const { engine } = this.model;
    const trained = new Map<string, Float32Array>();
    for (let index = 0; index < this.names.length; index++) trained.set(this.names[index], await engine.readFloat(this.parameters[index]));
    return this.initial.map((tensor) => ({ ...tensor, values: trained.get(tensor.name) ?? tensor.values }));
  }

  dispose(): void {
    for (const tensor of [...this.optimizer.firstMoments, ...this.optimizer.secondMoments, this.auxiliaryHead.weight as Tensor, this.auxiliaryHead.bias]) tensor.dispose();
  }
}

/** The files of a demo model (tokenizer.json as given, config.json, model.safetensors) in memory. */
export function demoModelContents(tokenizerJson: unknown, config: MoondreamConfig, weights: readonly NamedTensor[], description: string): Map<string, Uint8Array> {
  const encoder = new TextEncoder();
  const parameters = weights.reduce((sum, tensor) => sum + tensor.values.length, 0);
  return new Map([
    ['tokenizer.json', encoder.encode(JSON.stringify(tokenizerJson, null, 1) + '\n')],
    ['config.json', encoder.encode(JSON.stringify({ ...config, init: DEMO_INIT, parameters }, null, 2) + '\n')],
    ['model.safetensors', writeSafetensors(weights, { format: 'pt', description })],
  ]);
}

/** A demo model with its seeded initial weights, loaded in f32 for pre-training. */
export async function initialDemoModel(engine: Engine, tokenizerJson: { model: { vocab: object } }, seed: number, visionWidth?: number): Promise<{ model: Moondream; initial: NamedTensor[]; config: MoondreamConfig }> {
  const config = demoConfig(Object.keys(tokenizerJson.model.vocab).length, visionWidth);
  const random = Xoshiro128.fromSeed(seed);
  const initial = demoWeights(config, () => random.nextFloat());
  const files = memoryModelFiles('demo model (initial)', demoModelContents(tokenizerJson, config, initial, 'moontune demo model: initial weights'));
  return { model: await loadMoondream(engine, files, { precision: 'f32' }), initial, config };
}

/**
 * A demo model from a folder written by the pre-training script (config.json, model.safetensors of
 * f32 tensors), with `tokenizerJson`, loaded in f32 to train further (Node: it reads the files).
 */
export async function demoModelFromFolder(engine: Engine, tokenizerJson: unknown, folder: string): Promise<{ model: Moondream; initial: NamedTensor[]; config: MoondreamConfig }> {
  const contents = new Map(['tokenizer.json', 'config.json', 'model.safetensors'].map((name) => [name, new Uint8Array(readFileSync(join(folder, name)))]));
  const json = (name: string) => JSON.parse(new TextDecoder().decode(contents.get(name)));
  // Token ids index the embedding and head rows: weights trained with another vocabulary would load but mean other tokens.
  if (JSON.stringify(json('tokenizer.json').model) !== JSON.stringify((tokenizerJson as { model?: unknown }).model)) {
    throw new Error(`${folder}/tokenizer.json is not this run's tokenizer: its weights were trained for other token ids. Start from a folder this script wrote with the same texts.`);
  }
  const { init: _init, parameters: _parameters, ...config } = json('config.json') as MoondreamConfig & { init?: unknown; parameters?: unknown };
  const file = new SafetensorsFile(contents.get('model.safetensors')!);
  const initial = file.header.tensors.map(({ name, shape }) => ({ name, shape, values: file.float32(name) }));
  return { model: await loadMoondream(engine, memoryModelFiles(folder, contents), { precision: 'f32' }), initial, config };
}
