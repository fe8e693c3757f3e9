// Full reductions of f32 tensors to one number on the GPU (sum, sum of squares): for gradient
// clipping (clip.ts) and for metrics, without a host round trip until someone reads the result.
//
// Two stages: up to REDUCE_PARTIALS workgroups each sum a strided share of the input into one
// partial (f32), then one workgroup sums the partials. Several tensors can write partials into
// one buffer at different offsets (reducePartials), so a single final pass covers a whole list.
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

const WORKGROUP = 256;
/** At most this many partials per tensor (workgroups of stage 1). */
export const REDUCE_PARTIALS = 256;
/**
 * Elements each stage-1 invocation sums before the workgroup tree, at least. Small tensors get
 * one workgroup instead of REDUCE_PARTIALS mostly idle ones: on CPU-emulated GPUs each
 * workgroup barrier is costly, and a LoRA step reduces dozens of small gradients.
 */
const ELEMENTS_PER_INVOCATION = 16;

/** Stage-1 workgroups (and so partials) used for a tensor of `count` elements. */
export function partialCount(count: number): number {
  return Math.min(REDUCE_PARTIALS, Math.max(1, Math.ceil(count / (WORKGROUP * ELEMENTS_PER_INVOCATION))));
}

/**
 * Stage 1. Workgroup w sums elements w·WORKGROUP + lane + k·(groups·WORKGROUP) (squared when
 * SQUARE) into partials[offset + w]. Bindings: 0 x (read), 1 partials (read_write),
 * 2 params { count, offset } (uniform). Dispatch [groups ≤ REDUCE_PARTIALS].
 */
export const REDUCE_PARTIALS_WGSL = /* wgsl */ `
struct Params { count: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

override SQUARE: bool = false;
const WORKGROUP: u32 = ${WORKGROUP}u;
var<workgroup> lanes: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_index) lane: u32) {
  var sum = 0.0;
  for (var i = group.x * WORKGROUP + lane; i < params.count; i += groups.x * WORKGROUP) {
    let value = x[i];
    sum += select(value, value * value, SQUARE);
  }
  lanes[lane] = sum;
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) { lanes[lane] += lanes[lane + stride]; }
  }
  if (lane == 0u) { partials[params.offset + group.x] = lanes[0]; }
}
`;

/**
 * Stage 2. One workgroup: out[0] = Σ partials[0..count).
 * Bindings: 0 partials (read), 1 out [1] (write), 2 params { count } (uniform).
 */
export const REDUCE_FINAL_WGSL = /* wgsl */ `
struct Params { count: u32 }
@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

const WORKGROUP: u32 = ${WORKGROUP}u;
var<workgroup> lanes: array<f32, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(local_invocation_index) lane: u32) {
  var sum = 0.0;
  for (var i = lane; i < params.count; i += WORKGROUP) { sum += partials[i]; }
  lanes[lane] = sum;
  for (var stride = WORKGROUP / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lane < stride) { lanes[lane] += lanes[lane + stride]; }
  }
  if (lane == 0u) { out[0] = lanes[0]; }
}
`;

/**
 * Writes the stage-1 partial sums (of squares, when `square`) of x into
 * partials[offset .. offset + partialCount(x.size)) and returns that count.
 */
export function reducePartials(engine: Engine, x: Tensor, partials: Tensor, offset: number, square: boolean): number {
  if (x.dtype !== 'f32') throw new Error(`reduce: expected an f32 tensor, got ${x}`);
  const groups = partialCount(x.size);
  if (partials.dtype !== 'f32' || offset + groups > partials.size) {
    throw new Error(`reduce: partials ${partials} has no room for ${groups} values at offset ${offset}`);
  }
  engine.dispatch(engine.pipeline(REDUCE_PARTIALS_WGSL, 'main', { SQUARE: square ? 1 : 0 }), [x, partials], [groups], {
    params: new Uint32Array([x.size, offset]),
    label: square ? 'sumOfSquares.partials' : 'sum.partials',
  });
  return groups;
}

/** out [1] = Σ partials[0..count). */
export function reduceFinal(engine: Engine, partials: Tensor, count: number = partials.size): Tensor {
  const out = engine.empty([1], 'f32', 'reduce.out');
  engine.dispatch(engine.pipeline(REDUCE_FINAL_WGSL), [partials, out], [1], { params: new Uint32Array([count]), label: 'reduce.final' });
  return out;
}

/** Σ x, as a [1] tensor. */
export function sum(engine: Engine, x: Tensor): Tensor {
  return reduceAll(engine, [x], false);
}

/** Σ x², as a [1] tensor. */
export function sumOfSquares(engine: Engine, x: Tensor): Tensor {
  return reduceAll(engine, [x], true);
}

/** Σ over every element of every tensor (squared when `square`), as a [1] tensor. */
export function reduceAll(engine: Engine, tensors: readonly Tensor[], square: boolean): Tensor {
  const total = tensors.reduce((count, tensor) => count + partialCount(tensor.size), 0);
  const partials = engine.empty([Math.max(1, total)], 'f32', 'reduce.partials');
  let offset = 0;
  for (const tensor of tensors) offset += reducePartials(engine, tensor, partials, offset, square);
  const out = reduceFinal(engine, partials, offset);
  partials.dispose();
  return out;
}

/** CPU reference in float64. */
export function reduceReference(values: ArrayLike<number>, square: boolean): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += square ? values[i] * values[i] : values[i];
  return total;
}
