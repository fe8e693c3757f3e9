// Random weights of a revision's real shapes, generated on the fly and uploaded tensor by
// tensor (benchmarks: a full-size model without a 3.8 GB download). Values are small normals
// (std 0.02, the usual transformer init) so activations stay finite through every layer;
// LayerNorm weights are 1 and biases 0. Not a model: the answers are noise.
import type { Engine } from '../gpu/engine.ts';
import { float32ToFloat16Bits } from '../gpu/f16.ts';
import { expectedWeightsOf, type Revision } from './revisions.ts';
import { ModelWeights, storageDtype, uploadWeightValues, type WeightPrecision } from './weights.ts';

/** Distinct random values drawn once; tensors read them at pseudo-random offsets (fast for 1.9 B values). */
const POOL_SIZE = 1 << 16;

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
  let state = (options.seed ?? 1) >>> 0;
  const next = () => {
    // xorshift32: cheap and good enough to scatter pool offsets.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const pool = new Float32Array(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - next() / 2 ** 32)) * 0.02;
    const angle = (2 * Math.PI * next()) / 2 ** 32;
    pool[i] = radius * Math.cos(angle);
    pool[i + 1] = radius * Math.sin(angle);
  }
  const halfPool = Uint16Array.from(pool, (value) => float32ToFloat16Bits(value));

  const weights = new ModelWeights(revision);
  const expected = [...expectedWeightsOf(revision)];
  expected.forEach(([canonical, shape], index) => {
    const count = shape.reduce((product, dim) => product * dim, 1);
    const dtype = storageDtype({ canonical, shape }, precision);
    let values: Float32Array | Uint16Array;
    if (/\.ln\d?\.weight$|post_ln\.weight$|\.ln\.weight$/.test(canonical)) {
      values = dtype === 'f16' ? new Uint16Array(count).fill(0x3c00) : new Float32Array(count).fill(1);
    } else if (canonical.endsWith('.bias')) {
      values = new Float32Array(count);
    } else {
      values = dtype === 'f16' ? new Uint16Array(count) : new Float32Array(count);
      const source = dtype === 'f16' ? halfPool : pool;
      // Runs of 4096 values copied from random pool offsets.
      for (let offset = 0; offset < count; offset += 4096) {
        const length = Math.min(4096, count - offset);
        const start = next() % (POOL_SIZE - length + 1);
        values.set(source.subarray(start, start + length), offset);
      }
    }
    weights.add(canonical, uploadWeightValues(engine, canonical, shape, values, maxBindingBytes));
    options.onTensor?.(index + 1, expected.length);
  });
  return weights;
}
