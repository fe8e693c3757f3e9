// WGSL for the batched matmul C = op(A)·op(B) (+ bias) (+ C), op = identity or transpose.
//
// Tiling: a workgroup of 16×16 invocations computes a 64×64 tile of C; each invocation owns a
// 4×4 block held in registers (16 accumulators). The K dimension is walked in steps of
// MATMUL_TILE_K: both operands' slices are staged in workgroup memory, laid out k-major as vec4s
// so the inner loop does two vec4 loads and four vec4 FMAs per k step. Global loads are
// arranged so that consecutive invocations read consecutive addresses whatever the transpose
// flags (coalesced on GPUs; sequential on a CPU). Elements outside the matrix read as 0, so any
// M, N, K works (tiles need not divide the sizes).
//
// Everything that shapes the kernel is an override constant or the template's weight format,
// so each (flags, format) pair is one cached pipeline.

export const MATMUL_TILE_M = 64;
export const MATMUL_TILE_N = 64;
export const MATMUL_TILE_K = 16;

/** The B operand's storage: plain f32, or packed f16 (two halves per u32, low half first). */
export type MatmulWeightFormat = 'f32' | 'f16';

/** Bytes of the uniform block `MatmulParams` below. */
export const MATMUL_PARAMS_BYTES = 64;

export function matmulShader(weightFormat: MatmulWeightFormat): string {
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
//   4: params uniform MatmulParams
// Offsets and strides count elements, so a call can address a sub-block of a larger matrix
// (a row chunk of a weight, a column slice of an output).
struct MatmulParams {
  M: u32, N: u32, K: u32, alpha: f32,
  lda: u32, ldb: u32, ldc: u32, biasOffset: u32,
  offsetA: u32, offsetB: u32, offsetC: u32, _pad0: u32,
  batchStrideA: u32, batchStrideB: u32, batchStrideC: u32, _pad1: u32,
}

override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;
override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;

const TILE_M = ${MATMUL_TILE_M}u;
const TILE_N = ${MATMUL_TILE_N}u;
const TILE_K = ${MATMUL_TILE_K}u;
const THREADS = 256u;

@group(0) @binding(0) var<storage, read> a: array<f32>;
${bDeclaration}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> params: MatmulParams;

// k-major tiles: aTile[k][m / 4] holds rows m..m+3 of column k.
var<workgroup> aTile: array<vec4<f32>, ${(MATMUL_TILE_K * MATMUL_TILE_M) / 4}>;
var<workgroup> bTile: array<vec4<f32>, ${(MATMUL_TILE_K * MATMUL_TILE_N) / 4}>;

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

@compute @workgroup_size(16, 16)
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

  var acc: array<vec4<f32>, 4>;
  for (var kStart = 0u; kStart < params.K; kStart += TILE_K) {
    // Stage A: TILE_M×TILE_K elements, 4 per invocation. The fastest-varying index follows
    // A's contiguous dimension (k, or m when transposed).
    for (var i = 0u; i < 4u; i++) {
      let flat = thread + i * THREADS;
      var m: u32;
      var k: u32;
      if (TRANSPOSE_A) { m = flat % TILE_M; k = flat / TILE_M; } else { m = flat / TILE_K; k = flat % TILE_K; }
      aTile[k * (TILE_M / 4u) + m / 4u][m % 4u] = loadA(baseA, rowStart + m, kStart + k);
    }
    for (var i = 0u; i < 4u; i++) {
      let flat = thread + i * THREADS;
      var n: u32;
      var k: u32;
      if (TRANSPOSE_B) { n = flat / TILE_K; k = flat % TILE_K; } else { n = flat % TILE_N; k = flat / TILE_N; }
      bTile[k * (TILE_N / 4u) + n / 4u][n % 4u] = loadB(baseB, kStart + k, colStart + n);
    }
    workgroupBarrier();
    for (var k = 0u; k < TILE_K; k++) {
      let aColumn = aTile[k * (TILE_M / 4u) + local.y];
      let bRow = bTile[k * (TILE_N / 4u) + local.x];
      acc[0] = fma(vec4(aColumn.x), bRow, acc[0]);
      acc[1] = fma(vec4(aColumn.y), bRow, acc[1]);
      acc[2] = fma(vec4(aColumn.z), bRow, acc[2]);
      acc[3] = fma(vec4(aColumn.w), bRow, acc[3]);
    }
    workgroupBarrier();
  }

  let baseC = params.offsetC + batch * params.batchStrideC;
  for (var i = 0u; i < 4u; i++) {
    let row = rowStart + local.y * 4u + i;
    if (row >= params.M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = colStart + local.x * 4u + j;
      if (col >= params.N) { break; }
      var value = params.alpha * acc[i][j];
      if (HAS_BIAS) { value += bias[params.biasOffset + col]; }
      let index = baseC + row * params.ldc + col;
      if (ACCUMULATE) { value += c[index]; }
      c[index] = value;
    }
  }
}
`;
}
