// One way to size a dispatch and, in WGSL, to find an invocation's place in it (as
// tfjs-backend-webgpu's computeDispatch/getGlobalIndex and llm.c's cuda_utils.cuh).
//
// A dispatch may have at most maxComputeWorkgroupsPerDimension workgroups per dimension (65535
// by default; some adapters allow more). Kernels over a flat range (one invocation per element,
// or one workgroup per row) therefore fold their workgroups into a 2-D grid of this device's
// limit, and recover the flat index in WGSL with the INDEX_WGSL prelude.
//
// Naming rule for shaders across src/gpu/ops: a WGSL string constant is `NAME_WGSL`, a function
// that generates WGSL (for compile-time sizes) is `nameWgsl(...)`.
import type { Engine } from './engine.ts';

/** Invocations per workgroup of the elementwise-style kernels. */
export const WORKGROUP_SIZE = 256;

/**
 * `workgroups` workgroups as a grid [x, y] with x ≤ the device's per-dimension limit and
 * x·y ≥ workgroups; the shader recovers the flat index with workgroupIndex() and must return
 * for indices past the end. At least one workgroup, so a dispatch is never empty.
 */
export function workgroupGrid(engine: Engine, workgroups: number): [number, number] {
  const limit = engine.device.limits.maxComputeWorkgroupsPerDimension;
  const groups = Math.max(1, Math.ceil(workgroups));
  if (groups <= limit) return [groups, 1];
  const rows = Math.ceil(groups / limit);
  return [Math.ceil(groups / rows), rows];
}

/** The grid for one invocation per element: ⌈count / workgroupSize⌉ workgroups, folded. */
export function elementGrid(engine: Engine, count: number, workgroupSize = WORKGROUP_SIZE): [number, number] {
  return workgroupGrid(engine, Math.ceil(count / workgroupSize));
}

/**
 * WGSL prelude of every kernel dispatched with workgroupGrid() or elementGrid(). The entry point
 * takes `@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u,
 * @builtin(local_invocation_index) local: u32` and uses `@workgroup_size(WORKGROUP_SIZE)` (an
 * override, so a pipeline may pick another size with the constant WORKGROUP_SIZE).
 */
export const INDEX_WGSL = /* wgsl */ `
override WORKGROUP_SIZE: u32 = ${WORKGROUP_SIZE}u;

// The flat index of this workgroup in a grid folded into 2-D.
fn workgroupIndex(group: vec3u, groups: vec3u) -> u32 {
  return group.y * groups.x + group.x;
}

// The flat index of this invocation: one per element.
fn elementIndex(group: vec3u, groups: vec3u, local: u32) -> u32 {
  return workgroupIndex(group, groups) * WORKGROUP_SIZE + local;
}
`;
