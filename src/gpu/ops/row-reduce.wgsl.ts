// Row kernels (LayerNorm, softmax) use one workgroup per row and reduce across it with these
// tree reductions. Each must be called from uniform control flow by every invocation.

/** Invocations per row: one workgroup reduces one row. */
export const ROW_WORKGROUP_SIZE = 256;

export const WORKGROUP_REDUCE_WGSL = /* wgsl */ `
var<workgroup> partials: array<f32, ${ROW_WORKGROUP_SIZE}>;

fn workgroupSum(value: f32, local: u32) -> f32 {
  partials[local] = value;
  workgroupBarrier();
  for (var stride = ${ROW_WORKGROUP_SIZE / 2}u; stride > 0u; stride >>= 1u) {
    if (local < stride) { partials[local] += partials[local + stride]; }
    workgroupBarrier();
  }
  let total = partials[0];
  workgroupBarrier();
  return total;
}

fn workgroupMax(value: f32, local: u32) -> f32 {
  partials[local] = value;
  workgroupBarrier();
  for (var stride = ${ROW_WORKGROUP_SIZE / 2}u; stride > 0u; stride >>= 1u) {
    if (local < stride) { partials[local] = max(partials[local], partials[local + stride]); }
    workgroupBarrier();
  }
  let result = partials[0];
  workgroupBarrier();
  return result;
}
`;
