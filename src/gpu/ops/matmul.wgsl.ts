// WGSL for the batched matmul C = op(A)·op(B) (+ bias) (+ C), op = identity or transpose, with
// an optional GELU applied to each value as it is stored (an MLP's fc1: no elementwise pass).
//
// Tiling (MatmulTiling below; by default 8×8 per invocation in 8×8 invocations → 64×64 per
// workgroup; see SMALL_M_MATMUL_TILING and the others for narrow products): a workgroup computes
// a tile of C; each invocation owns a block of it held in registers. The K dimension is walked
// in steps of tileK: both operands' slices are staged in workgroup memory, laid out k-major as
// vec4s, so each k step loads (threadRows + threadCols)/4 vec4s and does threadRows·threadCols/4
// vec4 FMAs. Global loads are arranged so that
// consecutive invocations read consecutive addresses whatever the transpose flags (coalesced on
// GPUs; sequential on a CPU). Elements outside the matrix read as 0, so any M, N, K works (tiles
// need not divide the sizes).
//
// The transpose/bias/accumulate flags are override constants; the weight format, the tiling and
// the epilogue are template arguments (they change declarations). Each combination is one
// cached pipeline.
import { GELU_FUNCTIONS_WGSL } from './gelu.ts';

/**
 * How the output is tiled: each invocation of a workgroupRows × workgroupCols workgroup
 * computes a threadRows × threadCols block in registers, so a workgroup covers
 * (workgroupRows·threadRows) × (workgroupCols·threadCols) of C; tileK is the depth staged in
 * workgroup memory per step. threadRows and threadCols are multiples of 4 (vec4 registers);
 * both staged tiles' element counts must divide by the workgroup's invocation count.
 */
export interface MatmulTiling {
  threadRows: number;
  threadCols: number;
  tileK: number;
  /** Invocations along the rows of C (default 16). */
  workgroupRows?: number;
  /** Invocations along the columns of C (default 16). */
  workgroupCols?: number;
}

const DEFAULT_WORKGROUP_SIDE = 16;
// 8×8 per invocation in 8×8 workgroups (64×64 tiles), tileK 8: measured on SwiftShader (2-core
// CPU, same process, mean of 3) against the former 8×4 in 16×16 (128×64, tileK 16) and eight other
// blockings. The training shapes of the demo model have a short K (64, its width), where a
// 256-invocation workgroup's fixed cost dominated: 1312×64·(256×64)ᵀ 137 → 57 ms, 1312×64·64×256
// 123 → 81 ms, 1312×256·(64×256)ᵀ 76 → 51 ms; long K gained less (512³ 303 → 286 ms,
// 730×512·(1536×512)ᵀ 1578 → 1240 ms). 64 accumulators fit a GPU's register budget as well.
export const DEFAULT_MATMUL_TILING: MatmulTiling = { threadRows: 8, threadCols: 8, tileK: 8, workgroupRows: 8, workgroupCols: 8 };

/**
 * For products with at most 4 rows (decoding one token: a matrix-vector product): a 4-row
 * tile, so the default 128-row tile does not compute 127 rows of padding, and a wide row of
 * 64 invocations that share each staged slice of A.
 */
export const SMALL_M_MATMUL_TILING: MatmulTiling = { threadRows: 4, threadCols: 4, tileK: 16, workgroupRows: 1, workgroupCols: 64 };

/**
 * Products with at most 16 columns (LoRA's x·Aᵀ and g·B): 64×8 tiles of 8 invocations (measured
 * on SwiftShader against 128×8 tiles of 32: 1312×256·(8×256)ᵀ 13 → 9 ms, 1312×64·(8×64)ᵀ 4 → 3 ms).
 */
export const NARROW_N_MATMUL_TILING: MatmulTiling = { threadRows: 8, threadCols: 8, tileK: 8, workgroupRows: 8, workgroupCols: 1 };
/** Products with at most 16 rows (LoRA's gradients dA = dHᵀ·x): 8×128 tiles. */
export const NARROW_M_MATMUL_TILING: MatmulTiling = { threadRows: 4, threadCols: 4, tileK: 16, workgroupRows: 2, workgroupCols: 32 };
/**
 * Products over a short K (LoRA's h·Bᵀ, K = rank): 32×32 tiles of 16 invocations, 8-deep K steps
 * (measured on SwiftShader against 4×4 blocks of 64 invocations: 1312×8·8×256 64 → 17 ms,
 * 1312×8·(256×8)ᵀ 68 → 22 ms).
 */
export const SHALLOW_K_MATMUL_TILING: MatmulTiling = { threadRows: 8, threadCols: 8, tileK: 8, workgroupRows: 4, workgroupCols: 4 };

export function matmulTileRows(tiling: MatmulTiling): number {
  return (tiling.workgroupRows ?? DEFAULT_WORKGROUP_SIDE) * tiling.threadRows;
}

export function matmulTileCols(tiling: MatmulTiling): number {
  return (tiling.workgroupCols ?? DEFAULT_WORKGROUP_SIDE) * tiling.threadCols;
}

/** The B operand's storage: plain f32, or packed f16 (two halves per u32, low half first). */
export type MatmulWeightFormat = 'f32' | 'f16';


/**
 * What a kernel does to a finished value (alpha·product + bias + C) before storing it: nothing,
 * or GELU (tanh form), optionally keeping the value before GELU for the backward pass.
 */
export type MatmulEpilogue = 'none' | 'gelu';

/**
 * The epilogue as WGSL, shared by the tiled kernel and the matrix-vector kernel (matvec.wgsl.ts):
 * `finish(index, value)` is what is stored at c[index]. GELU adds binding 4, the pre-activation
 * buffer, indexed as C and written only when SAVE_PRE_ACTIVATION (training keeps it; inference
 * binds a placeholder); the uniform block then moves to binding 5 (matmulParamsBinding), as the
 * engine binds the uniform after the buffers.
 */
export function matmulEpilogueWgsl(epilogue: MatmulEpilogue): string {
  if (epilogue === 'none') return 'fn finish(index: u32, value: f32) -> f32 { return value; }';
  return /* wgsl */ `
override SAVE_PRE_ACTIVATION: bool = false;
@group(0) @binding(4) var<storage, read_write> preActivation: array<f32>;
${GELU_FUNCTIONS_WGSL}
fn finish(index: u32, value: f32) -> f32 {
  if (SAVE_PRE_ACTIVATION) { preActivation[index] = value; }
  return geluTanh(value);
}`;
}

/** The binding of the uniform block: after the four buffers, and after the pre-activation with GELU. */
export function matmulParamsBinding(epilogue: MatmulEpilogue): number {
  return epilogue === 'gelu' ? 5 : 4;
}

/** The uniform block of every matmul kernel (the tiled one here, matvec.wgsl.ts): recordMatmul fills it. */
export const MATMUL_PARAMS_WGSL = /* wgsl */ `struct MatmulParams {
  M: u32, N: u32, K: u32, alpha: f32,
  lda: u32, ldb: u32, ldc: u32, biasOffset: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, _pad0: u32,
  batchStrideA: u32, batchStrideB: u32, batchStrideC: u32, _pad1: u32,
}`;

/** Bytes of the uniform block MatmulParams (MATMUL_PARAMS_WGSL). */
export const MATMUL_PARAMS_BYTES = 64;

export function matmulWgsl(weightFormat: MatmulWeightFormat, tiling: MatmulTiling = DEFAULT_MATMUL_TILING, epilogue: MatmulEpilogue = 'none'): string {
  const tileM = matmulTileRows(tiling);
  const tileN = matmulTileCols(tiling);
  const workgroupRows = tiling.workgroupRows ?? DEFAULT_WORKGROUP_SIDE;
  const workgroupCols = tiling.workgroupCols ?? DEFAULT_WORKGROUP_SIDE;
  const threads = workgroupRows * workgroupCols;
  if ((tileM * tiling.tileK) % threads !== 0 || (tileN * tiling.tileK) % threads !== 0) {
    throw new Error(`Matmul tiling ${JSON.stringify(tiling)}: staged tiles do not divide among ${threads} invocations`);
  }
  const unrolled = unrolledBlock(tiling);
  const bDeclaration =
    weightFormat === 'f16'
      ? '@group(0) @binding(1) var<storage, read> b: array<u32>;'
      : '@group(0) @binding(1) var<storage, read> b: array<f32>;';
  // Packed f16: element e is half (e & 1) of word e >> 1. unpack2x16float is core WGSL, so this
  // needs no shader-f16 feature.
  const bRead =
    weightFormat === 'f16'
      ? 'return unpack2x16float(b[index >> 1u])[index & 1u];'
      : 'return b[index];';
  return /* wgsl */ `
// Bindings (layout 'auto', all used by main):
//   0: a      storage read        f32, M×K (K×M when TRANSPOSE_A) per batch, rows lda apart
//   1: b      storage read        ${weightFormat === 'f16' ? 'packed f16 (u32 words)' : 'f32'}, K×N (N×K when TRANSPOSE_B) per batch, rows ldb apart
//   2: bias   storage read        f32 [biasOffset + N] (read only when HAS_BIAS; else any 4-byte buffer)
//   3: c      storage read_write  f32, M×N per batch, rows ldc apart (read first when ACCUMULATE)
//   4: params uniform MatmulParams (binding 5 with the GELU epilogue, whose pre-activation is binding 4; see matmulEpilogueWgsl)
// Offsets and strides count elements, so a call can address a sub-block of a larger matrix
// (a row chunk of a weight, a column slice of an output).
${MATMUL_PARAMS_WGSL}

override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;

const TILE_M = ${tileM}u;
const TILE_N = ${tileN}u;
const TILE_K = ${tiling.tileK}u;
const THREAD_ROWS = ${tiling.threadRows}u;
const THREAD_COLS = ${tiling.threadCols}u;
const THREADS = ${threads}u;
// Staged elements per invocation and operand.
const A_LOADS = ${(tileM * tiling.tileK) / threads}u;
const B_LOADS = ${(tileN * tiling.tileK) / threads}u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
${bDeclaration}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(${matmulParamsBinding(epilogue)}) var<uniform> params: MatmulParams;
${matmulEpilogueWgsl(epilogue)}

// k-major tiles: aTile[k][m / 4] holds rows m..m+3 of column k.
var<workgroup> aTile: array<vec4<f32>, ${(tiling.tileK * tileM) / 4}>;
var<workgroup> bTile: array<vec4<f32>, ${(tiling.tileK * tileN) / 4}>;

fn readB(index: u32) -> f32 {
  ${bRead}
}

fn loadA(base: u32, row: u32, k: u32) -> f32 {
  if (row >= params.M || k >= params.K) { return 0.0; }
  if (TRANSPOSE_A) { return a[base + k * params.lda + row]; }
  return a[base + row * params.lda + k];
}

fn loadB(base: u32, k: u32, col: u32) -> f32 {
  if (col >= params.N || k >= params.K) { return 0.0; }
  if (TRANSPOSE_B) { return readB(base + col * params.ldb + k); }
  return readB(base + k * params.ldb + col);
}

// Writes 4 consecutive elements of C (skipping those outside the matrix), applying alpha,
// bias, accumulation and the epilogue.
fn storeFour(baseC: u32, row: u32, col: u32, values: vec4<f32>) {
  if (row >= params.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (col + j >= params.N) { return; }
    var value = params.alpha * values[j];
    if (HAS_BIAS) { value += bias[params.biasOffset + col + j]; }
    let index = baseC + row * params.ldc + col + j;
    if (ACCUMULATE) { value += c[index]; }
    c[index] = finish(index, value);
  }
}

@compute @workgroup_size(${workgroupCols}, ${workgroupRows})
fn main(
  @builtin(workgroup_id) group: vec3u,
  @builtin(local_invocation_id) local: vec3u,
  @builtin(local_invocation_index) thread: u32,
) {
  let batch = group.z;
  let rowStart = group.y * TILE_M;
  let colStart = group.x * TILE_N;
  let baseA = params.offsetA + batch * params.batchStrideA;
  let baseB = params.offsetB + batch * params.batchStrideB;

  // acc_r_j holds row r, columns 4j..4j+3 of this invocation's block.
${unrolled.declarations}
  for (var kStart = 0u; kStart < params.K; kStart += TILE_K) {
    // Stage A: TILE_M×TILE_K elements, A_LOADS per invocation. The fastest-varying index
    // follows A's contiguous dimension (k, or m when transposed).
    for (var i = 0u; i < A_LOADS; i++) {
      let flat = thread + i * THREADS;
      var m: u32;
      var k: u32;
      if (TRANSPOSE_A) { m = flat % TILE_M; k = flat / TILE_M; } else { m = flat / TILE_K; k = flat % TILE_K; }
      aTile[k * (TILE_M / 4u) + m / 4u][m % 4u] = loadA(baseA, rowStart + m, kStart + k);
    }
    for (var i = 0u; i < B_LOADS; i++) {
      let flat = thread + i * THREADS;
      var n: u32;
      var k: u32;
      if (TRANSPOSE_B) { n = flat / TILE_K; k = flat % TILE_K; } else { n = flat % TILE_N; k = flat / TILE_N; }
      bTile[k * (TILE_N / 4u) + n / 4u][n % 4u] = loadB(baseB, kStart + k, colStart + n);
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let aBase = k * (TILE_M / 4u) + local.y * (THREAD_ROWS / 4u);
      let bBase = k * (TILE_N / 4u) + local.x * (THREAD_COLS / 4u);
${unrolled.product}
    }
    workgroupBarrier();
  }

  let baseC = params.offsetC + batch * params.batchStrideC;
  let blockRow = rowStart + local.y * THREAD_ROWS;
  let blockCol = colStart + local.x * THREAD_COLS;
${unrolled.stores}
}
`;
}

/**
 * The register block as straight-line WGSL: one named vec4 accumulator per 4 outputs, the
 * outer-product update for one k, and the stores. Written out rather than looped because
 * SwiftShader (the CPU implementation the tests run on) keeps dynamically indexed private
 * arrays in memory, which made the looped form several times slower; GPU compilers unroll
 * either form.
 */
function unrolledBlock(tiling: MatmulTiling): { declarations: string; product: string; stores: string } {
  const rowVectors = tiling.threadRows / 4;
  const colVectors = tiling.threadCols / 4;
  const declarations: string[] = [];
  const product: string[] = [];
  const stores: string[] = [];
  for (let i = 0; i < rowVectors; i++) product.push(`      let a${i} = aTile[aBase + ${i}u];`);
  for (let j = 0; j < colVectors; j++) product.push(`      let b${j} = bTile[bBase + ${j}u];`);
  for (let r = 0; r < tiling.threadRows; r++) {
    const aLane = `a${Math.floor(r / 4)}.${'xyzw'[r % 4]}`;
    for (let j = 0; j < colVectors; j++) {
      declarations.push(`  var acc_${r}_${j} = vec4<f32>();`);
      product.push(`      acc_${r}_${j} = fma(vec4(${aLane}), b${j}, acc_${r}_${j});`);
      stores.push(`  storeFour(baseC, blockRow + ${r}u, blockCol + ${4 * j}u, acc_${r}_${j});`);
    }
  }
  return { declarations: declarations.join('\n'), product: product.join('\n'), stores: stores.join('\n') };
}
