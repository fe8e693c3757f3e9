// Random weights of a revision's real shapes, generated on the fly: uploaded tensor by tensor
// (benchmarks: a full-size model without a 3.8 GB download), or written as a checkpoint file
// (random-checkpoint.ts). Values are small normals (std 0.02, the usual transformer init) so
// activations stay finite through every layer; LayerNorm weights are 1 and biases 0. Not a
// model: the answers are noise.
import type { Engine } from '../gpu/engine.ts';
import { float32ToBfloat16Bits, float32ToFloat16Bits } from '../gpu/f16.ts';
import { expectedWeightsOf, type Revision } from './revisions.ts';
import { ModelWeights, storageDtype, uploadWeightValues, type WeightPrecision } from './weights.ts';

/** Distinct random values drawn once; tensors read them at pseudo-random offsets (fast for 1.9 B values). */
const POOL_SIZE = 1 << 16;
/** Values copied from one pool offset. */
const RUN = 4096;

/** How the values are stored: f32 values, or f16 / bf16 bits. */
export type RandomValueFormat = 'f32' | 'f16' | 'bf16';
const ONE: Record<RandomValueFormat, number> = { f32: 1, f16: 0x3c00, bf16: 0x3f80 };

const isLayerNormWeight = (canonical: string) => /\.ln\d?\.weight$|post_ln\.weight$/.test(canonical);

/** One seed's stream of weight values, drawn tensor after tensor. */
export class RandomWeightValues {
  private state: number;
  private readonly pools: Record<RandomValueFormat, Float32Array | Uint16Array>;

  constructor(seed = 1) {
    this.state = seed >>> 0;
    const pool = new Float32Array(POOL_SIZE);
    for (let i = 0; i < POOL_SIZE; i += 2) {
      const radius = Math.sqrt(-2 * Math.log(1 - this.next() / 2 ** 32)) * 0.02;
      const angle = (2 * Math.PI * this.next()) / 2 ** 32;
      pool[i] = radius * Math.cos(angle);
      pool[i + 1] = radius * Math.sin(angle);
    }
    this.pools = { f32: pool, f16: Uint16Array.from(pool, float32ToFloat16Bits), bf16: Uint16Array.from(pool, float32ToBfloat16Bits) };
  }

  /**
   * Fills `target` (all of a tensor, or the next piece of one) with values for tensor
   * `canonical`: 1 for LayerNorm weights, 0 for biases, runs of the normal pool otherwise.
   */
  fill(canonical: string, target: Float32Array | Uint16Array, format: RandomValueFormat): void {
    if (isLayerNormWeight(canonical)) return void target.fill(ONE[format]);
    if (canonical.endsWith('.bias')) return void target.fill(0);
    const pool = this.pools[format];
    for (let offset = 0; offset < target.length; offset += RUN) {
      const length = Math.min(RUN, target.length - offset);
      const start = this.next() % (POOL_SIZE - length + 1);
      target.set(pool.subarray(start, start + length), offset);
    }
  }

  /** xorshift32: cheap and good enough to scatter pool offsets. */
  private next(): number {
    let state = this.state;
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    this.state = state >>> 0;
    return this.state;
  }
}

export interface RandomWeightsOptions {
  readonly precision?: WeightPrecision;
  readonly seed?: number;
  readonly maxBindingBytes?: number;
  /** Called after each tensor with (tensors done, tensors total). */
  readonly onTensor?: (done: number, total: number) => void;
}

export function randomWeights(engine: Engine, revision: Revision, options: RandomWeightsOptions = {}): ModelWeights {
  const precision = options.precision ?? 'auto';
  const maxBindingBytes = options.maxBindingBytes ?? engine.limits.maxStorageBufferBindingSize;
  const random = new RandomWeightValues(options.seed ?? 1);
  const weights = new ModelWeights(revision);
  const expected = [...expectedWeightsOf(revision)];
  expected.forEach(([canonical, shape], index) => {
    const count = shape.reduce((product, dim) => product * dim, 1);
    // Biases stay f32 whatever the precision (weights.ts keeps small vectors in f32).
    const format = canonical.endsWith('.bias') ? 'f32' : storageDtype({ canonical, shape }, precision);
    const values = format === 'f16' ? new Uint16Array(count) : new Float32Array(count);
    random.fill(canonical, values, format);
    weights.add(canonical, uploadWeightValues(engine, canonical, shape, values, maxBindingBytes));
    options.onTensor?.(index + 1, expected.length);
  });
  return weights;
}
