// Partial rotary position embedding (spec §6.2): in every head, the first R = rotaryDim dims
// rotate in half-split pairs (x_j, x_{j+R/2}) by the angle p·f_j, f_j = θ^(−2j/R); the other
// dims pass through. Output order is the conventional half-split one (spec §6.2 explains why
// this equals upstream's interleaved write for every Q·K product, as long as Q and K agree).
// The backward pass is the inverse rotation (angle −p·f_j), the transpose of the forward one.
//
// Precision follows upstream's float32 math: f_j = 1 / f32(θ ** f32(2j/R)) is computed on the
// host in float32 steps and passed in the uniforms; the angle is the f32 product p·f_j (up to
// 2047 rad in the decoder); sin and cos are the shader's own accurate sinCos.
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import type { ColumnView } from './attention.ts';

export interface RotaryOptions {
  heads: number;
  headDim: number;
  /** Rotated dims per head (even); default headDim / 2 (spec §6.2: 32 of 64). */
  rotaryDim?: number;
  /** Frequency base; default 10000. */
  theta?: number;
  /** Absolute position of row 0; default 0. */
  positionOffset?: number;
  /**
   * Rows per sequence when several sequences are stacked by rows (a batch): row r sits at
   * position positionOffset + (r mod sequenceRows). Default: all rows are one sequence.
   */
  sequenceRows?: number;
  /**
   * Per-row positions (u32 [rows]): row r sits at positionOffset + positions[r]. For decoding a
   * batch of sequences, one new token each at its own position. Overrides sequenceRows.
   */
  positions?: Tensor;
}

/** Frequencies that fit the 256-byte uniform block after the 48-byte header. */
const MAX_FREQUENCIES = 52;

/**
 * One invocation per output element (row, column) (elementGrid).
 * Bindings: 0 x (read; row r, column c at r·stride + offset + c), 1 out [T, heads·headDim]
 * (write), with rowPositions 2 positions [T] u32 (read), then params (uniform).
 * direction = +1 rotates, −1 rotates back (backward).
 */
export function rotaryWgsl(rowPositions: boolean): string {
  return /* wgsl */ `
struct Params {
  rows: u32,
  heads: u32,
  headDim: u32,
  rotaryDim: u32,
  positionOffset: u32,
  stride: u32,
  offset: u32,
  direction: f32,
  sequenceRows: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
  inverseFrequency: array<vec4<f32>, ${MAX_FREQUENCIES / 4}>,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${rowPositions ? '@group(0) @binding(2) var<storage, read> positions: array<u32>;\n@group(0) @binding(3) var<uniform> params: Params;' : '@group(0) @binding(2) var<uniform> params: Params;'}
${INDEX_WGSL}
// π/2 split so that k·HALF_PI_HIGH is exact in f32 for k < 2^16 (HALF_PI_HIGH has 8 significant bits).
const HALF_PI_HIGH: f32 = 1.5703125;
const HALF_PI_LOW: f32 = 0.00048382679489661923;

// (sin, cos) of an f32 angle to ~1e-7 absolute for |angle| < 10^5: Cody–Waite reduction by π/2,
// then the Cephes sinf/cosf polynomials on [−π/4, π/4]. The built-in sin/cos are only promised
// to 2^−11 absolute (SwiftShader's are off by ~2e-5), which would make the decoder's Q·K depend
// on the GPU.
fn sinCos(angle: f32) -> vec2<f32> {
  let quadrant = round(angle * 0.63661977236758134);
  let r = (angle - quadrant * HALF_PI_HIGH) - quadrant * HALF_PI_LOW;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (i32(quadrant) & 3) {
    case 0: { return vec2(s, c); }
    case 1: { return vec2(c, -s); }
    case 2: { return vec2(-s, -c); }
    default: { return vec2(-c, s); }
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let width = params.heads * params.headDim;
  let element = elementIndex(group, groups, local);
  if (element >= params.rows * width) { return; }
  let row = element / width;
  let column = element % width;
  let d = column % params.headDim;
  let source = row * params.stride + params.offset;
  if (d >= params.rotaryDim) {
    out[element] = x[source + column];
    return;
  }
  let half = params.rotaryDim / 2u;
  let pair = d % half;
  let headStart = column - d;
  let first = x[source + headStart + pair];
  let second = x[source + headStart + pair + half];
  let frequency = params.inverseFrequency[pair / 4u][pair % 4u];
  let angle = f32(params.positionOffset + ${rowPositions ? 'positions[row]' : 'row % params.sequenceRows'}) * frequency;
  let sinCosine = sinCos(angle);
  let sine = sinCosine.x * params.direction;
  let cosine = sinCosine.y;
  // r' = x_j cos − x_{j+half} sin;  i' = x_j sin + x_{j+half} cos.
  out[element] = select(first * sine + second * cosine, first * cosine - second * sine, d < half);
}
`;
}

/** spec §6.2 frequencies in upstream's float32 steps: 1 / f32(θ ** f32(2j / R)). */
export function rotaryInverseFrequencies(rotaryDim: number, theta = 10000): Float32Array {
  const frequencies = new Float32Array(rotaryDim / 2);
  for (let j = 0; j < rotaryDim / 2; j++) {
    frequencies[j] = 1 / Math.fround(theta ** Math.fround((2 * j) / rotaryDim));
  }
  return frequencies;
}

/** Rotates Q or K ([T, heads·headDim], or a column view of a fused qkv); returns a dense tensor. */
export function rotary(engine: Engine, x: Tensor | ColumnView, options: RotaryOptions): Tensor {
  return dispatchRotary(engine, x, options, 1, 'rotary');
}

/** dL/dx from dL/dOut: the inverse rotation of gradOut [T, heads·headDim]. */
export function rotaryBackward(engine: Engine, gradOut: Tensor, options: RotaryOptions): Tensor {
  return dispatchRotary(engine, gradOut, options, -1, 'rotary.backward');
}

function dispatchRotary(engine: Engine, input: Tensor | ColumnView, options: RotaryOptions, direction: 1 | -1, label: string): Tensor {
  const view = 'tensor' in input ? input : { tensor: input, columnOffset: 0 };
  const { heads, headDim, theta = 10000, positionOffset = 0 } = options;
  const rotaryDim = options.rotaryDim ?? headDim / 2;
  const width = heads * headDim;
  const { tensor, columnOffset } = view;
  if (tensor.dtype !== 'f32' || tensor.shape.length !== 2 || columnOffset + width > tensor.shape[1]) {
    throw new Error(`${label}: expected a 2-D f32 tensor with ${width} columns from column ${columnOffset} (heads·headDim), got ${tensor}`);
  }
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0 || rotaryDim > headDim || rotaryDim / 2 > MAX_FREQUENCIES) {
    throw new Error(`${label}: rotaryDim must be even, in [2, min(headDim, ${2 * MAX_FREQUENCIES})], got ${rotaryDim}`);
  }
  if (!Number.isInteger(positionOffset) || positionOffset < 0) throw new Error(`${label}: positionOffset must be a non-negative integer`);
  const rows = tensor.shape[0];
  const sequenceRows = options.sequenceRows ?? rows;
  if (!Number.isInteger(sequenceRows) || sequenceRows < 1 || rows % sequenceRows !== 0) throw new Error(`${label}: sequenceRows ${sequenceRows} must divide the ${rows} rows`);
  const params = new ArrayBuffer(256);
  new Uint32Array(params, 0, 7).set([rows, heads, headDim, rotaryDim, positionOffset, tensor.shape[1], columnOffset]);
  new Float32Array(params, 28, 1)[0] = direction;
  new Uint32Array(params, 32, 1)[0] = sequenceRows;
  new Float32Array(params, 48, MAX_FREQUENCIES).set(rotaryInverseFrequencies(rotaryDim, theta));
  const out = engine.empty([rows, width], 'f32', label);
  const { positions } = options;
  if (positions && (positions.dtype !== 'u32' || positions.size !== rows)) throw new Error(`${label}: positions must be u32 [${rows}] (one per row), got ${positions}`);
  const bindings = positions ? [tensor, out, positions] : [tensor, out];
  engine.dispatch(engine.pipeline(rotaryWgsl(positions !== undefined)), bindings, elementGrid(engine, rows * width), { params, label });
  return out;
}

/**
 * CPU reference (float64 arithmetic on the same float32 angles as upstream). x is dense
 * [rows, heads·headDim]; direction −1 applies the inverse rotation.
 */
export function rotaryReference(
  x: ArrayLike<number>,
  rows: number,
  options: RotaryOptions,
  direction: 1 | -1 = 1,
): Float64Array {
  const { heads, headDim, theta = 10000, positionOffset = 0 } = options;
  const rotaryDim = options.rotaryDim ?? headDim / 2;
  const half = rotaryDim / 2;
  const frequencies = rotaryInverseFrequencies(rotaryDim, theta);
  const width = heads * headDim;
  const out = Float64Array.from(x);
  for (let row = 0; row < rows; row++) {
    for (let head = 0; head < heads; head++) {
      const base = row * width + head * headDim;
      for (let j = 0; j < half; j++) {
        const angle = Math.fround((positionOffset + row) * frequencies[j]);
        const cosine = Math.cos(angle);
        const sine = Math.sin(angle) * direction;
        const first = x[base + j];
        const second = x[base + j + half];
        out[base + j] = first * cosine - second * sine;
        out[base + j + half] = first * sine + second * cosine;
      }
    }
  }
  return out;
}
