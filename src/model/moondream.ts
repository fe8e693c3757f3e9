// The whole model for inference: weights on the GPU, vision encoder, text decoder with a KV
// cache, and the query loop of spec §8 — encode an image once (crops → ViT → image embeddings →
// prefill of BOS + image tokens), then answer questions about it by prefilling the prompt after
// that prefix and decoding token by token (generate.ts).
import type { Engine } from '../gpu/engine.ts';
import type { LoraAdapters } from '../gpu/lora.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from './config.ts';
import { generate } from './generate.ts';
import { KVCache, type KVSnapshot } from './kv-cache.ts';
import { loadSourceTokenizer, openWeights, resolveModelSource, type ModelFiles, type OpenedFile, type ResolveOptions } from './model-source.ts';
import { queryPromptIds, type Revision } from './revisions.ts';
import type { RgbImage } from './rgb-image.ts';
import { TextDecoder } from './text-decoder.ts';
import { textWeightsFrom } from './text-weights.ts';
import type { TokenConstraint } from './token-constraint.ts';
import type { MoondreamTokenizer } from './tokenizer.ts';
import { imageEmbeddings, type VisionModel } from './vision-encoder.ts';
import { visionWeightsFrom } from './vision-weights.ts';
import { loadWeights, type ModelWeights, type WeightPrecision, type WeightsProgress } from './weights.ts';

export interface LoadMoondreamOptions extends ResolveOptions {
  readonly precision?: WeightPrecision;
  readonly onProgress?: (progress: WeightsProgress) => void;
  /** Per-tensor byte limit before a weight is split by rows; default the device's maxStorageBufferBindingSize. */
  readonly maxBindingBytes?: number;
  /** For hub tokenizers. */
  readonly fetch?: typeof fetch;
}

export interface QuerySettings {
  /** 0 = greedy. Default: the revision's (spec §2.4: 0.5 for 2025 releases). */
  readonly temperature?: number;
  readonly topP?: number;
  readonly maxTokens?: number;
  /** Uniform [0, 1) numbers for sampling; seed it for reproducible answers. */
  readonly random?: () => number;
  /** Only answers of this language, e.g. counting answers (train/count-constraint.ts); default off. */
  readonly constraint?: TokenConstraint;
  /** LoRA adapters to answer with (a trained run's); default none. */
  readonly lora?: LoraAdapters;
  /** Hears the answer so far after every generated token (for showing it as it is written). */
  readonly onText?: (textSoFar: string) => void;
}

/** An image after the vision encoder and the prefill of BOS + its image tokens. */
export interface EncodedImage {
  /** [imageTokens, text dim]. */
  readonly embeddings: Tensor;
  /** KV rows of positions 0 … imageTokens (BOS + image). */
  readonly prefix: KVSnapshot;
  /** The adapters the prefix was computed with (K and V of the image positions depend on them). */
  readonly lora: LoraAdapters | undefined;
  readonly crops: number;
  readonly milliseconds: number;
}

export interface QueryResult {
  readonly answer: string;
  readonly tokens: number[];
  /** Whether decoding stopped at EOS (else at maxTokens). */
  readonly hitEos: boolean;
  readonly timings: { encodeMs: number; prefillMs: number; decodeMs: number; promptTokens: number };
}

/** How many encoded images are kept (each holds a KV prefix: ~0.1 GB at full size in f32). */
const ENCODED_IMAGE_CACHE = 4;

export class Moondream {
  readonly decoder: TextDecoder;
  readonly vision: VisionModel;
  private readonly cache: KVCache;
  private readonly encoded = new Map<RgbImage, EncodedImage>();

  constructor(
    readonly engine: Engine,
    readonly revision: Revision,
    readonly weights: ModelWeights,
    readonly tokenizer: MoondreamTokenizer,
  ) {
    const { config } = revision;
    const byName = weights.byName();
    this.decoder = new TextDecoder(engine, textWeightsFrom(byName, config), config, { maskMode: revision.maskMode });
    this.vision = { revision, weights: visionWeightsFrom(byName, revision) };
    this.cache = KVCache.forConfig(engine, config);
  }

  /** Bytes of GPU memory the weights and the KV cache hold. */
  get gpuBytes(): number {
    const { text } = this.revision.config;
    return this.weights.gpuBytes + 2 * text.n_layers * text.max_context * text.dim * 4;
  }

  /** Vision encoder + prefix prefill (spec §8.1), cached per image object and adapters. */
  async encodeImage(image: RgbImage, lora?: LoraAdapters): Promise<EncodedImage> {
    const cached = this.encoded.get(image);
    if (cached && cached.lora === lora) return cached;
    if (cached) this.forget(image);
    const { engine, revision } = this;
    const started = performance.now();
    const { imageTokens } = deriveDimensions(revision.config);
    const { embeddings, crops } = imageEmbeddings(engine, this.vision, image);
    this.cache.truncate(0);
    engine.scope(() => {
      const ids = new Int32Array(1 + imageTokens).fill(-1);
      ids[0] = revision.bosId;
      this.decoder.forward(null, this.decoder.embed(null, ids, embeddings), { cache: this.cache, lora });
    });
    const prefix = this.cache.snapshot();
    await engine.sync();
    const encodedImage: EncodedImage = { embeddings: engine.keep(embeddings), prefix, lora, crops, milliseconds: performance.now() - started };
    this.encoded.set(image, encodedImage);
    if (this.encoded.size > ENCODED_IMAGE_CACHE) this.forget(this.encoded.keys().next().value!);
    return encodedImage;
  }

  private forget(image: RgbImage): void {
    const evicted = this.encoded.get(image);
    if (!evicted) return;
    this.encoded.delete(image);
    evicted.embeddings.dispose();
    evicted.prefix.dispose();
  }

  /** Answers a question about an image (spec §8.2–§8.5), decoding with generate.ts. */
  async query(image: RgbImage | EncodedImage, question: string, settings: QuerySettings = {}): Promise<QueryResult> {
    return this.answer(image, Int32Array.from(queryPromptIds(this.revision, this.tokenizer, question)), settings);
  }

  /**
   * A caption of the image (upstream `caption(image, length)`): the caption template's ids after
   * the image, then the answer. Only id-template revisions (2025) have caption templates.
   */
  async caption(image: RgbImage | EncodedImage, length: 'short' | 'normal' | 'long' = 'normal', settings: QuerySettings = {}): Promise<QueryResult> {
    if (this.revision.prompt.kind === 'text') throw new Error(`Revision ${this.revision.id} has no caption template; ask a question with query() instead.`);
    return this.answer(image, Int32Array.from(this.revision.config.tokenizer.templates.caption[length]), settings);
  }

  /** The answer after `prompt` (ids that follow BOS and the image), decoded as the revision samples. */
  private async answer(image: RgbImage | EncodedImage, prompt: Int32Array, settings: QuerySettings): Promise<QueryResult> {
    const encodeStarted = performance.now();
    const { lora } = settings;
    const encodedImage = 'prefix' in image ? image : await this.encodeImage(image, lora);
    if (encodedImage.lora !== lora) throw new Error('This encoded image was prefilled with other LoRA adapters than the query asks for; encode it again with the same adapters.');
    const encodeMs = performance.now() - encodeStarted;
    const { sampling, eosId, suppressedTokens } = this.revision;
    this.cache.restore(encodedImage.prefix);
    // The answer ends where the context does (spec §8.5: prefix + prompt + answer ≤ max_context).
    const room = this.cache.remaining - prompt.length;
    if (room < 1) throw new Error(`The question is ${prompt.length} tokens: it leaves no room for an answer in the ${this.cache.maxContext}-position context. Ask a shorter question.`);
    const maxTokens = Math.min(settings.maxTokens ?? sampling.maxTokens, room);
    const started = performance.now();
    let firstTokenAt: number | undefined;
    const written: number[] = [];
    const { tokens, hitEos } = await generate(this.decoder, this.cache, prompt, {
      temperature: settings.temperature ?? sampling.temperature,
      topP: settings.topP ?? sampling.topP,
      maxTokens,
      eosId,
      suppressedTokens,
      random: settings.random ?? Math.random,
      constraint: settings.constraint,
      lora,
      onToken: (token, index) => {
        if (index === 0) firstTokenAt = performance.now();
        if (settings.onText) {
          written.push(token);
          settings.onText(this.tokenizer.decode(written));
        }
      },
    });
    const ended = performance.now();
    // The first token comes from the prompt prefill's logits: time up to it is prefill.
    const prefillMs = (firstTokenAt ?? ended) - started;
    return { answer: this.tokenizer.decode(tokens), tokens, hitEos, timings: { encodeMs, prefillMs, decodeMs: ended - started - prefillMs, promptTokens: prompt.length } };
  }

  /** Logits after the prompt of a question (the first answer token's distribution), e.g. for scoring. */
  async promptLogits(image: RgbImage | EncodedImage, question: string): Promise<Float32Array> {
    const encodedImage = 'prefix' in image ? image : await this.encodeImage(image);
    const prompt = Int32Array.from(queryPromptIds(this.revision, this.tokenizer, question));
    this.cache.restore(encodedImage.prefix);
    const { engine, decoder } = this;
    const logits = engine.scope(() => decoder.lastLogits(decoder.forward(null, decoder.embed(null, prompt), { cache: this.cache })));
    const values = await engine.readFloat(logits);
    logits.dispose();
    return values;
  }

  dispose(): void {
    for (const encodedImage of this.encoded.values()) {
      encodedImage.embeddings.dispose();
      encodedImage.prefix.dispose();
    }
    this.encoded.clear();
    this.cache.dispose();
    this.weights.dispose();
  }
}

/** A model's files opened, before any weight is read: what can be checked without a GPU. */
export interface OpenedMoondream {
  readonly files: ModelFiles;
  readonly revision: Revision;
  readonly tokenizer: MoondreamTokenizer;
  /** The weights file, opened but not read. */
  readonly weightsFile: OpenedFile;
}

/** Opens a model's files: revision, tokenizer, and the weights file (not read yet). */
export async function openMoondream(files: ModelFiles, options: Pick<LoadMoondreamOptions, 'revisionId' | 'tokenIds' | 'fetch'> = {}): Promise<OpenedMoondream> {
  const source = await resolveModelSource(files, { revisionId: options.revisionId, tokenIds: options.tokenIds });
  // Weights first: a source without them fails with that, before a tokenizer is fetched from
  // the revision's tokenizer repository.
  const weightsFile = await openWeights(files);
  const tokenizer = await loadSourceTokenizer(source, { fetch: options.fetch });
  return { files, revision: source.revision, tokenizer, weightsFile };
}

/** Loads a model from its files: revision, weights streamed onto the GPU, tokenizer. */
export async function loadMoondream(engine: Engine, files: ModelFiles, options: LoadMoondreamOptions = {}): Promise<Moondream> {
  return loadOpenedMoondream(engine, await openMoondream(files, options), options);
}

/** Streams an opened model's weights onto the GPU. */
export async function loadOpenedMoondream(engine: Engine, opened: OpenedMoondream, options: LoadMoondreamOptions = {}): Promise<Moondream> {
  const { files, revision, tokenizer, weightsFile } = opened;
  const weights = await loadWeights(engine, weightsFile.stream, revision, {
    precision: options.precision,
    onProgress: options.onProgress,
    maxBindingBytes: options.maxBindingBytes,
    expectedByteLength: weightsFile.byteLength,
    sourceName: `${files.name}/model.safetensors`,
  });
  return new Moondream(engine, revision, weights, tokenizer);
}
