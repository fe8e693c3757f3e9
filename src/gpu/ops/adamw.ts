// AdamW (decoupled weight decay) over a list of f32 parameter tensors, updated in place, with
// the operation order of torch.optim.AdamW (torch 1.13 `_single_tensor_adamw`):
//   p ← p·(1 − lr·wd)                               (decay first, on the old parameter)
//   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
// Moments are f32. The step count and the learning rate reach the shader as uniforms (the bias
// corrections are computed on the host in float64, like torch's Python scalars), so one
// pipeline serves every step and every schedule. Gradient clipping's scale (clip.ts
// gradientNormScale, a [1] tensor on the GPU) is applied here as g is read, so clipping costs no
// pass of its own over the gradients: g ← scale·g, exactly as clip_grad_norm_ would have stored it.
import { constantTensor } from '../constants.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/**
 * The hyperparameters of a step; every field is required, so the values come from one place (the
 * caller's configuration: moontune's TrainingConfig) and never from a default here.
 */
export interface AdamWConfig {
  learningRate: number;
  beta1: number;
  beta2: number;
  eps: number;
  /**
   * Decoupled weight decay: one rate for every parameter, or one per parameter in their order
   * (torch's parameter groups; e.g. 0 for biases and LayerNorm vectors).
   */
  weightDecay: number | readonly number[];
}

/** Optimizer state: the step count (steps taken so far) and first/second moments per parameter. */
export interface AdamWState {
  step: number;
  firstMoments: Tensor[];
  secondMoments: Tensor[];
}

/**
 * One invocation per element (elementGrid).
 * Bindings: 0 param (read_write), 1 grad (read), 2 firstMoment (read_write),
 * 3 secondMoment (read_write), 4 gradientScale [1] (read), 5 params (uniform).
 */
export const ADAMW_WGSL = /* wgsl */ `
struct Params {
  count: u32,
  pad: u32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,        // 1 − β1 and 1 − β2 computed in float64, as torch's Python scalars:
  oneMinusBeta2: f32,        // in f32, 1 − f32(0.999) is off by 1e-5 relative
  eps: f32,
  decayFactor: f32,          // 1 − lr·wd
  stepSize: f32,             // lr / (1 − β1^t)
  secondCorrectionSqrt: f32, // √(1 − β2^t)
}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> firstMoment: array<f32>;
@group(0) @binding(3) var<storage, read_write> secondMoment: array<f32>;
@group(0) @binding(4) var<storage, read> gradientScale: array<f32>;
@group(0) @binding(5) var<uniform> params: Params;
${INDEX_WGSL}
@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i >= params.count) { return; }
  let g = grad[i] * gradientScale[0];
  let m = params.beta1 * firstMoment[i] + params.oneMinusBeta1 * g;
  let v = params.beta2 * secondMoment[i] + params.oneMinusBeta2 * g * g;
  firstMoment[i] = m;
  secondMoment[i] = v;
  let denominator = sqrt(v) / params.secondCorrectionSqrt + params.eps;
  param[i] = param[i] * params.decayFactor - params.stepSize * m / denominator;
}
`;

/** Zero moments for each parameter, step 0. */
export function createAdamWState(engine: Engine, parameters: readonly Tensor[]): AdamWState {
  for (const parameter of parameters) {
    if (parameter.dtype !== 'f32') throw new Error(`AdamW trains f32 parameters only, got ${parameter}`);
  }
  // engine.zeros() records a clearBuffer, which is invalid while a compute pass is open.
  engine.flush();
  return {
    step: 0,
    firstMoments: parameters.map((parameter) => engine.keep(engine.zeros(parameter.shape, 'f32', `adamw.m ${parameter.label}`))),
    secondMoments: parameters.map((parameter) => engine.keep(engine.zeros(parameter.shape, 'f32', `adamw.v ${parameter.label}`))),
  };
}

/**
 * One optimizer step (state.step increases by 1); parameters and moments are updated in place.
 * gradientScale [1] (gradient clipping's, from clip.ts gradientNormScale) multiplies every
 * gradient as it is read; the gradients themselves are left as they are.
 */
export function adamwStep(
  engine: Engine,
  parameters: readonly Tensor[],
  grads: readonly Tensor[],
  state: AdamWState,
  config: AdamWConfig,
  gradientScale?: Tensor,
): void {
  if (gradientScale && (gradientScale.dtype !== 'f32' || gradientScale.size !== 1)) throw new Error(`adamwStep: the gradient scale must be f32 [1], got ${gradientScale}`);
  // An unclipped step reads a scale of 1.
  const scale = gradientScale ?? constantTensor(engine, 'adamw unit gradient scale', [1]);
  if (parameters.length !== grads.length || parameters.length !== state.firstMoments.length) {
    throw new Error(`adamwStep: ${parameters.length} parameters, ${grads.length} gradients and ${state.firstMoments.length} moment pairs must match`);
  }
  const { learningRate, beta1, beta2, eps, weightDecay } = config;
  if (typeof weightDecay !== 'number' && weightDecay.length !== parameters.length) {
    throw new Error(`adamwStep: ${weightDecay.length} weight decay rates for ${parameters.length} parameters`);
  }
  state.step++;
  const t = state.step;
  const params = new ArrayBuffer(48);
  const floats = new Float32Array(params);
  floats.set([beta1, beta2, 1 - beta1, 1 - beta2, eps, 0, learningRate / (1 - beta1 ** t), Math.sqrt(1 - beta2 ** t)], 2);
  const pipeline = engine.pipeline(ADAMW_WGSL);
  parameters.forEach((parameter, index) => {
    const grad = grads[index];
    if (grad.dtype !== 'f32' || grad.size !== parameter.size || state.firstMoments[index].size !== parameter.size) {
      throw new Error(`adamwStep: gradient ${grad} does not match parameter ${parameter}`);
    }
    new Uint32Array(params, 0, 1)[0] = parameter.size;
    floats[7] = 1 - learningRate * (typeof weightDecay === 'number' ? weightDecay : weightDecay[index]);
    engine.dispatch(pipeline, [parameter, grad, state.firstMoments[index], state.secondMoments[index], scale], elementGrid(engine, parameter.size), {
      params,
      label: 'adamw',
    });
  });
}

/** CPU reference of one step for one tensor (float64), mutating p, m, v; t is the new step count. */
export function adamwReference(
  p: Float64Array,
  g: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  t: number,
  config: AdamWConfig & { weightDecay: number },
): void {
  const { learningRate, beta1, beta2, eps, weightDecay } = config;
  const stepSize = learningRate / (1 - beta1 ** t);
  const secondCorrectionSqrt = Math.sqrt(1 - beta2 ** t);
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - learningRate * weightDecay;
    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / secondCorrectionSqrt + eps);
  }
}
