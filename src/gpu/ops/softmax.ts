// Softmax over the last dimension, numerically stable: y = exp(x − max)/Σ exp(x − max).
// Backward: gradX = y·(gradOut − Σ_j gradOut_j·y_j).
import { INDEX_WGSL, workgroupGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import { ROW_WORKGROUP_SIZE, WORKGROUP_REDUCE_WGSL } from './row-reduce.wgsl.ts';

export const SOFTMAX_FORWARD_WGSL = /* wgsl */ `
// Bindings: 0: x (read) [rows, D], 1: y (read_write) [rows, D], 2: params.
// One workgroup per row; rows fold into a 2-D grid. Rows of all −∞ (fully masked) give 0s.
struct Params { rows: u32, D: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
${INDEX_WGSL}
${WORKGROUP_REDUCE_WGSL}
@compute @workgroup_size(${ROW_WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let row = workgroupIndex(group, groups);
  if (row >= params.rows) { return; }  // uniform across the workgroup
  let base = row * params.D;
  // The lowest finite f32 rather than −∞ as the identity, so (x − rowMax) never gives NaN.
  var localMax = -3.4028234663852886e38;
  for (var j = local; j < params.D; j += ${ROW_WORKGROUP_SIZE}u) { localMax = max(localMax, x[base + j]); }
  let rowMax = workgroupMax(localMax, local);
  var localSum = 0.0;
  for (var j = local; j < params.D; j += ${ROW_WORKGROUP_SIZE}u) { localSum += exp(x[base + j] - rowMax); }
  let rowSum = workgroupSum(localSum, local);
  let inverse = select(0.0, 1.0 / rowSum, rowSum > 0.0);
  for (var j = local; j < params.D; j += ${ROW_WORKGROUP_SIZE}u) { y[base + j] = exp(x[base + j] - rowMax) * inverse; }
}
`;

export const SOFTMAX_BACKWARD_WGSL = /* wgsl */ `
// Bindings: 0: gradOut (read) [rows, D], 1: y (read) [rows, D] (the forward output),
//           2: gradX (read_write) [rows, D], 3: params.
struct Params { rows: u32, D: u32 }
@group(0) @binding(0) var<storage, read> gradOut: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradX: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
${INDEX_WGSL}
${WORKGROUP_REDUCE_WGSL}
@compute @workgroup_size(${ROW_WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let row = workgroupIndex(group, groups);
  if (row >= params.rows) { return; }
  let base = row * params.D;
  var localDot = 0.0;
  for (var j = local; j < params.D; j += ${ROW_WORKGROUP_SIZE}u) { localDot += gradOut[base + j] * y[base + j]; }
  let dot = workgroupSum(localDot, local);
  for (var j = local; j < params.D; j += ${ROW_WORKGROUP_SIZE}u) { gradX[base + j] = y[base + j] * (gradOut[base + j] - dot); }
}
`;

function rowsOf(op: string, x: Tensor): { rows: number; D: number } {
  const D = x.shape.at(-1) ?? 0;
  if (x.dtype !== 'f32' || D === 0) throw new Error(`${op}: expected f32 [..., D] with D > 0, got ${x}`);
  return { rows: x.size / D, D };
}

/** Softmax over the last dimension of x [..., D]. */
export function softmax(engine: Engine, x: Tensor): Tensor {
  const { rows, D } = rowsOf('softmax', x);
  const y = engine.empty(x.shape);
  if (rows > 0) {
    engine.dispatch(engine.pipeline(SOFTMAX_FORWARD_WGSL), [x, y], workgroupGrid(engine, rows), {
      params: new Uint32Array([rows, D, 0, 0]),
      label: 'softmax',
    });
  }
  return y;
}

/** Gradient of softmax given its output y: gradX = y·(gradOut − Σ gradOut·y). */
export function softmaxBackward(engine: Engine, gradOut: Tensor, y: Tensor): Tensor {
  const { rows, D } = rowsOf('softmaxBackward', y);
  if (gradOut.dtype !== 'f32' || gradOut.size !== y.size) throw new Error(`softmaxBackward: ${gradOut} does not match ${y}`);
  const gradX = engine.empty(y.shape);
  if (rows > 0) {
    engine.dispatch(engine.pipeline(SOFTMAX_BACKWARD_WGSL), [gradOut, y, gradX], workgroupGrid(engine, rows), {
      params: new Uint32Array([rows, D, 0, 0]),
      label: 'softmaxBackward',
    });
  }
  return gradX;
}

// ---- CPU references -----------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | number[];

export function softmaxReference(x: Floats, D: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += D) {
    let rowMax = -Infinity;
    for (let j = 0; j < D; j++) rowMax = Math.max(rowMax, x[base + j]);
    if (rowMax === -Infinity) continue; // fully masked row: zeros
    let sum = 0;
    for (let j = 0; j < D; j++) sum += Math.exp(x[base + j] - rowMax);
    for (let j = 0; j < D; j++) y[base + j] = Math.exp(x[base + j] - rowMax) / sum;
  }
  return y;
}

export function softmaxBackwardReference(gradOut: Floats, y: Floats, D: number): Float64Array {
  const gradX = new Float64Array(y.length);
  for (let base = 0; base < y.length; base += D) {
    let dot = 0;
    for (let j = 0; j < D; j++) dot += gradOut[base + j] * y[base + j];
    for (let j = 0; j < D; j++) gradX[base + j] = y[base + j] * (gradOut[base + j] - dot);
  }
  return gradX;
}
