// GELU, tanh form (spec: the text MLP's activation): gelu(x) = 0.5·x·(1 + tanh(u)),
// u = √(2/π)·(x + 0.044715·x³).
// Backward: d gelu/dx = 0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²).
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/**
 * gelu(v) and its helpers as WGSL functions, shared by the elementwise kernels below and the
 * matmul epilogue that applies GELU to a product as it is stored (matmul.wgsl.ts).
 */
export const GELU_FUNCTIONS_WGSL = /* wgsl */ `
const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_COEFFICIENT = 0.044715;

// tanh(u) = 1 − 2/(e^{2u} + 1), with u clamped: |u| > 15 already gives ±1 in f32, and the clamp
// keeps exp() finite (WGSL's tanh may overflow to NaN on some drivers for large |u|).
fn stableTanh(u: f32) -> f32 {
  let clamped = clamp(u, -15.0, 15.0);
  return 1.0 - 2.0 / (exp(2.0 * clamped) + 1.0);
}

fn geluTanh(v: f32) -> f32 {
  return 0.5 * v * (1.0 + stableTanh(SQRT_2_OVER_PI * (v + GELU_COEFFICIENT * v * v * v)));
}
`;

const GELU_COMMON = /* wgsl */ `
struct Params { count: u32 }
${INDEX_WGSL}
${GELU_FUNCTIONS_WGSL}
`;

export const GELU_FORWARD_WGSL = /* wgsl */ `
// Bindings: 0: x (read), 1: y (read_write), 2: params. y = gelu(x).
${GELU_COMMON}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i >= params.count) { return; }
  y[i] = geluTanh(x[i]);
}
`;

export const GELU_BACKWARD_WGSL = /* wgsl */ `
// Bindings: 0: gradOut (read), 1: x (read), 2: gradX (read_write), 3: params.
${GELU_COMMON}
@group(0) @binding(0) var<storage, read> gradOut: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> gradX: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i >= params.count) { return; }
  let v = x[i];
  let t = stableTanh(SQRT_2_OVER_PI * (v + GELU_COEFFICIENT * v * v * v));
  let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_COEFFICIENT * v * v);
  gradX[i] = gradOut[i] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
}
`;

function countParams(count: number): Uint32Array {
  return new Uint32Array([count, 0, 0, 0]);
}

/** y = gelu(x) (tanh form), any shape. */
export function gelu(engine: Engine, x: Tensor): Tensor {
  if (x.dtype !== 'f32') throw new Error(`gelu: expected an f32 tensor, got ${x}`);
  const y = engine.empty(x.shape);
  if (x.size === 0) return y;
  const pipeline = engine.pipeline(GELU_FORWARD_WGSL);
  engine.dispatch(pipeline, [x, y], elementGrid(engine, x.size), { params: countParams(x.size), label: 'gelu' });
  return y;
}

/** gradX = gradOut · gelu'(x). */
export function geluBackward(engine: Engine, gradOut: Tensor, x: Tensor): Tensor {
  if (gradOut.dtype !== 'f32' || x.dtype !== 'f32' || gradOut.size !== x.size) {
    throw new Error(`geluBackward: gradOut ${gradOut} and x ${x} must be f32 of the same size`);
  }
  const gradX = engine.empty(x.shape);
  if (x.size === 0) return gradX;
  const pipeline = engine.pipeline(GELU_BACKWARD_WGSL);
  engine.dispatch(pipeline, [gradOut, x, gradX], elementGrid(engine, x.size), { params: countParams(x.size), label: 'geluBackward' });
  return gradX;
}

/** gelu as a differentiable op; the backward reads x. */
export const geluOp: DifferentiableOp = {
  name: 'gelu',
  saves: { inputs: [0] },
  forward: (engine, [x]) => ({ output: gelu(engine, x!) }),
  backward: (engine, gradOut, { inputs: [x] }) => [geluBackward(engine, gradOut, x!)],
};

// ---- CPU references ---------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | number[];
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function geluReference(x: Floats): Float64Array {
  return Float64Array.from(x, (v) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3))));
}

export function geluBackwardReference(gradOut: Floats, x: Floats): Float64Array {
  return Float64Array.from(x, (v, i) => {
    const t = Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3));
    const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
    return gradOut[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  });
}
