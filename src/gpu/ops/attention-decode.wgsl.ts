// WGSL of the attention forward pass for a few query rows against a long KV cache (decode:
// Tq = 1, queryOffset = the new token's position). The main forward kernel gives each query row
// one invocation, so for Tq = 1 one invocation per head would walk the whole cache alone; here a
// workgroup of DECODE_THREADS invocations shares one (query row, head): each keeps an online
// softmax over a strided share of the keys, and the partial states are merged at the end
// (flash-decoding). Same Params, layouts and outputs as attentionForwardWgsl.
import { ATTENTION_PARAMS, attentionConstants, sequenceOffsetsWgsl } from './attention.wgsl.ts';

/** Invocations per (query row, head): 32 partial states × 18 vec4s (72 dims) = 9 KiB shared. */
export const DECODE_THREADS = 32;

/**
 * Bindings: 0 q (read), 1 k (read), 2 v (read), 3 out [Tq, heads·headDim] (write),
 * 4 logsumexp [heads, Tq] (write), (with per-sequence offsets: 5 offsets [sequences] u32), then
 * params (uniform). Dispatch [Tq, heads, sequences]: a batch of sequences each decoding its own
 * few rows against its own keys.
 */
export function attentionDecodeWgsl(headDim: number, perSequenceOffsets = false): string {
  return /* wgsl */ `
${attentionConstants(headDim)}
const THREADS: u32 = ${DECODE_THREADS}u;
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> logsumexp: array<f32>;
@group(0) @binding(${perSequenceOffsets ? 6 : 5}) var<uniform> params: Params;
${ATTENTION_PARAMS}
${sequenceOffsetsWgsl(perSequenceOffsets, 5)}
var<workgroup> partialMax: array<f32, THREADS>;
var<workgroup> partialSum: array<f32, THREADS>;
var<workgroup> partialAcc: array<vec4<f32>, THREADS * VEC>;

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
  let query = group.x;
  let head = group.y;
  let queryRow0 = queryRowBase(group.z);
  let keyRow0 = keyRowBase(group.z);
  let position = sequenceQueryOffset(group.z) + query;
  let end = keyEnd(position, position, sequenceKeyCount(group.z));

  var queryRow: array<vec4<f32>, VEC>;
  var acc: array<vec4<f32>, VEC>;
  let queryBase = (queryRow0 + query) * params.qStride + params.qOffset + head * VEC;
  for (var d = 0u; d < VEC; d++) { queryRow[d] = q[queryBase + d] * params.scale; }
  var rowMax = NEG_BIG;
  var rowSum = 0.0;
  for (var key = lane; key < end; key += THREADS) {
    if (!allowed(position, key)) { continue; }
    let keyBase = (keyRow0 + key) * params.kStride + params.kOffset + head * VEC;
    var score = 0.0;
    for (var d = 0u; d < VEC; d++) { score += dot(queryRow[d], k[keyBase + d]); }
    if (score > rowMax) {
      // New running max: rescale what was accumulated (0 before the first key).
      let correction = select(0.0, exp(rowMax - score), rowMax > NEG_BIG);
      rowSum *= correction;
      for (var d = 0u; d < VEC; d++) { acc[d] *= correction; }
      rowMax = score;
    }
    let weight = exp(score - rowMax);
    rowSum += weight;
    let valueBase = (keyRow0 + key) * params.vStride + params.vOffset + head * VEC;
    for (var d = 0u; d < VEC; d++) { acc[d] += weight * v[valueBase + d]; }
  }
  partialMax[lane] = rowMax;
  partialSum[lane] = rowSum;
  for (var d = 0u; d < VEC; d++) { partialAcc[lane * VEC + d] = acc[d]; }
  workgroupBarrier();

  // Merge: every invocation rescales each partial state to the global max.
  var globalMax = NEG_BIG;
  for (var t = 0u; t < THREADS; t++) { globalMax = max(globalMax, partialMax[t]); }
  var total = 0.0;
  for (var t = 0u; t < THREADS; t++) {
    total += select(0.0, partialSum[t] * exp(partialMax[t] - globalMax), partialMax[t] > NEG_BIG);
  }
  let inverse = select(0.0, 1.0 / total, total > 0.0);
  let outBase = (queryRow0 + query) * (VEC * params.heads) + head * VEC;
  for (var d = lane; d < VEC; d += THREADS) {
    var merged = vec4<f32>(0.0);
    for (var t = 0u; t < THREADS; t++) {
      if (partialMax[t] > NEG_BIG) { merged += partialAcc[t * VEC + d] * exp(partialMax[t] - globalMax); }
    }
    out[outBase + d] = merged * inverse;
  }
  if (lane == 0u) {
    logsumexp[statIndex(head, queryRow0 + query)] = select(NEG_BIG, globalMax + log(total), total > 0.0);
  }
}
`;
}
