// Token embedding (spec §6.1: x_t = wte[token_t], no scaling) and its backward, the scatter-add
// of the output gradient into the rows of the table. Ids outside [0, V) give a zero row forward
// and are skipped backward.
//
// A table too big for one storage binding is held as row blocks (model/weights.ts);
// embeddingRowBlocks gathers from them with one dispatch per block: block b covers ids
// [rowStart_b, rowStart_b + rows_b) and writes only those positions, after the first block has
// also zeroed the positions whose id it does not hold. Dispatches in one pass run in order, so
// every position ends with its row or zero.
//
// The backward pass is atomic-free: one workgroup per position t; if the same id appeared at an
// earlier position, the workgroup exits; otherwise it owns that table row and sums the gradient
// of every position with the same id (t and later), then writes the row. Every row is therefore
// written by exactly one workgroup, and duplicates accumulate in a fixed order (deterministic).
// Cost O(T²) id comparisons (uniform across the workgroup) plus O(T·D) additions.
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid, workgroupGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/** Threads of a backward workgroup, striding over D (rows are short). */
const BACKWARD_WORKGROUP = 64;

/**
 * Gather. One invocation per output element (t, d) (elementGrid).
 * Bindings: 0 table [V, D] (f32 as array<f32>, or packed f16 as array<u32>), 1 ids [T] i32 (read),
 * 2 out [T, D] f32 (write), 3 params (uniform).
 */
function gatherWgsl(packedF16: boolean): string {
  const tableType = packedF16 ? 'array<u32>' : 'array<f32>';
  // Packed f16: element e is half (e & 1) of word e / 2 (little-endian, unpack2x16float's order).
  const read = packedF16 ? 'unpack2x16float(table[index / 2u])[index & 1u]' : 'table[index]';
  return /* wgsl */ `
// rowStart: the id of the table's first row (row blocks); zeroOutside: write 0 for other ids
// (1) or leave those positions untouched (0).
struct Params { positions: u32, vocab: u32, dim: u32, rowStart: u32, zeroOutside: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> table: ${tableType};
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

fn readTable(index: u32) -> f32 { return ${read}; }

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let element = elementIndex(group, groups, local);
  if (element >= params.positions * params.dim) { return; }
  let position = element / params.dim;
  let column = element % params.dim;
  let token = ids[position];
  // Negative ids stay negative after the shift (row − rowStart < 0), so they never match a row.
  let row = token - i32(params.rowStart);
  if (token >= 0 && row >= 0 && u32(row) < params.vocab) {
    out[element] = readTable(u32(row) * params.dim + column);
  } else if (params.zeroOutside != 0u) {
    out[element] = 0.0;
  }
}
`;
}

/**
 * Scatter-add backward. One workgroup per position (workgroupGrid), threads stride over D.
 * Bindings: 0 gradOut [T, D] (read), 1 ids [T] i32 (read), 2 gradTable [V, D] (read_write,
 * zero-filled first by ZERO_FILL_WGSL), 3 params (uniform).
 */
export const EMBEDDING_BACKWARD_WGSL = /* wgsl */ `
struct Params { positions: u32, vocab: u32, dim: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> gradOut: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> gradTable: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lane: u32) {
  let position = workgroupIndex(group, groups);
  if (position >= params.positions) { return; }
  let token = ids[position];
  if (token < 0 || u32(token) >= params.vocab) { return; }
  for (var earlier = 0u; earlier < position; earlier++) {
    if (ids[earlier] == token) { return; } // an earlier position owns this row
  }
  let row = u32(token) * params.dim;
  for (var column = lane; column < params.dim; column += WORKGROUP_SIZE) {
    var sum = 0.0;
    for (var other = position; other < params.positions; other++) {
      if (ids[other] == token) { sum += gradOut[other * params.dim + column]; }
    }
    gradTable[row + column] = sum;
  }
}
`;

/**
 * gradTable[i] = 0 for every element: a dispatch rather than engine.zeros(), whose clearBuffer
 * cannot be recorded while the engine's compute pass is open (the backward pass runs amid other
 * dispatches). Bindings: 0 gradTable (write), 1 params { count } (uniform).
 */
export const ZERO_FILL_WGSL = /* wgsl */ `
struct Params { count: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read_write> gradTable: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i < params.count) { gradTable[i] = 0.0; }
}
`;

/** out [T, D] = table[ids]: table [V, D] f32 or packed f16, ids [T] i32. */
export function embedding(engine: Engine, table: Tensor, ids: Tensor): Tensor {
  if ((table.dtype !== 'f32' && table.dtype !== 'f16') || table.shape.length !== 2) {
    throw new Error(`embedding: the table must be a 2-D f32 or f16 tensor [V, D], got ${table}`);
  }
  if (ids.dtype !== 'i32' || ids.shape.length !== 1) throw new Error(`embedding: ids must be a 1-D i32 tensor, got ${ids}`);
  const positions = ids.shape[0];
  const out = engine.empty([positions, table.shape[1]], 'f32', 'embedding.out');
  dispatchGather(engine, table, ids, out, 0, true);
  return out;
}

/** One row block of a table: its rows are the table's rows [rowStart, rowStart + table.shape[0]). */
export interface EmbeddingRowBlock {
  readonly table: Tensor;
  readonly rowStart: number;
}

/**
 * out [T, D] = table[ids] for a table held as row blocks in row order (blocks [rows_b, D], f32 or
 * packed f16, the first starting at row 0 and each where the previous ends). Ids outside every
 * block give zero rows, as in embedding(). Forward only: split tables are frozen weights.
 */
export function embeddingRowBlocks(engine: Engine, blocks: readonly EmbeddingRowBlock[], ids: Tensor): Tensor {
  if (blocks.length === 0) throw new Error('embeddingRowBlocks: the table has no row blocks.');
  if (ids.dtype !== 'i32' || ids.shape.length !== 1) throw new Error(`embeddingRowBlocks: ids must be a 1-D i32 tensor, got ${ids}`);
  const dim = blocks[0].table.shape[1];
  let nextRow = 0;
  for (const { table, rowStart } of blocks) {
    if ((table.dtype !== 'f32' && table.dtype !== 'f16') || table.shape.length !== 2 || table.shape[1] !== dim) {
      throw new Error(`embeddingRowBlocks: every block must be a 2-D f32 or f16 tensor [rows, ${dim}], got ${table}`);
    }
    if (rowStart !== nextRow) throw new Error(`embeddingRowBlocks: a block starts at row ${rowStart}, but the blocks before it end at row ${nextRow}; pass the blocks in row order without gaps.`);
    nextRow += table.shape[0];
  }
  const out = engine.empty([ids.shape[0], dim], 'f32', 'embedding.out');
  blocks.forEach(({ table, rowStart }, index) => dispatchGather(engine, table, ids, out, rowStart, index === 0));
  return out;
}

function dispatchGather(engine: Engine, table: Tensor, ids: Tensor, out: Tensor, rowStart: number, zeroOutside: boolean): void {
  const [vocab, dim] = table.shape;
  const positions = ids.shape[0];
  engine.dispatch(engine.pipeline(gatherWgsl(table.dtype === 'f16')), [table, ids, out], elementGrid(engine, positions * dim), {
    params: new Uint32Array([positions, vocab, dim, rowStart, zeroOutside ? 1 : 0, 0, 0, 0]),
    label: 'embedding',
  });
}

/** gradTable [V, D] f32: Σ over positions t with ids[t] = v of gradOut[t]. */
export function embeddingBackward(engine: Engine, gradOut: Tensor, ids: Tensor, vocab: number): Tensor {
  if (gradOut.dtype !== 'f32' || gradOut.shape.length !== 2) throw new Error(`embeddingBackward: gradOut must be f32 [T, D], got ${gradOut}`);
  const [positions, dim] = gradOut.shape;
  if (ids.dtype !== 'i32' || ids.shape.length !== 1 || ids.shape[0] !== positions) {
    throw new Error(`embeddingBackward: ids must be i32 [${positions}] (one per gradOut row), got ${ids}`);
  }
  const gradTable = engine.empty([vocab, dim], 'f32', 'embedding.gradTable');
  engine.dispatch(engine.pipeline(ZERO_FILL_WGSL), [gradTable], elementGrid(engine, vocab * dim), {
    params: new Uint32Array([vocab * dim, 0, 0, 0]),
    label: 'embedding.backward.zero',
  });
  engine.dispatch(engine.pipeline(EMBEDDING_BACKWARD_WGSL, 'main', { WORKGROUP_SIZE: BACKWARD_WORKGROUP }), [gradOut, ids, gradTable], workgroupGrid(engine, positions), {
    params: new Uint32Array([positions, vocab, dim, 0]),
    label: 'embedding.backward',
  });
  return gradTable;
}

/**
 * The gather as a differentiable op: inputs [table, ids], the output rows table[ids]. Also
 * gathers rows of any f32 matrix (the labelled positions of hidden states, the stitched tiles of
 * vision features). The backward reads ids and scatters into the table's shape.
 */
export const embeddingOp: DifferentiableOp = {
  name: 'embedding',
  saves: { inputs: [1] },
  forward: (engine, [table, ids]) => ({ output: embedding(engine, table!, ids!) }),
  backward: (engine, gradOut, { inputs: [table, ids] }) => [embeddingBackward(engine, gradOut, ids!, table!.shape[0]), undefined],
};

/** CPU reference: gather forward and scatter-add backward. */
export function embeddingReference(table: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const out = new Float64Array(ids.length * dim);
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] < 0 || ids[t] >= vocab) continue;
    for (let d = 0; d < dim; d++) out[t * dim + d] = table[ids[t] * dim + d];
  }
  return out;
}

export function embeddingBackwardReference(gradOut: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, dim: number): Float64Array {
  const gradTable = new Float64Array(vocab * dim);
  for (let t = 0; t < ids.length; t++) {
    if (ids[t] < 0 || ids[t] >= vocab) continue;
    for (let d = 0; d < dim; d++) gradTable[ids[t] * dim + d] += gradOut[t * dim + d];
  }
  return gradTable;
}
