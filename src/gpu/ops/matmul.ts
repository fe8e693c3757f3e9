// Batched matrix multiply C = alpha·op(A)·op(B) (+ bias row) (+ C), op = identity or transpose.
// The workhorse behind Linear layers (matmul-linear.ts), their backward passes, attention
// products and LoRA's small A/B products. WGSL and tiling notes: matmul.wgsl.ts; a few rows
// against a Linear weight (decoding) go to the matrix-vector kernel, matvec.wgsl.ts.
//
// B may be packed f16 (frozen weights); A and C are f32 and all accumulation is f32.
import { constantTensor } from '../constants.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import {
  DEFAULT_MATMUL_TILING,
  MATMUL_PARAMS_BYTES,
  NARROW_M_MATMUL_TILING,
  NARROW_N_MATMUL_TILING,
  SHALLOW_K_MATMUL_TILING,
  SMALL_M_MATMUL_TILING,
  matmulWgsl,
  matmulTileCols,
  matmulTileRows,
  type MatmulEpilogue,
  type MatmulTiling,
  type MatmulWeightFormat,
} from './matmul.wgsl.ts';
import { MATVEC_COLUMNS, MATVEC_GROUPS, MATVEC_MAX_ROWS, MATVEC_THREADS, matvecWgsl } from './matvec.wgsl.ts';

export interface MatmulOptions {
  /** A is stored [..., K, M] and used transposed. */
  transposeA?: boolean;
  /** B is stored [..., N, K] and used transposed (a Linear weight [out, in] is this case). */
  transposeB?: boolean;
  /** f32 [N], added to every row of the product. */
  bias?: Tensor;
  /** Scales the product (not the bias, not the accumulated C). Default 1. */
  alpha?: number;
  /** Adds the result into this existing tensor (of the output's shape) and returns it. */
  accumulateInto?: Tensor;
  /** Stores gelu(value) instead of the value (after bias and accumulation); see MatmulCall.gelu. */
  gelu?: GeluEpilogue;
}

/** GELU applied as the product is stored; preActivation (C's shape) receives the value before it. */
export interface GeluEpilogue {
  preActivation?: Tensor;
}

/**
 * One recorded matmul call on explicit sub-matrices. Offsets, leading dimensions (row strides)
 * and batch strides count elements; a batch stride of 0 broadcasts that operand.
 */
export interface MatmulCall {
  a: Tensor;
  b: Tensor;
  c: Tensor;
  bias?: Tensor;
  M: number;
  N: number;
  K: number;
  batch: number;
  transposeA: boolean;
  transposeB: boolean;
  accumulate: boolean;
  alpha: number;
  lda: number;
  ldb: number;
  ldc: number;
  offsetA?: number;
  offsetB?: number;
  offsetC?: number;
  biasOffset?: number;
  batchStrideA?: number;
  batchStrideB?: number;
  batchStrideC?: number;
  /** GELU on each stored value (alpha·product + bias + C): an MLP's fc1 without an elementwise pass. */
  gelu?: GeluEpilogue;
  /** Register/workgroup blocking; default: SMALL_M_MATMUL_TILING for M ≤ 4, else DEFAULT_MATMUL_TILING. */
  tiling?: MatmulTiling;
}

/**
 * C = alpha·op(A)·op(B) (+ bias) for A [..., M, K] and B [..., K, N] (either transposed per the
 * options). Leading (batch) dimensions must match, or one operand may have none (or a batch of
 * 1) and is then shared by every batch. Returns C [...batch, M, N].
 */
export function matmul(engine: Engine, a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transposeA = options.transposeA ?? false;
  const transposeB = options.transposeB ?? false;
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new Error(`matmul needs matrices (rank ≥ 2); got ${a} and ${b}`);
  }
  if (a.dtype !== 'f32') throw new Error(`matmul: A must be f32, got ${a}`);
  if (b.dtype !== 'f32' && b.dtype !== 'f16') throw new Error(`matmul: B must be f32 or f16, got ${b}`);
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const M = transposeA ? aCols : aRows;
  const K = transposeA ? aRows : aCols;
  const bK = transposeB ? bCols : bRows;
  const N = transposeB ? bRows : bCols;
  if (K !== bK) {
    throw new Error(
      `matmul: inner dimensions differ: ${a}${transposeA ? 'ᵀ' : ''} · ${b}${transposeB ? 'ᵀ' : ''} (${K} vs ${bK})`,
    );
  }
  const batchShapeA = a.shape.slice(0, -2);
  const batchShapeB = b.shape.slice(0, -2);
  const batchA = product(batchShapeA);
  const batchB = product(batchShapeB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new Error(`matmul: batch dimensions of ${a} and ${b} do not match and neither is 1`);
  }
  const batch = Math.max(batchA, batchB);
  const batchShape = batchA >= batchB ? batchShapeA : batchShapeB;
  const outShape = [...batchShape, M, N];
  if (options.bias && (options.bias.dtype !== 'f32' || options.bias.size !== N)) {
    throw new Error(`matmul: bias must be f32 [${N}], got ${options.bias}`);
  }
  let c: Tensor;
  if (options.accumulateInto) {
    c = options.accumulateInto;
    if (c.dtype !== 'f32' || c.size !== batch * M * N) {
      throw new Error(`matmul: accumulateInto must be f32 [${outShape.join(', ')}], got ${c}`);
    }
  } else {
    c = engine.empty(outShape, 'f32');
  }
  recordMatmul(engine, {
    a,
    b,
    c,
    bias: options.bias,
    M,
    N,
    K,
    batch,
    transposeA,
    transposeB,
    accumulate: options.accumulateInto !== undefined,
    gelu: options.gelu,
    alpha: options.alpha ?? 1,
    lda: aCols,
    ldb: bCols,
    ldc: N,
    batchStrideA: batchA === 1 ? 0 : M * K,
    batchStrideB: batchB === 1 ? 0 : K * N,
    batchStrideC: M * N,
  });
  return c;
}

/** A 4-byte buffer for a binding the kernel declares but this call never touches (one per role: one may be written). */
function placeholder(engine: Engine, role: 'bias' | 'preActivation'): Tensor {
  return constantTensor(engine, `matmul placeholder ${role}`, [0]);
}

/** Records one matmul dispatch (no allocation). Exposed for ops that address sub-blocks. */
export function recordMatmul(engine: Engine, call: MatmulCall): void {
  const { M, N, K, batch } = call;
  if (M === 0 || N === 0 || batch === 0) return;
  checkBindingSize(engine, call.a);
  checkBindingSize(engine, call.b);
  checkBindingSize(engine, call.c);
  const weightFormat: MatmulWeightFormat = call.b.dtype === 'f16' ? 'f16' : 'f32';
  const tiling = call.tiling ?? defaultTiling(M, N, K);
  const vector = call.tiling === undefined && fitsMatvec(call);
  const epilogue: MatmulEpilogue = call.gelu ? 'gelu' : 'none';
  const flags = {
    HAS_BIAS: call.bias ? 1 : 0,
    ACCUMULATE: call.accumulate ? 1 : 0,
    ...(call.gelu ? { SAVE_PRE_ACTIVATION: call.gelu.preActivation ? 1 : 0 } : {}),
  };
  const pipeline = vector
    ? engine.pipeline(matvecWgsl(weightFormat, M, epilogue), 'main', flags)
    : engine.pipeline(matmulWgsl(weightFormat, tiling, epilogue), 'main', {
        TRANSPOSE_A: call.transposeA ? 1 : 0,
        TRANSPOSE_B: call.transposeB ? 1 : 0,
        ...flags,
      });
  const preActivation = call.gelu?.preActivation;
  if (preActivation) {
    checkBindingSize(engine, preActivation);
    if (preActivation.dtype !== 'f32' || preActivation.size !== call.c.size) throw new Error(`matmul: the pre-activation ${preActivation} must be f32 of C's size (${call.c})`);
  }
  const params = new ArrayBuffer(MATMUL_PARAMS_BYTES);
  const words = new Uint32Array(params);
  words.set([
    M, N, K, 0,
    call.lda, call.ldb, call.ldc, call.biasOffset ?? 0,
    call.offsetA ?? 0, call.offsetB ?? 0, call.offsetC ?? 0, 0,
    call.batchStrideA ?? 0, call.batchStrideB ?? 0, call.batchStrideC ?? 0, 0,
  ]);
  new Float32Array(params, 12, 1)[0] = call.alpha;
  // The shader always declares the bias binding (and the GELU epilogue its pre-activation);
  // HAS_BIAS = false (SAVE_PRE_ACTIVATION = false) never touches it.
  const bias = call.bias ?? placeholder(engine, 'bias');
  const buffers = [call.a, call.b, bias, call.c];
  if (call.gelu) buffers.push(preActivation ?? placeholder(engine, 'preActivation'));
  const workgroups: [number, number, number] = vector
    ? [Math.ceil(N / (MATVEC_COLUMNS * MATVEC_GROUPS)), 1, batch]
    : [Math.ceil(N / matmulTileCols(tiling)), Math.ceil(M / matmulTileRows(tiling)), batch];
  const label = `${vector ? 'matvec' : 'matmul'} ${M}x${K}x${N}${call.transposeA ? ' tA' : ''}${call.transposeB ? ' tB' : ''}${call.gelu ? ' gelu' : ''}`;
  engine.dispatch(pipeline, buffers, workgroups, { params, label });
}

/**
 * A few rows against a Linear weight ([N, K], row-major), with K long enough to split among a
 * workgroup and four-element aligned: the matrix-vector kernel (matvec.wgsl.ts) does it.
 */
function fitsMatvec(call: MatmulCall): boolean {
  const aligned = (value: number | undefined) => (value ?? 0) % 4 === 0;
  return (
    call.M <= MATVEC_MAX_ROWS &&
    call.transposeB &&
    !call.transposeA &&
    call.K >= 4 * MATVEC_THREADS &&
    [call.K, call.ldb, call.offsetB, call.batchStrideB, call.lda, call.offsetA, call.batchStrideA].every(aligned)
  );
}

/**
 * Tiles sized to the product: a 64×64 tile wastes most of its work when N or M is a LoRA rank
 * (8 or 16) — LoRA's products are [T, r] and [r, in] — so narrow products get a narrow tile
 * (measured on SwiftShader with the former 128×64 default, 1312×128·128×8: 69 → 10 ms;
 * 8×1312·1312×128 (Aᵀ): 61 → 12 ms), and a shallow K (the B·h product of LoRA, K = r) a small one.
 */
function defaultTiling(M: number, N: number, K: number): MatmulTiling {
  if (M <= 4) return SMALL_M_MATMUL_TILING;
  if (N <= 16) return NARROW_N_MATMUL_TILING;
  if (M <= 16) return NARROW_M_MATMUL_TILING;
  if (K <= 16) return SHALLOW_K_MATMUL_TILING;
  return DEFAULT_MATMUL_TILING;
}

/**
 * Largest number of rows of a [rows, columns] matrix of this dtype that one storage binding can
 * hold on this device (maxStorageBufferBindingSize). Weights with more rows are split into row
 * chunks; linear() accepts the chunks.
 */
export function maxRowsPerBinding(engine: Engine, columns: number, dtype: 'f32' | 'f16'): number {
  const rowBytes = columns * (dtype === 'f16' ? 2 : 4);
  // Round down to an even row count so f16 chunks start on a word boundary.
  return Math.floor(engine.limits.maxStorageBufferBindingSize / rowBytes / 2) * 2;
}

function checkBindingSize(engine: Engine, tensor: Tensor): void {
  const limit = engine.limits.maxStorageBufferBindingSize;
  if (tensor.byteLength > limit) {
    throw new Error(
      `${tensor} is ${tensor.byteLength} bytes, over this GPU's per-binding limit of ${limit} bytes ` +
        '(maxStorageBufferBindingSize). Split it by rows (see maxRowsPerBinding) and pass the chunks to linear().',
    );
  }
}

function product(dims: readonly number[]): number {
  return dims.reduce((total, dim) => total * dim, 1);
}

// ---- CPU reference ----------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | number[];

/**
 * CPU reference of matmul for one batch: returns alpha·op(A)·op(B) + bias as a Float64Array
 * [M, N], accumulating in float64. A is [M, K] (or [K, M] when transposeA), B is [K, N] (or
 * [N, K] when transposeB), both row-major.
 */
export function matmulReference(
  a: Floats,
  b: Floats,
  M: number,
  N: number,
  K: number,
  options: { transposeA?: boolean; transposeB?: boolean; bias?: Floats; alpha?: number } = {},
): Float64Array {
  const out = new Float64Array(M * N);
  const alpha = options.alpha ?? 1;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const aValue = options.transposeA ? a[k * M + m] : a[m * K + k];
        const bValue = options.transposeB ? b[n * K + k] : b[k * N + n];
        sum += aValue * bValue;
      }
      out[m * N + n] = alpha * sum + (options.bias ? options.bias[n] : 0);
    }
  }
  return out;
}
