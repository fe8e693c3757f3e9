// The decoder's KV cache (spec §8.1, §13): per layer, K (after RoPE) and V rows [maxContext, dim]
// by absolute position. `length` is the next free position. The image prefix (BOS + image
// tokens, 730 positions full size) can be snapshotted and restored to answer several prompts
// about one image without re-running its prefill.
//
// A cache may hold a batch of `sequences` (evaluation answers many images at once): sequence s
// owns rows [s·maxContext, (s + 1)·maxContext) of every layer and has its own length, so each
// can stop, or be shorter, independently.
import type { Engine } from '../gpu/engine.ts';
import type { LayerCache } from '../gpu/autograd-ops.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { MoondreamConfig } from './config.ts';

/** A copy of the first `length` rows of every layer's K and V. */
export interface KVSnapshot {
  length: number;
  layers: { keys: Tensor; values: Tensor }[];
  dispose(): void;
}

export class KVCache {
  readonly layers: LayerCache[];
  /** Positions filled so far in each sequence: where its next token goes. */
  readonly lengths: number[];

  constructor(private readonly engine: Engine, layerCount: number, readonly maxContext: number, readonly dim: number, readonly sequences = 1) {
    this.layers = Array.from({ length: layerCount }, (_, layer) => ({
      keys: engine.keep(engine.empty([sequences * maxContext, dim], 'f32', `kv.${layer}.keys`)),
      values: engine.keep(engine.empty([sequences * maxContext, dim], 'f32', `kv.${layer}.values`)),
    }));
    this.lengths = new Array<number>(sequences).fill(0);
  }

  /** The length of a one-sequence cache. */
  get length(): number {
    this.requireOneSequence();
    return this.lengths[0];
  }

  set length(value: number) {
    this.requireOneSequence();
    this.lengths[0] = value;
  }

  private requireOneSequence(): void {
    if (this.sequences !== 1) throw new Error(`This KV cache holds ${this.sequences} sequences; use lengths[s].`);
  }

  /** A cache for the text decoder of a config: n_layers × [max_context, dim]. */
  static forConfig(engine: Engine, config: MoondreamConfig): KVCache {
    return new KVCache(engine, config.text.n_layers, config.text.max_context, config.text.dim);
  }

  /** Room left for new positions (in the fullest sequence). */
  get remaining(): number {
    return this.maxContext - Math.max(...this.lengths);
  }

  /** Throws a clear error unless `count` more positions fit in every sequence. */
  reserve(count: number): void {
    const used = Math.max(...this.lengths);
    if (used + count > this.maxContext) {
      throw new Error(
        `The context is full: ${used} positions used, ${count} more needed, ${this.maxContext} available. Use a shorter prompt or fewer generated tokens.`,
      );
    }
  }

  /** Forgets everything in every sequence. */
  clear(): void {
    this.lengths.fill(0);
  }

  /** Forgets every position from `position` on (their rows are overwritten later); one-sequence caches. */
  truncate(position: number): void {
    this.requireOneSequence();
    if (!Number.isInteger(position) || position < 0 || position > this.length) {
      throw new Error(`Cannot truncate the KV cache to ${position}: ${this.length} positions are filled.`);
    }
    this.length = position;
  }

  /** Copies the first `length` positions (default: all filled ones) of every layer; one-sequence caches. */
  snapshot(length = this.length): KVSnapshot {
    this.requireOneSequence();
    if (length > this.length) throw new Error(`Cannot snapshot ${length} positions: only ${this.length} are filled.`);
    const bytes = length * this.dim * 4;
    const layers = this.layers.map((layer, index) => {
      const keys = this.engine.keep(this.engine.empty([Math.max(1, length), this.dim], 'f32', `kv.snapshot.${index}.keys`));
      const values = this.engine.keep(this.engine.empty([Math.max(1, length), this.dim], 'f32', `kv.snapshot.${index}.values`));
      if (bytes > 0) {
        this.engine.copy(layer.keys, keys, bytes);
        this.engine.copy(layer.values, values, bytes);
      }
      return { keys, values };
    });
    return {
      length,
      layers,
      dispose: () => layers.forEach(({ keys, values }) => (keys.dispose(), values.dispose())),
    };
  }

  /** Puts a snapshot's rows back and sets the length to the snapshot's. */
  restore(snapshot: KVSnapshot): void {
    this.requireOneSequence();
    if (snapshot.layers.length !== this.layers.length || snapshot.length > this.maxContext) {
      throw new Error('This KV snapshot was taken from a cache of another shape.');
    }
    const bytes = snapshot.length * this.dim * 4;
    if (bytes > 0) {
      snapshot.layers.forEach(({ keys, values }, index) => {
        this.engine.copy(keys, this.layers[index].keys, bytes);
        this.engine.copy(values, this.layers[index].values, bytes);
      });
    }
    this.length = snapshot.length;
  }

  dispose(): void {
    for (const layer of this.layers) {
      layer.keys.dispose();
      layer.values.dispose();
    }
  }
}
