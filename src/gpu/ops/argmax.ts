// Greedy decoding on the GPU: the index of each row's largest logit, so a decode step reads back
// one token id per sequence instead of a row of logits (spec §8.5 at temperature 0). Ties go to
// the first index (as the host argmax); NaN never wins; ids listed as suppressed (the answer id
// after the first token, spec §8.5) are skipped.
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/** Rows per workgroup: one invocation walks one row (a vocabulary is a short loop). */
const ROWS_PER_WORKGROUP = 64;

/**
 * Bindings: 0 logits [rows, V] (read), 1 suppressed [S] i32 (read; ids to skip), 2 ids [rows] i32
 * (write), 3 params (uniform). One invocation per row.
 */
export const ARGMAX_WGSL = /* wgsl */ `
struct Params { rows: u32, vocab: u32, suppressedCount: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> suppressed: array<i32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(3) var<uniform> params: Params;

fn isSuppressed(id: u32) -> bool {
  for (var i = 0u; i < params.suppressedCount; i++) {
    if (suppressed[i] == i32(id)) { return true; }
  }
  return false;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let row = elementIndex(group, groups, local);
  if (row >= params.rows) { return; }
  let base = row * params.vocab;
  var best = -1;
  var bestValue = 0.0;
  for (var column = 0u; column < params.vocab; column++) {
    let value = logits[base + column];
    // value == value is false for NaN; a strict > keeps the first index on ties.
    if (value == value && (best < 0 || value > bestValue) && !isSuppressed(column)) {
      best = i32(column);
      bestValue = value;
    }
  }
  ids[row] = best;
}
`;

/**
 * The argmax of every row of logits [rows, V] as i32 [rows], skipping `suppressed` ids (an i32
 * tensor; empty by default). A row of only NaN or suppressed values gives −1.
 */
export function argmaxRows(engine: Engine, logits: Tensor, suppressed?: Tensor): Tensor {
  if (logits.dtype !== 'f32' || logits.shape.length !== 2) throw new Error(`argmaxRows: logits must be f32 [rows, V], got ${logits}`);
  if (suppressed && (suppressed.dtype !== 'i32' || suppressed.shape.length !== 1)) throw new Error(`argmaxRows: suppressed ids must be a 1-D i32 tensor, got ${suppressed}`);
  const [rows, vocab] = logits.shape;
  const ids = engine.empty([rows], 'i32', 'argmax.ids');
  const none = suppressed ?? engine.zeros([1], 'i32', 'argmax.none');
  engine.dispatch(engine.pipeline(ARGMAX_WGSL, 'main', { WORKGROUP_SIZE: ROWS_PER_WORKGROUP }), [logits, none, ids], elementGrid(engine, rows, ROWS_PER_WORKGROUP), {
    params: new Uint32Array([rows, vocab, suppressed?.size ?? 0, 0]),
    label: 'argmax',
  });
  if (!suppressed) none.dispose();
  return ids;
}

/** CPU reference: the first index of each row's largest non-NaN, non-suppressed value (−1 if none). */
export function argmaxRowsReference(logits: ArrayLike<number>, vocab: number, suppressed: readonly number[] = []): Int32Array {
  const rows = logits.length / vocab;
  return Int32Array.from({ length: rows }, (_, row) => {
    let best = -1;
    for (let column = 0; column < vocab; column++) {
      const value = logits[row * vocab + column];
      if (Number.isNaN(value) || suppressed.includes(column)) continue;
      if (best < 0 || value > logits[row * vocab + best]) best = column;
    }
    return best;
  });
}
