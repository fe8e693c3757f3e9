// The decoder's KV cache (spec §8.1, §13): per layer, K (after RoPE) and V rows [maxContext, dim]
// by absolute position. `length` is the next free position. The image prefix (BOS + image
// tokens, 730 positions full size) can be snapshotted and restored to answer several prompts
// about one image without re-running its prefill.
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
  /** Positions filled so far: the position the next token goes to. */
  length = 0;

  constructor(private readonly engine: Engine, layerCount: number, readonly maxContext: number, readonly dim: number) {
    this.layers = Array.from({ length: layerCount }, (_, layer) => ({
      keys: engine.keep(engine.empty([maxContext, dim], 'f32', `kv.${layer}.keys`)),
      values: engine.keep(engine.empty([maxContext, dim], 'f32', `kv.${layer}.values`)),
    }));
  }

  /** A cache for the text decoder of a config: n_layers × [max_context, dim]. */
  static forConfig(engine: Engine, config: MoondreamConfig): KVCache {
    return new KVCache(engine, config.text.n_layers, config.text.max_context, config.text.dim);
  }

  /** Room left for new positions. */
  get remaining(): number {
    return this.maxContext - this.length;
  }

  /** Throws a clear error unless `count` more positions fit. */
  reserve(count: number): void {
    if (this.length + count > this.maxContext) {
      throw new Error(
        `The context is full: ${this.length} positions used, ${count} more needed, ${this.maxContext} available. Use a shorter prompt or fewer generated tokens.`,
      );
    }
  }

  /** Forgets every position from `position` on (their rows are overwritten later). */
  truncate(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position > this.length) {
      throw new Error(`Cannot truncate the KV cache to ${position}: ${this.length} positions are filled.`);
    }
    this.length = position;
  }

  /** Copies the first `length` positions (default: all filled ones) of every layer. */
  snapshot(length = this.length): KVSnapshot {
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
