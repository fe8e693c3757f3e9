// Gradient-norm clipping over a list of gradient tensors, as torch.nn.utils.clip_grad_norm_:
// total = ‖(g_1, …, g_n)‖₂, every gradient scaled by min(1, maxNorm / (total + 1e-6)). The norm
// and the scale stay on the GPU (no host round trip), so a training step can be recorded once
// and replayed. A training step computes only the scale (gradientNormScale) and lets AdamW apply
// it as it reads each gradient (adamw.ts); scaleInPlace scales a tensor by it where one is needed.
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import { reduceAll } from './reduce.ts';

/**
 * norm[0] = √sumOfSquares[0]; scale[0] = min(1, maxNorm / (norm + 1e-6)).
 * Bindings: 0 sumOfSquares [1] (read), 1 norm [1] (write), 2 scale [1] (write), 3 params (uniform).
 */
export const CLIP_SCALE_WGSL = /* wgsl */ `
struct Params { maxNorm: f32 }
@group(0) @binding(0) var<storage, read> sumOfSquares: array<f32>;
@group(0) @binding(1) var<storage, read_write> norm: array<f32>;
@group(0) @binding(2) var<storage, read_write> scale: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(1)
fn main() {
  let total = sqrt(sumOfSquares[0]);
  norm[0] = total;
  scale[0] = min(1.0, params.maxNorm / (total + 1e-6));
}
`;

/**
 * x[i] *= scale[0], in place; one invocation per element (elementGrid).
 * Bindings: 0 x (read_write), 1 scale [1] (read), 2 params { count } (uniform).
 */
export const SCALE_IN_PLACE_WGSL = /* wgsl */ `
struct Params { count: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> scale: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i < params.count) { x[i] *= scale[0]; }
}
`;

/**
 * The global L2 norm of the gradients and clipping's scale min(1, maxNorm / (norm + 1e-6)), as
 * [1] tensors (dispose them, or read the norm for metrics); the gradients are not touched.
 */
export function gradientNormScale(engine: Engine, grads: readonly Tensor[], maxNorm: number): { norm: Tensor; scale: Tensor } {
  if (!(maxNorm > 0)) throw new Error(`Gradient clipping: maxNorm must be positive, got ${maxNorm}`);
  for (const grad of grads) if (grad.dtype !== 'f32') throw new Error(`Gradient clipping: gradients must be f32, got ${grad}`);
  const total = reduceAll(engine, grads, true);
  const norm = engine.empty([1], 'f32', 'clip.norm');
  const scale = engine.empty([1], 'f32', 'clip.scale');
  engine.dispatch(engine.pipeline(CLIP_SCALE_WGSL), [total, norm, scale], [1], {
    params: new Float32Array([maxNorm]),
    label: 'clip.scale',
  });
  total.dispose();
  return { norm, scale };
}

/** x *= scale[0] in place, scale a [1] f32 tensor on the GPU. */
export function scaleInPlace(engine: Engine, x: Tensor, scale: Tensor): void {
  engine.dispatch(engine.pipeline(SCALE_IN_PLACE_WGSL), [x, scale], elementGrid(engine, x.size), {
    params: new Uint32Array([x.size, 0, 0, 0]),
    label: 'clip.apply',
  });
}

/** CPU reference: the clipped gradients and the norm before clipping (float64). */
export function clipGradNormReference(grads: readonly ArrayLike<number>[], maxNorm: number): { norm: number; clipped: Float64Array[] } {
  let squares = 0;
  for (const grad of grads) for (let i = 0; i < grad.length; i++) squares += grad[i] * grad[i];
  const norm = Math.sqrt(squares);
  const scale = Math.min(1, maxNorm / (norm + 1e-6));
  return { norm, clipped: grads.map((grad) => Float64Array.from(grad, (value) => value * scale)) };
}
