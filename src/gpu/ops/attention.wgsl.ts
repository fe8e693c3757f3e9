// WGSL of fused multi-head attention (flash-attention style): a forward pass with an online
// softmax that saves each row's logsumexp, and a backward pass of two kernels that recompute the
// scores from it. No kernel holds a T×T matrix: memory is linear in the sequence length.
//
// Shared layout (all kernels): Q, K, V are row-major matrices whose row r, head h, dim d lives at
// `r·stride + offset + h·VEC + d`, so a fused [T, 3·dim] qkv buffer can be read in place
// (offset 0, dim, 2·dim; stride 3·dim). Everything moves as vec4<f32> (HEAD_DIM, strides and
// offsets are multiples of 4, and the uniforms count them in vec4s): 128-bit loads from storage
// and workgroup memory and a quarter of the loop trips. Query row i sits at absolute position queryOffset + i;
// key row j at position j (the KV cache). Mask modes: 0 none, 1 causal (j ≤ i), 2 prefix
// (spec §7: i < P and j < P, or j ≤ i).
//
// The head size (VEC = headDim / 4) and the block sizes are compile-time constants (attentionConstants()
// below): private arrays of VEC vec4s need a const-expression length, which an override is not.

/**
 * Queries (forward, dQ) or keys (dK/dV) per workgroup: one per invocation. 32 rather than 64:
 * measured on SwiftShader in a demo-model training step (16 sequences of 82 tokens, 4 heads of
 * 16): forward 72 → 45 ms, dQ 96 → 57 ms, dK/dV 145 → 89 ms (a CPU pays per invocation of a
 * workgroup, and 82 rows filled 64% of two 64-row workgroups); 16 was no faster. One warp on a GPU.
 */
export const ATTENTION_ROWS_PER_WORKGROUP = 32;
/** Rows staged in workgroup memory per step: 2 tiles × 16 rows × 72 dims × 4 bytes = 9 KiB. */
export const ATTENTION_TILE_ROWS = 16;

/** The uniform block and mask helpers every attention kernel shares (bound as `params`). */
export const ATTENTION_PARAMS = /* wgsl */ `
struct Params {
  queryCount: u32,
  keyCount: u32,
  queryOffset: u32,
  maskMode: u32,
  prefix: u32,
  scale: f32,
  heads: u32,
  qStride: u32, // strides and offsets in vec4s
  qOffset: u32,
  kStride: u32,
  kOffset: u32,
  vStride: u32,
  vOffset: u32,
  sequences: u32,       // independent sequences in the batch (workgroup_id.z)
  keySequenceRows: u32, // rows of K and V per sequence
}

// Sequence s holds query rows [s·queryCount, (s + 1)·queryCount) of Q, out and the gradients,
// and key rows [s·keySequenceRows, …) of K and V; logsumexp and rowDot are [heads, sequences·queryCount].
fn queryRowBase(sequence: u32) -> u32 { return sequence * params.queryCount; }
fn keyRowBase(sequence: u32) -> u32 { return sequence * params.keySequenceRows; }
fn statIndex(head: u32, queryRow: u32) -> u32 { return head * params.sequences * params.queryCount + queryRow; }

// A finite "minus infinity": WGSL does not promise IEEE infinities.
const NEG_BIG: f32 = -3.0e38;

fn allowed(queryPosition: u32, key: u32) -> bool {
  switch params.maskMode {
    case 0u: { return true; }
    case 1u: { return key <= queryPosition; }
    default: { return (queryPosition < params.prefix && key < params.prefix) || key <= queryPosition; }
  }
}

// One past the last key any query at positions [firstPosition, lastPosition] may attend to,
// of the keyCount keys of its sequence.
fn keyEnd(firstPosition: u32, lastPosition: u32, keyCount: u32) -> u32 {
  switch params.maskMode {
    case 0u: { return keyCount; }
    case 1u: { return min(keyCount, lastPosition + 1u); }
    default: {
      let prefixEnd = select(0u, params.prefix, firstPosition < params.prefix);
      return min(keyCount, max(lastPosition + 1u, prefixEnd));
    }
  }
}

// First query row that may attend to any key at or after firstKey.
fn queryStart(firstKey: u32) -> u32 {
  if (params.maskMode == 0u || (params.maskMode == 2u && firstKey < params.prefix)) { return 0u; }
  return select(0u, firstKey - params.queryOffset, firstKey > params.queryOffset);
}
`;

/**
 * Where sequence s's queries and keys start (inference against a cache): every sequence at
 * params.queryOffset with params.keyCount keys, or — with SEQUENCE_OFFSETS — sequence s at its
 * own offset offsets[s] with offsets[s] + queryCount keys (a batch of sequences decoding at
 * different lengths). The offsets buffer is bound after the outputs.
 */
export function sequenceOffsetsWgsl(perSequence: boolean, binding: number): string {
  if (!perSequence) {
    return /* wgsl */ `
fn sequenceQueryOffset(sequence: u32) -> u32 { return params.queryOffset; }
fn sequenceKeyCount(sequence: u32) -> u32 { return params.keyCount; }
`;
  }
  return /* wgsl */ `
@group(0) @binding(${binding}) var<storage, read> sequenceOffsets: array<u32>;
fn sequenceQueryOffset(sequence: u32) -> u32 { return sequenceOffsets[sequence]; }
fn sequenceKeyCount(sequence: u32) -> u32 { return sequenceOffsets[sequence] + params.queryCount; }
`;
}

export function attentionConstants(headDim: number): string {
  return /* wgsl */ `
const VEC: u32 = ${headDim / 4}u; // vec4s per head row
const ROWS: u32 = ${ATTENTION_ROWS_PER_WORKGROUP}u;
const TILE: u32 = ${ATTENTION_TILE_ROWS}u;
`;
}

/**
 * Forward. One invocation per (query row, head); key/value rows stream through workgroup memory
 * TILE at a time; running max and sum in f32 (online softmax).
 *
 * Bindings: 0 q (read), 1 k (read), 2 v (read), 3 out [Tq, heads·HEAD_DIM] (write),
 * 4 logsumexp [heads, Tq] (write), (with per-sequence offsets: 5 offsets [sequences] u32), then params
 * (uniform). Dispatch [⌈Tq/ROWS⌉, heads, sequences].
 */
export function attentionForwardWgsl(headDim: number, perSequenceOffsets = false): string {
  return /* wgsl */ `
${attentionConstants(headDim)}
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> logsumexp: array<f32>;
@group(0) @binding(${perSequenceOffsets ? 6 : 5}) var<uniform> params: Params;
${ATTENTION_PARAMS}
${sequenceOffsetsWgsl(perSequenceOffsets, 5)}
var<workgroup> keyTile: array<vec4<f32>, TILE * VEC>;
var<workgroup> valueTile: array<vec4<f32>, TILE * VEC>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
  let head = group.y;
  let queryRow0 = queryRowBase(group.z);
  let keyRow0 = keyRowBase(group.z);
  let firstQuery = group.x * ROWS;
  let query = firstQuery + lane;
  let inRange = query < params.queryCount;
  let lastQuery = min(firstQuery + ROWS, params.queryCount) - 1u;
  let queryOffset = sequenceQueryOffset(group.z);
  let end = keyEnd(queryOffset + firstQuery, queryOffset + lastQuery, sequenceKeyCount(group.z));
  let position = queryOffset + query;

  var queryRow: array<vec4<f32>, VEC>;
  var acc: array<vec4<f32>, VEC>;
  if (inRange) {
    let base = (queryRow0 + query) * params.qStride + params.qOffset + head * VEC;
    for (var d = 0u; d < VEC; d++) { queryRow[d] = q[base + d] * params.scale; }
  }
  var rowMax = NEG_BIG;
  var rowSum = 0.0;
  for (var start = 0u; start < end; start += TILE) {
    let count = min(TILE, end - start);
    workgroupBarrier();
    for (var i = lane; i < count * VEC; i += ROWS) {
      let row = start + i / VEC;
      let column = head * VEC + i % VEC;
      keyTile[i] = k[(keyRow0 + row) * params.kStride + params.kOffset + column];
      valueTile[i] = v[(keyRow0 + row) * params.vStride + params.vOffset + column];
    }
    workgroupBarrier();
    // Out-of-range rows do no work but stay in the loop: the barriers need uniform control flow.
    let rows = select(0u, count, inRange);
    var scores: array<f32, TILE>;
    var blockMax = NEG_BIG;
    for (var r = 0u; r < rows; r++) {
      var score = NEG_BIG;
      if (allowed(position, start + r)) {
        score = 0.0;
        for (var d = 0u; d < VEC; d++) { score += dot(queryRow[d], keyTile[r * VEC + d]); }
        blockMax = max(blockMax, score);
      }
      scores[r] = score;
    }
    if (blockMax > NEG_BIG) {
      let newMax = max(rowMax, blockMax);
      let correction = select(0.0, exp(rowMax - newMax), rowMax > NEG_BIG);
      rowSum *= correction;
      for (var d = 0u; d < VEC; d++) { acc[d] *= correction; }
      for (var r = 0u; r < rows; r++) {
        if (scores[r] == NEG_BIG) { continue; }
        let weight = exp(scores[r] - newMax);
        rowSum += weight;
        for (var d = 0u; d < VEC; d++) { acc[d] += weight * valueTile[r * VEC + d]; }
      }
      rowMax = newMax;
    }
  }
  if (!inRange) { return; }
  // A row that may attend to nothing (only possible with queryOffset past the cache) outputs 0.
  let inverse = select(0.0, 1.0 / rowSum, rowSum > 0.0);
  let outBase = (queryRow0 + query) * (VEC * params.heads) + head * VEC;
  for (var d = 0u; d < VEC; d++) { out[outBase + d] = acc[d] * inverse; }
  logsumexp[statIndex(head, queryRow0 + query)] = select(NEG_BIG, rowMax + log(rowSum), rowSum > 0.0);
}
`;
}

/**
 * Backward, pass 1: dQ. One invocation per (query row, head), streaming key/value tiles like the
 * forward pass; P = exp(scale·q·k − logsumexp) is recomputed, never stored. Also writes
 * rowDot = Σ_d dO·O per row (the softmax-backward term the dK/dV pass needs).
 *
 * Bindings: 0 q, 1 k, 2 v, 3 out [Tq, heads·HEAD_DIM], 4 gradOut [Tq, heads·HEAD_DIM],
 * 5 logsumexp [heads, Tq] (all read), 6 gradQ [Tq, heads·HEAD_DIM] (write),
 * 7 rowDot [heads, Tq] (write), 8 params (uniform). Dispatch [⌈Tq/ROWS⌉, heads, sequences].
 */
export function attentionGradQueryWgsl(headDim: number): string {
  return /* wgsl */ `
${attentionConstants(headDim)}
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> gradOut: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> logsumexp: array<f32>;
@group(0) @binding(6) var<storage, read_write> gradQ: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> rowDot: array<f32>;
@group(0) @binding(8) var<uniform> params: Params;
${ATTENTION_PARAMS}
var<workgroup> keyTile: array<vec4<f32>, TILE * VEC>;
var<workgroup> valueTile: array<vec4<f32>, TILE * VEC>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
  let head = group.y;
  let queryRow0 = queryRowBase(group.z);
  let keyRow0 = keyRowBase(group.z);
  let firstQuery = group.x * ROWS;
  let query = firstQuery + lane;
  let inRange = query < params.queryCount;
  let lastQuery = min(firstQuery + ROWS, params.queryCount) - 1u;
  let end = keyEnd(params.queryOffset + firstQuery, params.queryOffset + lastQuery, params.keyCount);
  let position = params.queryOffset + query;
  let denseBase = (queryRow0 + query) * (VEC * params.heads) + head * VEC;

  var queryRow: array<vec4<f32>, VEC>;
  var gradRow: array<vec4<f32>, VEC>;
  var gradQuery: array<vec4<f32>, VEC>;
  var delta = 0.0;
  var rowLogsumexp = 0.0;
  if (inRange) {
    let base = (queryRow0 + query) * params.qStride + params.qOffset + head * VEC;
    for (var d = 0u; d < VEC; d++) {
      queryRow[d] = q[base + d] * params.scale;
      gradRow[d] = gradOut[denseBase + d];
      delta += dot(gradRow[d], out[denseBase + d]);
    }
    rowLogsumexp = logsumexp[statIndex(head, queryRow0 + query)];
    rowDot[statIndex(head, queryRow0 + query)] = delta;
  }
  for (var start = 0u; start < end; start += TILE) {
    let count = min(TILE, end - start);
    workgroupBarrier();
    for (var i = lane; i < count * VEC; i += ROWS) {
      let row = start + i / VEC;
      let column = head * VEC + i % VEC;
      keyTile[i] = k[(keyRow0 + row) * params.kStride + params.kOffset + column];
      valueTile[i] = v[(keyRow0 + row) * params.vStride + params.vOffset + column];
    }
    workgroupBarrier();
    let rows = select(0u, count, inRange); // no early exit: the barriers need uniform control flow
    for (var r = 0u; r < rows; r++) {
      if (!allowed(position, start + r)) { continue; }
      var score = 0.0;
      var gradProbability = 0.0;
      for (var d = 0u; d < VEC; d++) {
        score += dot(queryRow[d], keyTile[r * VEC + d]);
        gradProbability += dot(gradRow[d], valueTile[r * VEC + d]);
      }
      let gradScore = exp(score - rowLogsumexp) * (gradProbability - delta);
      for (var d = 0u; d < VEC; d++) { gradQuery[d] += gradScore * keyTile[r * VEC + d]; }
    }
  }
  if (!inRange) { return; }
  for (var d = 0u; d < VEC; d++) { gradQ[denseBase + d] = gradQuery[d] * params.scale; }
}
`;
}

/**
 * Backward, pass 2: dK and dV. One invocation per (key row, head), streaming query rows (Q, dO,
 * logsumexp, rowDot) through workgroup memory; skips query tiles the mask hides from every key
 * of the workgroup.
 *
 * Bindings: 0 q, 1 k, 2 v, 3 gradOut [Tq, heads·HEAD_DIM], 4 logsumexp [heads, Tq],
 * 5 rowDot [heads, Tq] (all read), 6 gradK [Tk, heads·HEAD_DIM], 7 gradV [Tk, heads·HEAD_DIM]
 * (write), 8 params (uniform). Dispatch [⌈Tk/ROWS⌉, heads, sequences].
 */
export function attentionGradKeyValueWgsl(headDim: number): string {
  return /* wgsl */ `
${attentionConstants(headDim)}
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> gradOut: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> logsumexp: array<f32>;
@group(0) @binding(5) var<storage, read> rowDot: array<f32>;
@group(0) @binding(6) var<storage, read_write> gradK: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> gradV: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> params: Params;
${ATTENTION_PARAMS}
var<workgroup> queryTile: array<vec4<f32>, TILE * VEC>;
var<workgroup> gradTile: array<vec4<f32>, TILE * VEC>;
var<workgroup> logsumexpTile: array<f32, TILE>;
var<workgroup> deltaTile: array<f32, TILE>;

@compute @workgroup_size(ROWS)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(local_invocation_index) lane: u32) {
  let head = group.y;
  let queryRow0 = queryRowBase(group.z);
  let keyRow0 = keyRowBase(group.z);
  let firstKey = group.x * ROWS;
  let key = firstKey + lane;
  let inRange = key < params.keyCount;
  let width = VEC * params.heads;

  var keyRow: array<vec4<f32>, VEC>;
  var valueRow: array<vec4<f32>, VEC>;
  var gradKey: array<vec4<f32>, VEC>;
  var gradValue: array<vec4<f32>, VEC>;
  if (inRange) {
    let keyBase = (keyRow0 + key) * params.kStride + params.kOffset + head * VEC;
    let valueBase = (keyRow0 + key) * params.vStride + params.vOffset + head * VEC;
    for (var d = 0u; d < VEC; d++) {
      keyRow[d] = k[keyBase + d] * params.scale;
      valueRow[d] = v[valueBase + d];
    }
  }
  for (var start = queryStart(firstKey); start < params.queryCount; start += TILE) {
    let count = min(TILE, params.queryCount - start);
    workgroupBarrier();
    for (var i = lane; i < count * VEC; i += ROWS) {
      let row = start + i / VEC;
      let column = head * VEC + i % VEC;
      queryTile[i] = q[(queryRow0 + row) * params.qStride + params.qOffset + column];
      gradTile[i] = gradOut[(queryRow0 + row) * width + column];
    }
    if (lane < count) {
      logsumexpTile[lane] = logsumexp[statIndex(head, queryRow0 + start + lane)];
      deltaTile[lane] = rowDot[statIndex(head, queryRow0 + start + lane)];
    }
    workgroupBarrier();
    let rows = select(0u, count, inRange); // no early exit: the barriers need uniform control flow
    for (var r = 0u; r < rows; r++) {
      if (!allowed(params.queryOffset + start + r, key)) { continue; }
      var score = 0.0;
      var gradProbability = 0.0;
      for (var d = 0u; d < VEC; d++) {
        score += dot(queryTile[r * VEC + d], keyRow[d]);
        gradProbability += dot(gradTile[r * VEC + d], valueRow[d]);
      }
      let probability = exp(score - logsumexpTile[r]);
      let gradScore = probability * (gradProbability - deltaTile[r]);
      for (var d = 0u; d < VEC; d++) {
        gradValue[d] += probability * gradTile[r * VEC + d];
        gradKey[d] += gradScore * queryTile[r * VEC + d];
      }
    }
  }
  if (!inRange) { return; }
  let base = (keyRow0 + key) * width + head * VEC;
  for (var d = 0u; d < VEC; d++) {
    gradK[base + d] = gradKey[d] * params.scale;
    gradV[base + d] = gradValue[d];
  }
}
`;
}
