// Image embeddings computed once per image. The vision encoder and projection are frozen
// (ARCHITECTURE.md decision 3), so an image's [imageTokens, dim] embeddings are the same in every
// epoch; the trainer asks this cache and the vision encoder runs on a miss only.
//
// Where they live: host Float32Arrays, uploaded to a fresh GPU tensor per use. At full size one
// image is 729 × 2048 × 4 B ≈ 6 MB; a few hundred images would take GBs of GPU memory that the
// frozen weights, activations and saved tensors of the backward need, while one 6 MB upload per
// training sample costs little next to a forward and backward of the decoder. The host copies are
// bounded by `maxBytes` (least recently used evicted first); an evicted image is recomputed.
//
// An image that cannot be read or decoded (a header that passed the dataset check over pixel data
// that is corrupt) is remembered as unusable: asking for it again throws the same
// UnusableImageError at once, and the trainer and the evaluation skip it.

import type { Engine } from '../gpu/engine.ts';
import type { Tensor } from '../gpu/tensor.ts';

/** Computes one image's embeddings on the GPU ([tokens, dim] f32; the cache disposes it). */
export type ComputeImageEmbeddings = (path: string) => Promise<Tensor>;

/** An image of the dataset whose bytes cannot be read or decoded: it is skipped, not fatal. */
export class UnusableImageError extends Error {
  override readonly name = 'UnusableImageError';

  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} cannot be used (${reason})`);
  }
}

/** An image left out of training and measurement, and why. */
export interface SkippedImage {
  path: string;
  reason: string;
}

export interface FeatureCacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

interface CachedFeatures {
  values: Float32Array;
  shape: [number, number];
}

/** Default host budget: 1 GiB, about 170 full-size Moondream2 images. */
export const DEFAULT_FEATURE_CACHE_BYTES = 1 << 30;

export class ImageFeatureCache {
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, CachedFeatures>();
  private readonly unusable = new Map<string, UnusableImageError>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(
    private readonly engine: Engine,
    private readonly compute: ComputeImageEmbeddings,
    private readonly maxBytes = DEFAULT_FEATURE_CACHE_BYTES,
  ) {}

  /** The image's embeddings as a new GPU tensor [tokens, dim]; the caller disposes it. */
  async get(path: string): Promise<Tensor> {
    const features = await this.features(path);
    return this.engine.upload(features.values, features.shape, 'f32', `image ${path}`);
  }

  /** The image's embeddings on the host (read-only: shared with the cache). */
  async features(path: string): Promise<CachedFeatures> {
    const cached = this.entries.get(path);
    if (cached) {
      this.hits++;
      this.entries.delete(path);
      this.entries.set(path, cached);
      return cached;
    }
    const known = this.unusable.get(path);
    if (known) throw known;
    this.misses++;
    let tensor: Tensor;
    try {
      tensor = await this.compute(path);
    } catch (error) {
      if (error instanceof UnusableImageError) this.unusable.set(path, error);
      throw error;
    }
    let features: CachedFeatures;
    try {
      if (tensor.shape.length !== 2 || tensor.dtype !== 'f32') throw new Error(`Image embeddings of ${path} must be f32 [tokens, dim], got ${tensor}.`);
      features = { values: await this.engine.readFloat(tensor), shape: [tensor.shape[0], tensor.shape[1]] };
    } finally {
      tensor.dispose();
    }
    this.entries.set(path, features);
    this.bytes += features.values.byteLength;
    this.evict(path);
    return features;
  }

  /** Computes every image not cached yet (before training, so the first epoch runs at speed). */
  async warm(paths: readonly string[], onProgress?: (done: number, total: number) => void): Promise<void> {
    let done = 0;
    for (const path of paths) {
      await this.features(path);
      onProgress?.(++done, paths.length);
    }
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** Images found unusable so far, in the order they were met. */
  get skippedImages(): SkippedImage[] {
    return [...this.unusable.values()].map(({ path, reason }) => ({ path, reason }));
  }

  get stats(): FeatureCacheStats {
    return { entries: this.entries.size, bytes: this.bytes, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  /** Drops least recently used entries until under budget, never the one just added. */
  private evict(keep: string): void {
    for (const [path, features] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (path === keep) continue;
      this.entries.delete(path);
      this.bytes -= features.values.byteLength;
      this.evictions++;
    }
  }
}
