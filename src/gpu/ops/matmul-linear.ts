// Linear layer y = x·Wᵀ + b (+ residual) with W [out, in] row-major as stored in safetensors, and
// its backward: gradX = gradY·W, gradW = gradYᵀ·x, gradB = Σ_rows gradY. The residual add of a
// transformer block rides on the matmul: y starts as a copy of the residual and the product
// accumulates onto it, so no elementwise pass is spent on it.
//
// A weight larger than one storage binding (maxStorageBufferBindingSize; e.g. lm_head
// 51200×2048 f32 is 400 MB) is passed as row chunks [rows_i, in] with Σ rows_i = out, each its
// own tensor; every chunk fills its own column range of y. Size chunks with maxRowsPerBinding.
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import { sumToRow } from './elementwise.ts';
import { matmulReference, recordMatmul, type GeluEpilogue } from './matmul.ts';

/** A Linear weight: one tensor [out, in] or its row chunks, in order. */
export type LinearWeight = Tensor | readonly Tensor[];

function chunksOf(weight: LinearWeight): readonly Tensor[] {
  return Array.isArray(weight) ? weight : [weight as Tensor];
}

/** Checks shapes; returns rows (all leading dims of x), in, out and each chunk's first row. */
function linearShapes(op: string, x: Tensor, weight: LinearWeight) {
  const chunks = chunksOf(weight);
  if (chunks.length === 0) throw new Error(`${op}: no weight given`);
  const inFeatures = x.shape.at(-1) ?? 0;
  if (x.dtype !== 'f32' || x.shape.length < 1) throw new Error(`${op}: x must be f32 [..., in], got ${x}`);
  const rowOffsets: number[] = [];
  let outFeatures = 0;
  for (const chunk of chunks) {
    if (chunk.shape.length !== 2 || chunk.shape[1] !== inFeatures || (chunk.dtype !== 'f32' && chunk.dtype !== 'f16')) {
      throw new Error(`${op}: weight ${chunk} must be f32 or f16 [rows, ${inFeatures}] to match x ${x}`);
    }
    rowOffsets.push(outFeatures);
    outFeatures += chunk.shape[0];
  }
  const rows = inFeatures === 0 ? 0 : x.size / inFeatures;
  return { chunks, rows, inFeatures, outFeatures, rowOffsets };
}

/** The shape of linear()'s output: x's leading dimensions, then the weight's rows (all chunks'). */
export function linearOutputShape(x: Tensor, weight: LinearWeight): number[] {
  return [...x.shape.slice(0, -1), linearShapes('linear', x, weight).outFeatures];
}

/**
 * y [..., out] = x [..., in]·Wᵀ (+ bias [out]) (+ residual [..., out]), or gelu of that with
 * `gelu` (its preActivation, when given, receives the value before GELU). W may be f32 or packed
 * f16, whole or in row chunks.
 */
export function linear(engine: Engine, x: Tensor, weight: LinearWeight, bias?: Tensor, residual?: Tensor, gelu?: GeluEpilogue): Tensor {
  const { chunks, rows, inFeatures, outFeatures, rowOffsets } = linearShapes('linear', x, weight);
  if (bias && (bias.dtype !== 'f32' || bias.size !== outFeatures)) {
    throw new Error(`linear: bias must be f32 [${outFeatures}], got ${bias}`);
  }
  const y = engine.empty([...x.shape.slice(0, -1), outFeatures]);
  if (residual) {
    if (residual.dtype !== 'f32' || residual.size !== y.size) throw new Error(`linear: the residual must be f32 [${y.shape.join(', ')}], got ${residual}`);
    engine.copy(residual, y, residual.byteLength);
  }
  chunks.forEach((chunk, i) => {
    recordMatmul(engine, {
      a: x,
      b: chunk,
      c: y,
      bias,
      biasOffset: rowOffsets[i],
      M: rows,
      N: chunk.shape[0],
      K: inFeatures,
      batch: 1,
      transposeA: false,
      transposeB: true,
      accumulate: residual !== undefined,
      gelu,
      alpha: 1,
      lda: inFeatures,
      ldb: inFeatures,
      ldc: outFeatures,
      offsetC: rowOffsets[i],
    });
  });
  return y;
}

export interface LinearGradients {
  gradX: Tensor;
  /** Same layout as the weight (one tensor, or one f32 tensor per chunk); absent unless asked for. */
  gradWeight?: Tensor | Tensor[];
  gradBias?: Tensor;
}

/**
 * Backward of linear(). gradX always; gradWeight (full fine-tuning) and gradBias on request
 * (LoRA training leaves frozen weights without gradients).
 */
export function linearBackward(
  engine: Engine,
  gradOut: Tensor,
  x: Tensor,
  weight: LinearWeight,
  options: { weightGradient?: boolean; biasGradient?: boolean } = {},
): LinearGradients {
  const { chunks, rows, inFeatures, outFeatures, rowOffsets } = linearShapes('linearBackward', x, weight);
  if (gradOut.dtype !== 'f32' || gradOut.size !== rows * outFeatures) {
    throw new Error(`linearBackward: gradOut ${gradOut} must be f32 [..., ${outFeatures}] matching x ${x}`);
  }
  // gradX = Σ_chunks gradOut[:, chunk columns]·W_chunk, accumulated chunk after chunk (the
  // first chunk overwrites; a chunk of 0 rows is a K = 0 product and writes zeros).
  const gradX = engine.empty(x.shape);
  chunks.forEach((chunk, i) => {
    recordMatmul(engine, {
      a: gradOut,
      b: chunk,
      c: gradX,
      M: rows,
      N: inFeatures,
      K: chunk.shape[0],
      batch: 1,
      transposeA: false,
      transposeB: false,
      accumulate: i > 0,
      alpha: 1,
      lda: outFeatures,
      ldb: inFeatures,
      ldc: inFeatures,
      offsetA: rowOffsets[i],
    });
  });
  const result: LinearGradients = { gradX };
  if (options.weightGradient) {
    // gradW_chunk [rows_i, in] = gradOut[:, chunk columns]ᵀ·x: A is read transposed in place.
    const gradWeights = chunks.map((chunk, i) => {
      const gradChunk = engine.empty(chunk.shape);
      recordMatmul(engine, {
        a: gradOut,
        b: x,
        c: gradChunk,
        M: chunk.shape[0],
        N: inFeatures,
        K: rows,
        batch: 1,
        transposeA: true,
        transposeB: false,
        accumulate: false,
        alpha: 1,
        lda: outFeatures,
        ldb: inFeatures,
        ldc: inFeatures,
        offsetA: rowOffsets[i],
      });
      return gradChunk;
    });
    result.gradWeight = Array.isArray(weight) ? gradWeights : gradWeights[0];
  }
  if (options.biasGradient) result.gradBias = sumToRow(engine, gradOut);
  return result;
}

// ---- CPU references -----------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | number[];

/** y [rows, out] = x [rows, in]·Wᵀ + bias, W [out, in] (gelu of it for an MLP's fc1: geluReference). */
export function linearReference(x: Floats, weight: Floats, rows: number, inFeatures: number, outFeatures: number, bias?: Floats): Float64Array {
  return matmulReference(x, weight, rows, outFeatures, inFeatures, { transposeB: true, bias });
}

export function linearBackwardReference(
  gradOut: Floats,
  x: Floats,
  weight: Floats,
  rows: number,
  inFeatures: number,
  outFeatures: number,
): { gradX: Float64Array; gradWeight: Float64Array; gradBias: Float64Array } {
  const gradBias = new Float64Array(outFeatures);
  for (let i = 0; i < gradOut.length; i++) gradBias[i % outFeatures] += gradOut[i];
  return {
    gradX: matmulReference(gradOut, weight, rows, inFeatures, outFeatures),
    gradWeight: matmulReference(gradOut, x, outFeatures, inFeatures, rows, { transposeA: true }),
    gradBias,
  };
}
