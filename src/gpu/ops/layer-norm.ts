// LayerNorm over the last dimension (spec: ln1 / post_ln; eps 1e-5, biased variance, statistics
// in f32): y = (x − mean)·rstd·weight + bias, rstd = 1/√(var + eps).
// Forward also returns per-row mean and rstd, which the backward pass reuses.
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/**
 * Rows per workgroup: each invocation normalises a whole row by itself. A workgroup per row with
 * tree reductions spends its time in barriers on CPU-emulated GPUs (SwiftShader: ~1 ms a row of
 * 128); rows are at most a few thousand values, a short loop for one invocation on any GPU.
 */
const ROW_INVOCATIONS = 64;

export const LAYER_NORM_FORWARD_WGSL = /* wgsl */ `
// Bindings: 0: x (read) [rows, D], 1: weight (read) [D], 2: bias (read) [D],
//           3: y (read_write) [rows, D], 4: mean (read_write) [rows], 5: rstd (read_write) [rows],
//           6: params. One invocation per row (elementGrid over the rows).
struct Params { rows: u32, D: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${INDEX_WGSL}
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let row = elementIndex(group, groups, local);
  if (row >= params.rows) { return; }
  let base = row * params.D;
  var sum = 0.0;
  for (var j = 0u; j < params.D; j++) { sum += x[base + j]; }
  let rowMean = sum / f32(params.D);
  // Two passes (mean, then squared deviations): no cancellation when |mean| ≫ std.
  var squares = 0.0;
  for (var j = 0u; j < params.D; j++) { let d = x[base + j] - rowMean; squares += d * d; }
  let rowRstd = inverseSqrt(squares / f32(params.D) + params.eps);
  for (var j = 0u; j < params.D; j++) {
    y[base + j] = (x[base + j] - rowMean) * rowRstd * weight[j] + bias[j];
  }
  mean[row] = rowMean;
  rstd[row] = rowRstd;
}
`;

export const LAYER_NORM_BACKWARD_INPUT_WGSL = /* wgsl */ `
// Bindings: 0: gradOut (read) [rows, D], 1: x (read), 2: weight (read) [D], 3: mean (read) [rows],
//           4: rstd (read) [rows], 5: gradX (read_write) [rows, D], 6: params.
// One invocation per row. With x̂ = (x − mean)·rstd and g = gradOut·weight:
//   gradX = rstd·(g − mean_j(g) − x̂·mean_j(g·x̂)).
struct Params { rows: u32, D: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> gradOut: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> gradX: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;
${INDEX_WGSL}
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let row = elementIndex(group, groups, local);
  if (row >= params.rows) { return; }
  let base = row * params.D;
  let rowMean = mean[row];
  let rowRstd = rstd[row];
  var sumG = 0.0;
  var sumGXhat = 0.0;
  for (var j = 0u; j < params.D; j++) {
    let g = gradOut[base + j] * weight[j];
    sumG += g;
    sumGXhat += g * (x[base + j] - rowMean) * rowRstd;
  }
  let meanG = sumG / f32(params.D);
  let meanGXhat = sumGXhat / f32(params.D);
  for (var j = 0u; j < params.D; j++) {
    let xhat = (x[base + j] - rowMean) * rowRstd;
    gradX[base + j] = rowRstd * (gradOut[base + j] * weight[j] - meanG - xhat * meanGXhat);
  }
}
`;

export const LAYER_NORM_BACKWARD_PARAMS_WGSL = /* wgsl */ `
// Bindings: 0: gradOut (read) [rows, D], 1: x (read), 2: mean (read), 3: rstd (read),
//           4: gradWeight (read_write) [D], 5: gradBias (read_write) [D], 6: params.
// One invocation per column j: gradWeight_j = Σ_rows gradOut·x̂, gradBias_j = Σ_rows gradOut.
// Consecutive invocations read consecutive addresses of each row.
struct Params { rows: u32, D: u32, eps: f32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> gradOut: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> rstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> gradWeight: array<f32>;
@group(0) @binding(5) var<storage, read_write> gradBias: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let j = elementIndex(group, groups, local);
  if (j >= params.D) { return; }
  var sumWeight = 0.0;
  var sumBias = 0.0;
  for (var row = 0u; row < params.rows; row++) {
    let g = gradOut[row * params.D + j];
    sumWeight += g * (x[row * params.D + j] - mean[row]) * rstd[row];
    sumBias += g;
  }
  gradWeight[j] = sumWeight;
  gradBias[j] = sumBias;
}
`;

export interface LayerNormResult {
  output: Tensor;
  /** [rows] per-row mean (rows = all leading dimensions), kept for the backward pass. */
  mean: Tensor;
  /** [rows] per-row 1/√(var + eps). */
  rstd: Tensor;
}

function layerNormParams(rows: number, D: number, eps: number): ArrayBuffer {
  const buffer = new ArrayBuffer(16);
  new Uint32Array(buffer, 0, 2).set([rows, D]);
  new Float32Array(buffer, 8, 1)[0] = eps;
  return buffer;
}

function rowsAndWidth(op: string, x: Tensor, weight: Tensor): { rows: number; D: number } {
  const D = x.shape.at(-1) ?? 0;
  if (x.dtype !== 'f32' || x.shape.length < 1 || D === 0) throw new Error(`${op}: x must be f32 [..., D] with D > 0, got ${x}`);
  if (weight.dtype !== 'f32' || weight.size !== D) throw new Error(`${op}: weight must be f32 [${D}], got ${weight}`);
  return { rows: x.size / D, D };
}

/** LayerNorm over the last dimension of x [..., D] with weight, bias [D]. */
export function layerNorm(engine: Engine, x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): LayerNormResult {
  const { rows, D } = rowsAndWidth('layerNorm', x, weight);
  if (bias.dtype !== 'f32' || bias.size !== D) throw new Error(`layerNorm: bias must be f32 [${D}], got ${bias}`);
  const output = engine.empty(x.shape);
  const mean = engine.empty([rows]);
  const rstd = engine.empty([rows]);
  if (rows > 0) {
    engine.dispatch(engine.pipeline(LAYER_NORM_FORWARD_WGSL, 'main', { WORKGROUP_SIZE: ROW_INVOCATIONS }), [x, weight, bias, output, mean, rstd], elementGrid(engine, rows, ROW_INVOCATIONS), {
      params: layerNormParams(rows, D, eps),
      label: 'layerNorm',
    });
  }
  return { output, mean, rstd };
}

/**
 * Gradients of layerNorm given the forward's mean and rstd: gradX, and gradWeight/gradBias unless
 * `parameters` is false (a frozen LayerNorm: one kernel fewer).
 */
export function layerNormBackward(
  engine: Engine,
  gradOut: Tensor,
  x: Tensor,
  weight: Tensor,
  mean: Tensor,
  rstd: Tensor,
  options: { parameters?: boolean } = {},
): { gradX: Tensor; gradWeight?: Tensor; gradBias?: Tensor } {
  const { rows, D } = rowsAndWidth('layerNormBackward', x, weight);
  if (gradOut.size !== x.size || mean.size !== rows || rstd.size !== rows) {
    throw new Error(`layerNormBackward: gradOut ${gradOut}, mean ${mean}, rstd ${rstd} do not match x ${x}`);
  }
  const gradX = engine.empty(x.shape);
  const params = layerNormParams(rows, D, 0);
  if (rows > 0) {
    engine.dispatch(engine.pipeline(LAYER_NORM_BACKWARD_INPUT_WGSL, 'main', { WORKGROUP_SIZE: ROW_INVOCATIONS }), [gradOut, x, weight, mean, rstd, gradX], elementGrid(engine, rows, ROW_INVOCATIONS), {
      params,
      label: 'layerNormBackward gradX',
    });
  }
  if (options.parameters === false) return { gradX };
  const gradWeight = engine.empty([D]);
  const gradBias = engine.empty([D]);
  const columnPipeline = engine.pipeline(LAYER_NORM_BACKWARD_PARAMS_WGSL);
  engine.dispatch(columnPipeline, [gradOut, x, mean, rstd, gradWeight, gradBias], elementGrid(engine, D), {
    params,
    label: 'layerNormBackward gradWeight/gradBias',
  });
  return { gradX, gradWeight, gradBias };
}

/**
 * LayerNorm as a differentiable op: inputs [x, weight, bias], args { eps }. The backward reads x
 * and weight, and the forward's per-row mean and rstd (intermediates).
 */
export const layerNormOp: DifferentiableOp<{ eps: number }> = {
  name: 'layerNorm',
  saves: { inputs: [0, 1] },
  forward: (engine, [x, weight, bias], { eps }) => {
    const { output, mean, rstd } = layerNorm(engine, x!, weight!, bias!, eps);
    return { output, intermediates: [mean, rstd] };
  },
  backward: (engine, gradOut, { inputs: [x, weight], intermediates: [mean, rstd], needsGradient }) => {
    const parameters = needsGradient[1] || needsGradient[2];
    const { gradX, gradWeight, gradBias } = layerNormBackward(engine, gradOut, x!, weight!, mean, rstd, { parameters });
    return [gradX, gradWeight, gradBias];
  },
};

// ---- CPU references -----------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | number[];

export function layerNormReference(
  x: Floats,
  weight: Floats,
  bias: Floats,
  D: number,
  eps = 1e-5,
): { output: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const rows = x.length / D;
  const output = new Float64Array(x.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < D; j++) sum += x[r * D + j];
    mean[r] = sum / D;
    let squares = 0;
    for (let j = 0; j < D; j++) squares += (x[r * D + j] - mean[r]) ** 2;
    rstd[r] = 1 / Math.sqrt(squares / D + eps);
    for (let j = 0; j < D; j++) output[r * D + j] = (x[r * D + j] - mean[r]) * rstd[r] * weight[j] + bias[j];
  }
  return { output, mean, rstd };
}

export function layerNormBackwardReference(
  gradOut: Floats,
  x: Floats,
  weight: Floats,
  D: number,
  eps = 1e-5,
): { gradX: Float64Array; gradWeight: Float64Array; gradBias: Float64Array } {
  const { mean, rstd } = layerNormReference(x, weight, new Float64Array(D), D, eps);
  const rows = x.length / D;
  const gradX = new Float64Array(x.length);
  const gradWeight = new Float64Array(D);
  const gradBias = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    let meanG = 0;
    let meanGXhat = 0;
    for (let j = 0; j < D; j++) {
      const xhat = (x[r * D + j] - mean[r]) * rstd[r];
      const g = gradOut[r * D + j] * weight[j];
      meanG += g / D;
      meanGXhat += (g * xhat) / D;
      gradWeight[j] += gradOut[r * D + j] * xhat;
      gradBias[j] += gradOut[r * D + j];
    }
    for (let j = 0; j < D; j++) {
      const xhat = (x[r * D + j] - mean[r]) * rstd[r];
      gradX[r * D + j] = rstd[r] * (gradOut[r * D + j] * weight[j] - meanG - xhat * meanGXhat);
    }
  }
  return { gradX, gradWeight, gradBias };
}
