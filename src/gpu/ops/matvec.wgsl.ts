// WGSL for products with few rows against a Linear weight: C = alpha·A·Bᵀ (+ bias) (+ C) for
// A [M ≤ MATVEC_MAX_ROWS, K] and B [N, K] stored row-major (f32, or packed f16) — the decode
// step's matrix-vector products, where the tiled matmul (matmul.wgsl.ts) would pad A to a tile
// of rows and spread N over a handful of workgroups.
//
// Each invocation computes MATVEC_COLUMNS outputs of every row, walking K four elements at a
// time with MATVEC_THREADS invocations splitting it (consecutive invocations read consecutive
// fours of B's rows); MATVEC_GROUPS such teams share a workgroup. The teams' partial sums are
// then added in workgroup memory, a halving tree of log2(MATVEC_THREADS) steps. Needs K, ldb and
// offsetB multiples of 4 (so four elements of packed f16 are two whole words); matmul.ts falls
// back to the tiled kernel otherwise.
//
// The shape of the work was measured on SwiftShader (2 cores) for 1×2048 · (2048×2048)ᵀ f32,
// TF.js 23.5 ms: 64 invocations splitting K, one team: 52 ms; 4 × 8 teams: 20 ms; 2 × 16: 20 ms;
// then B's row starts computed once outside the loop (columns past N clamped to row N-1, so the
// loop has no branch): 2 × 16 10.6 ms; two fours per iteration: 9.8 ms. Packed f16 costs more
// there (14 ms), half of it unpack2x16float, which SwiftShader runs lane by lane; bit tricks in
// its place were slower. On a GPU, short K splits and many teams per workgroup keep each team's
// reads sequential within a row, and every value of B is still read once.
import { MATMUL_PARAMS_WGSL, matmulEpilogueWgsl, matmulParamsBinding, type MatmulEpilogue, type MatmulWeightFormat } from './matmul.wgsl.ts';

/** Rows of A (tokens) one dispatch handles at most. */
export const MATVEC_MAX_ROWS = 4;
/** Outputs (columns of C, rows of B) per workgroup. */
export const MATVEC_COLUMNS = 4;
/** Invocations splitting K for each group of columns (a power of two for the reduction tree). */
export const MATVEC_THREADS = 2;
/** Groups of MATVEC_COLUMNS outputs per workgroup. */
export const MATVEC_GROUPS = 16;

/**
 * `rows` is M (1..MATVEC_MAX_ROWS), a template argument: the per-row sums are written out as
 * straight-line code, since SwiftShader keeps dynamically indexed private arrays in memory.
 */
export function matvecWgsl(weightFormat: MatmulWeightFormat, rows: number, epilogue: MatmulEpilogue = 'none', threads = MATVEC_THREADS, groups = MATVEC_GROUPS): string {
  if (!Number.isInteger(rows) || rows < 1 || rows > MATVEC_MAX_ROWS) throw new Error(`matvec handles 1 to ${MATVEC_MAX_ROWS} rows, got ${rows}`);
  const each = (line: (row: number) => string) => Array.from({ length: rows }, (_, row) => line(row)).join('\n');
  const eachColumn = (line: (column: number) => string) => Array.from({ length: MATVEC_COLUMNS }, (_, column) => line(column)).join('\n');
  const readB = (index: string) =>
    weightFormat === 'f16' ? `unpackFour(b[${index}])` : `b[${index}]`;
  return /* wgsl */ `
// Bindings (layout 'auto'), the same as the tiled matmul's so one call record serves both:
//   0: a      storage read        f32, M×K per batch, rows lda apart
//   1: b      storage read        ${weightFormat === 'f16' ? 'packed f16 (u32 words)' : 'f32'}, N×K per batch, rows ldb apart
//   2: bias   storage read        f32 [biasOffset + N] (read only when HAS_BIAS)
//   3: c      storage read_write  f32, M×N per batch, rows ldc apart (read first when ACCUMULATE)
//   4: params uniform MatmulParams (binding 5 with the GELU epilogue, whose pre-activation is binding 4)
${MATMUL_PARAMS_WGSL}

override HAS_BIAS: bool = false;
override ACCUMULATE: bool = false;

const ROWS = ${rows}u;
const COLUMNS = ${MATVEC_COLUMNS}u;
const THREADS = ${threads}u;
const GROUPS = ${groups}u;

// Read as vec4s (and f16 as word pairs): every offset is a multiple of 4 elements.
@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<${weightFormat === 'f16' ? 'vec2<u32>' : 'vec4<f32>'}>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(${matmulParamsBinding(epilogue)}) var<uniform> params: MatmulParams;
${matmulEpilogueWgsl(epilogue)}

// Four f16 values packed in two words, as f32.
fn unpackFour(words: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(unpack2x16float(words.x), unpack2x16float(words.y));
}

// partial[row * GROUPS * THREADS + slot][column]: one invocation's sums for its group's columns.
var<workgroup> partial: array<vec4<f32>, ${rows * threads * groups}>;

@compute @workgroup_size(${threads}, ${groups})
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_id) local: vec3u) {
  let batch = group.z;
  let thread = local.x;
  // This invocation's slot among the workgroup's partial sums: rows apart by GROUPS·THREADS.
  let slot = local.y * THREADS + thread;
  let colStart = (group.x * GROUPS + local.y) * COLUMNS;
  // Everything below counts in fours of elements (one vec4 of A, one vec4 or word pair of B).
  let quads = params.K >> 2u;
  let rowA = (params.offsetA + batch * params.batchStrideA) >> 2u;
  let strideA = params.lda >> 2u;
  let baseB = (params.offsetB + batch * params.batchStrideB) >> 2u;
  let strideB = params.ldb >> 2u;
  // Columns past N read row N-1 (in bounds, never written), so the loop has no branches.
${eachColumn((column) => `  let rowB${column} = baseB + min(colStart + ${column}u, params.N - 1u) * strideB;`)}

${each((row) => `  var sum${row} = vec4<f32>();`)}
  // Two fours per step (fewer loop iterations; SwiftShader does not unroll), then the odd one.
  var q = thread;
  for (; q + THREADS < quads; q += 2u * THREADS) {
    let q1 = q + THREADS;
${eachColumn((column) => `    let w${column} = ${readB(`rowB${column} + q`)};`)}
${each((row) => `    let x${row} = a[rowA + ${row}u * strideA + q];
    sum${row} += vec4<f32>(${Array.from({ length: MATVEC_COLUMNS }, (_, column) => `dot(x${row}, w${column})`).join(', ')});`)}
${eachColumn((column) => `    let w${column}1 = ${readB(`rowB${column} + q1`)};`)}
${each((row) => `    let x${row}1 = a[rowA + ${row}u * strideA + q1];
    sum${row} += vec4<f32>(${Array.from({ length: MATVEC_COLUMNS }, (_, column) => `dot(x${row}1, w${column}1)`).join(', ')});`)}
  }
  if (q < quads) {
${eachColumn((column) => `    let w${column} = ${readB(`rowB${column} + q`)};`)}
${each((row) => `    let x${row} = a[rowA + ${row}u * strideA + q];
    sum${row} += vec4<f32>(${Array.from({ length: MATVEC_COLUMNS }, (_, column) => `dot(x${row}, w${column})`).join(', ')});`)}
  }
${each((row) => `  partial[${row}u * GROUPS * THREADS + slot] = sum${row};`)}
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (thread < stride) {
${each((row) => `      partial[${row}u * GROUPS * THREADS + slot] += partial[${row}u * GROUPS * THREADS + slot + stride];`)}
    }
    workgroupBarrier();
  }

  // The group's invocations write its ROWS × COLUMNS outputs, THREADS at a time.
  for (var output = thread; output < ROWS * COLUMNS; output += THREADS) {
    let row = output / COLUMNS;
    let column = output % COLUMNS;
    let col = colStart + column;
    if (col < params.N) {
      var value = params.alpha * partial[row * GROUPS * THREADS + local.y * THREADS][column];
      if (HAS_BIAS) { value += bias[params.biasOffset + col]; }
      let index = params.offsetC + batch * params.batchStrideC + row * params.ldc + col;
      if (ACCUMULATE) { value += c[index]; }
      c[index] = finish(index, value);
    }
  }
}
`;
}
