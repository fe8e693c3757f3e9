// The Moondream2 text decoder (spec §6–§7) on the GPU: one forward for training (full sequence,
// with a tape) and for inference (prefill and one-token decode against a KV cache).
//
// Block (spec §6.1): a = LN(x); x ← x + proj(attn(qkv(a))) + fc2(gelu(fc1(a))), with partial
// rotary on Q and K (§6.2) and the prefix-bidirectional or causal mask of the revision (§7); both
// residual adds ride on the output matmuls. Head (§6.3): logits = lm_head(post_ln(h)), at the
// last position at inference and at the labelled positions in training. LoRA adapters, when a
// run has them, come with each call (they are not part of the decoder).
import { apply, recomputed, release, type Tape } from '../gpu/autograd.ts';
import type { CachePlacement } from '../gpu/autograd-ops.ts';
import type { Engine } from '../gpu/engine.ts';
import type { LoraAdapters } from '../gpu/lora.ts';
import type { AttentionMask } from '../gpu/ops/attention.ts';
import { concatRowsOp } from '../gpu/ops/copy.ts';
import { embeddingRowBlocks } from '../gpu/ops/embedding.ts';
import { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions, type MoondreamConfig } from './config.ts';
import type { KVCache } from './kv-cache.ts';
import { attention, crossEntropy, gather, isSplit, layerNorm, linear, mlp } from './layers.ts';
import type { MaskMode } from './revisions.ts';
import type { TextWeights } from './text-weights.ts';

export interface TextDecoderOptions {
  /** 'prefix' (2025 revisions) or 'causal' (2024), spec §7. */
  maskMode: MaskMode;
}

export interface TextForwardOptions {
  /** Absolute position of row 0 (of every sequence); default the cache's length, else 0. */
  positionOffset?: number;
  /**
   * Sequences of equal (padded) length stacked by rows in x: each attends only to itself, with
   * positions from positionOffset. Default 1. Right padding is harmless under the causal and
   * prefix masks: a real row never attends to a later one.
   */
  sequences?: number;
  /** Inference: K/V go into the cache and the queries attend to every cached position. */
  cache?: KVCache;
  mask?: AttentionMask;
  /** Adapters keyed by canonical layer name (`model.text.blocks.0.attn.qkv`). */
  lora?: LoraAdapters;
  /** Sees the residual stream after each block (tests, debugging). */
  onBlock?: (block: number, hidden: Tensor) => void;
  /**
   * Training: keep only each block's input and recompute the block on the backward pass
   * (autograd.ts recomputed), for a sequence whose stored activations would not fit.
   */
  recompute?: boolean;
}

export class TextDecoder {
  readonly dim: number;
  readonly heads: number;
  readonly headDim: number;
  readonly rotaryDim: number;
  readonly vocab: number;
  private readonly maskMode: MaskMode;
  private readonly prefixLength: number;

  constructor(readonly engine: Engine, readonly weights: TextWeights, readonly config: MoondreamConfig, options: TextDecoderOptions) {
    const { text } = config;
    if (text.n_kv_heads !== text.n_heads) throw new Error('Grouped-query attention (n_kv_heads ≠ n_heads) is not supported; every Moondream2 release has n_kv_heads = n_heads.');
    this.dim = text.dim;
    this.heads = text.n_heads;
    this.vocab = text.vocab_size;
    ({ textHeadDim: this.headDim, rotaryDim: this.rotaryDim } = deriveDimensions(config));
    this.maskMode = options.maskMode;
    this.prefixLength = text.prefix_attn;
  }

  /**
   * Input embeddings (spec §6.1): wte rows for ids ≥ 0 and, in order, the rows of
   * `imageEmbeddings` [n, dim] where ids are −1 (the image block must be one contiguous run).
   */
  embed(tape: Tape | null, ids: Int32Array, imageEmbeddings?: Tensor): Tensor {
    const imageStart = ids.indexOf(-1);
    const imageCount = ids.filter((id) => id === -1).length;
    for (const id of ids) {
      if (id < -1 || id >= this.vocab) throw new Error(`Token id ${id} is outside the vocabulary of ${this.vocab}.`);
    }
    if (imageCount === 0) return this.embedTokens(tape, ids);
    if (!imageEmbeddings || imageEmbeddings.shape[0] !== imageCount || imageEmbeddings.shape[1] !== this.dim) {
      throw new Error(`embed: ${imageCount} image positions need image embeddings [${imageCount}, ${this.dim}], got ${imageEmbeddings ?? 'none'}`);
    }
    if (ids.lastIndexOf(-1) !== imageStart + imageCount - 1) throw new Error('embed: the image positions (−1) must be one contiguous run.');
    const before = ids.subarray(0, imageStart);
    const after = ids.subarray(imageStart + imageCount);
    const parts: Tensor[] = [];
    if (before.length > 0) parts.push(this.embedTokens(tape, before));
    parts.push(imageEmbeddings);
    if (after.length > 0) parts.push(this.embedTokens(tape, after));
    const out = apply(this.engine, tape, concatRowsOp, parts);
    for (const part of parts) if (part !== imageEmbeddings) release(tape, part);
    return out;
  }

  /**
   * A batch's input embeddings [B·length, dim]: each sequence's embed() (ids with −1 for its
   * image rows), padded on the right to `length` with token 0 (any id works: padded rows carry
   * no label and no real row attends to them).
   */
  embedBatch(tape: Tape | null, sequences: readonly { ids: Int32Array; image?: Tensor }[], length: number): Tensor {
    const parts = sequences.map(({ ids, image }) => {
      if (ids.length > length) throw new Error(`embedBatch: a sequence of ${ids.length} positions does not fit the batch length ${length}`);
      const padded = new Int32Array(length);
      padded.set(ids);
      return this.embed(tape, padded, image);
    });
    if (parts.length === 1) return parts[0];
    const out = apply(this.engine, tape, concatRowsOp, parts);
    release(tape, ...parts);
    return out;
  }

  private embedTokens(tape: Tape | null, ids: Int32Array): Tensor {
    const idTensor = this.engine.upload(ids, [ids.length], 'i32');
    const { wte } = this.weights;
    // A split wte is frozen (namedTextParameters refuses to train it): a plain gather, nothing to record.
    const out = isSplit(wte) ? this.embedTokenIds(idTensor) : gather(this.engine, tape, wte, idTensor);
    release(tape, idTensor);
    return out;
  }

  /** wte rows for ids already on the GPU (i32 [T]), e.g. the tokens a decode step just chose; inference only. */
  embedTokenIds(ids: Tensor): Tensor {
    const { wte } = this.weights;
    return isSplit(wte)
      ? embeddingRowBlocks(this.engine, wte.parts.map((part) => ({ table: part.tensor, rowStart: part.rowStart })), ids)
      : gather(this.engine, null, wte, ids);
  }

  /**
   * Sequences of `length` rows one forward may stack under the engine's binding limit: its
   * largest activation per row is qkv's or fc1's output (max(3·dim, ff_dim) f32); `labelled`
   * rows per sequence go through the head (vocab logits each, training); `cachePositions` rows
   * of K and V per sequence in a batch cache (evaluation). At least 1: a single sequence that
   * does not fit is the caller's to refuse.
   */
  sequencesPerPass(length: number, options: { labelled?: number; cachePositions?: number } = {}): number {
    const limit = this.engine.limits.maxStorageBufferBindingSize;
    const perSequence = Math.max(
      length * Math.max(3 * this.dim, this.config.text.ff_dim) * 4,
      (options.labelled ?? 0) * this.vocab * 4,
      (options.cachePositions ?? 0) * this.dim * 4,
    );
    return Math.max(1, Math.floor(limit / perSequence));
  }

  /** The attention mask of this revision (spec §7). */
  mask(withImage = true): AttentionMask {
    return this.maskMode === 'prefix' && withImage ? { prefix: this.prefixLength } : 'causal';
  }

  /**
   * Runs the blocks over x [T, dim] at positions positionOffset…; returns the final hidden
   * states [T, dim] before post_ln. With a cache (inference), K/V go into it at those positions
   * and the queries attend to every cached position before them; the cache length advances.
   */
  forward(tape: Tape | null, x: Tensor, options: TextForwardOptions = {}): Tensor {
    const { cache, onBlock, lora } = options;
    const sequences = options.sequences ?? cache?.sequences ?? 1;
    if (x.shape.length !== 2 || x.shape[1] !== this.dim || x.shape[0] % sequences !== 0) {
      throw new Error(`TextDecoder.forward: x must be [T, ${this.dim}] with T a multiple of ${sequences} sequences, got ${x}`);
    }
    if (cache && cache.sequences !== sequences) throw new Error(`TextDecoder.forward: the cache holds ${cache.sequences} sequences, x ${sequences}.`);
    const rows = x.shape[0] / sequences;
    const batchCache = cache !== undefined && sequences > 1;
    const positionOffset = options.positionOffset ?? (cache && !batchCache ? cache.length : 0);
    if (cache) {
      if (!batchCache && positionOffset !== cache.length) throw new Error(`TextDecoder.forward: the cache holds ${cache.length} positions; new rows must start there, not at ${positionOffset}.`);
      cache.reserve(rows);
    } else if (positionOffset + rows > this.config.text.max_context) {
      throw new Error(`A sequence of ${positionOffset + rows} positions exceeds the model's context of ${this.config.text.max_context}. Shorten the prompt or answer.`);
    }
    // A batch of cached sequences: each new row's position and cache row, the same for every layer.
    const placement = batchCache ? this.placement(cache, rows) : undefined;
    const attentionOptions = { heads: this.heads, headDim: this.headDim, rotaryDim: this.rotaryDim, mask: options.mask ?? this.mask(), positionOffset, sequences };
    const { engine } = this;
    let hidden = x;
    this.weights.blocks.forEach((block, index) => {
      const name = `model.text.blocks.${index}`;
      const adapter = (layer: string) => lora?.get(`${name}.${layer}`);
      const adapters = { qkv: adapter('attn.qkv'), proj: adapter('attn.proj'), fc1: adapter('mlp.fc1'), fc2: adapter('mlp.fc2') };
      const runBlock = (blockTape: Tape | null, input: Tensor) => {
        const a = layerNorm(engine, blockTape, input, block.ln);
        const withAttention = attention(engine, blockTape, a, block.attn, {
          ...attentionOptions,
          lora: { qkv: adapters.qkv, proj: adapters.proj },
          residual: input,
          cache: cache?.layers[index],
          placement,
        });
        const out = mlp(engine, blockTape, a, block.mlp, { lora: { fc1: adapters.fc1, fc2: adapters.fc2 }, residual: withAttention });
        release(blockTape, a, withAttention);
        return out;
      };
      const next =
        options.recompute && tape
          ? recomputed(engine, tape, [hidden], tensorsOf([block, adapters]), (blockTape, [input]) => runBlock(blockTape, input))
          : runBlock(tape, hidden);
      if (hidden !== x) release(tape, hidden);
      hidden = next;
      onBlock?.(index, hidden);
    });
    if (placement) for (const tensor of Object.values(placement)) tensor.dispose();
    if (cache) cache.lengths.forEach((length, s) => (cache.lengths[s] = length + rows));
    return hidden;
  }

  /** Where `rows` new rows of each sequence of a batch cache go (autograd-ops.ts CachePlacement). */
  private placement(cache: KVCache, rows: number): CachePlacement {
    const { engine } = this;
    const positions = new Uint32Array(cache.sequences * rows);
    const rowMap = new Uint32Array(cache.sequences * rows);
    cache.lengths.forEach((length, sequence) => {
      for (let i = 0; i < rows; i++) {
        positions[sequence * rows + i] = length + i;
        rowMap[sequence * rows + i] = sequence * cache.maxContext + length + i;
      }
    });
    return {
      offsets: engine.upload(Uint32Array.from(cache.lengths), [cache.sequences], 'u32', 'kv.offsets'),
      positions: engine.upload(positions, [positions.length], 'u32', 'kv.positions'),
      rowMap: engine.upload(rowMap, [rowMap.length], 'u32', 'kv.rowMap'),
    };
  }

  /** lm_head(post_ln(h)) for every row of hidden [T, dim] (spec §6.3): logits [T, vocab]. */
  logits(tape: Tape | null, hidden: Tensor): Tensor {
    const { engine, weights } = this;
    const normed = layerNorm(engine, tape, hidden, weights.postLn);
    const logits = linear(engine, tape, normed, weights.lmHead);
    release(tape, normed);
    return logits;
  }

  /** Logits [1, vocab] of the last row of hidden (inference: only that position is needed). */
  lastLogits(hidden: Tensor): Tensor {
    const last = this.engine.empty([1, this.dim], 'f32', 'text.lastHidden');
    this.engine.copy(hidden, last, this.dim * 4, (hidden.shape[0] - 1) * this.dim * 4);
    const logits = this.logits(null, last);
    last.dispose();
    return logits;
  }

  /**
   * Next-token cross-entropy (spec §11.1): `targets[t]` is the label for the logits at row t
   * (−100 = none). With several sequences stacked in x (options.sequences), the loss is the mean
   * over sequences of each sequence's mean over its labelled rows, so a batch of B gives the loss
   * and gradients of B single runs averaged. Only labelled rows go through post_ln and lm_head.
   */
  loss(tape: Tape | null, x: Tensor, targets: Int32Array, options: { mask?: AttentionMask; lora?: LoraAdapters; sequences?: number; recompute?: boolean } = {}): Tensor {
    if (targets.length !== x.shape[0]) throw new Error(`loss: ${targets.length} targets for ${x.shape[0]} positions`);
    const sequences = options.sequences ?? 1;
    const sequenceRows = targets.length / sequences;
    const labelled = Int32Array.from(targets.keys()).filter((position) => targets[position] >= 0);
    const weights = new Float32Array(labelled.length);
    for (let sequence = 0; sequence < sequences; sequence++) {
      const first = labelled.findIndex((row) => row >= sequence * sequenceRows);
      const end = labelled.findIndex((row) => row >= (sequence + 1) * sequenceRows);
      const count = (end < 0 ? labelled.length : end) - (first < 0 ? labelled.length : first);
      if (count === 0) throw new Error(`loss: sequence ${sequence} has no label; a training sample needs at least one answer token.`);
      weights.fill(1 / (sequences * count), first, first + count);
    }
    const { engine } = this;
    const hidden = this.forward(tape, x, options);
    const rowIds = engine.upload(labelled, [labelled.length], 'i32');
    const rows = gather(engine, tape, hidden, rowIds);
    const logits = this.logits(tape, rows);
    const targetTensor = engine.upload(Int32Array.from(labelled, (position) => targets[position]), [labelled.length], 'i32');
    const weightTensor = engine.upload(weights, [labelled.length], 'f32');
    const loss = crossEntropy(engine, tape, logits, targetTensor, weightTensor);
    release(tape, hidden, rowIds, rows, logits, targetTensor, weightTensor);
    return loss;
  }
}

/** Every tensor in a structure of weights (objects, arrays, split weights' parts), once each. */
function tensorsOf(value: unknown, found = new Set<Tensor>()): Tensor[] {
  if (value instanceof Tensor) found.add(value);
  else if (Array.isArray(value)) for (const item of value) tensorsOf(item, found);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) tensorsOf(item, found);
  return [...found];
}
