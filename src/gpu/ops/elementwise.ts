// Elementwise ops: add (with a broadcast operand), in-place accumulate (gradient sums), copy; and
// sumToRow, the backward of broadcasting. add is also a differentiable op (addOp).
//
// Broadcasting: b has a's shape, or b's values repeat over a's rows — b [..., D] with a's last
// dimension D and a whole number of copies in a (a bias row [D], or pos_emb [tokens, D] added to
// every crop of [crops·tokens, D]). The shader reads b at i mod |b|.
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

// Each shader below is its own module because the engine binds tensors from binding 0 up.
// A broadcast operand b is indexed modulo its length.
export const ADD_WGSL = /* wgsl */ `
// Bindings: 0: a (read), 1: b (read), 2: out (read_write), 3: params
struct Params { count: u32, bLength: u32, alpha: f32, rows: u32 }
${INDEX_WGSL}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i >= params.count) { return; }
  out[i] = a[i] + b[i % params.bLength];
}
`;

const ACCUMULATE_WGSL = /* wgsl */ `
// Bindings: 0: x (read), 1: total (read_write), 2: params. total += alpha·x.
struct Params { count: u32, bLength: u32, alpha: f32, rows: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> total: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i >= params.count) { return; }
  total[i] += params.alpha * x[i];
}
`;



const SUM_TO_ROW_WGSL = /* wgsl */ `
// Bindings: 0: x (read) [rows, count], 1: out (read_write) [count], 2: params.
// out[j] = alpha·Σ_r x[r, j]. One invocation per column: consecutive invocations read
// consecutive addresses of each row.
struct Params { count: u32, bLength: u32, alpha: f32, rows: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let column = elementIndex(group, groups, local);
  if (column >= params.count) { return; }
  var sum = 0.0;
  for (var row = 0u; row < params.rows; row++) { sum += x[row * params.count + column]; }
  out[column] = params.alpha * sum;
}
`;

function params(count: number, bLength: number, alpha: number, rows = 0): ArrayBuffer {
  const buffer = new ArrayBuffer(16);
  new Uint32Array(buffer, 0, 2).set([count, bLength]);
  new Float32Array(buffer, 8, 1)[0] = alpha;
  new Uint32Array(buffer, 12, 1)[0] = rows;
  return buffer;
}

function requireF32(op: string, ...tensors: Tensor[]): void {
  for (const tensor of tensors) if (tensor.dtype !== 'f32') throw new Error(`${op}: expected an f32 tensor, got ${tensor}`);
}

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((dim, i) => dim === b.shape[i]);
}

/** b has a's shape, or is rows of a's last dimension repeated a whole number of times over a. */
function checkBroadcast(op: string, a: Tensor, b: Tensor): void {
  const lastDim = a.shape.at(-1) ?? 1;
  if (!sameShape(a, b) && !(b.shape.at(-1) === lastDim && b.size > 0 && a.size % b.size === 0)) {
    throw new Error(`${op}: ${b} must have the shape of ${a} or be a row of length ${lastDim} (or rows of it) repeated over ${a}`);
  }
}

/** a + b, where b has a's shape or is broadcast over a's rows (see the top of this file). */
export function add(engine: Engine, a: Tensor, b: Tensor): Tensor {
  requireF32('add', a, b);
  checkBroadcast('add', a, b);
  const out = engine.empty(a.shape);
  if (a.size === 0) return out;
  engine.dispatch(engine.pipeline(ADD_WGSL), [a, b, out], elementGrid(engine, a.size), { params: params(a.size, b.size, 1), label: 'add' });
  return out;
}





/** target += alpha·x in place (gradient accumulation); returns target. */
export function accumulate(engine: Engine, target: Tensor, x: Tensor, alpha = 1): Tensor {
  requireF32('accumulate', target, x);
  if (!sameShape(target, x)) throw new Error(`accumulate: ${x} does not match ${target}`);
  if (x.size === 0) return target;
  const pipeline = engine.pipeline(ACCUMULATE_WGSL, 'main');
  engine.dispatch(pipeline, [x, target], elementGrid(engine, x.size), { params: params(x.size, 1, alpha), label: 'accumulate' });
  return target;
}

/** A copy of x (any dtype) in a new tensor. */
export function copy(engine: Engine, x: Tensor): Tensor {
  const out = engine.empty(x.shape, x.dtype);
  if (x.byteLength > 0) engine.copy(x, out, Math.ceil(x.byteLength / 4) * 4);
  return out;
}

/**
 * alpha·Σ over all leading dimensions: [..., n] → [n] (the backward of a broadcast row), or with
 * `shape`, Σ over the copies of a block of that shape: x seen as [x.size / |shape|, |shape|].
 */
export function sumToRow(engine: Engine, x: Tensor, alpha = 1, shape: readonly number[] = [x.shape.at(-1) ?? 1]): Tensor {
  requireF32('sumToRow', x);
  const columns = shape.reduce((product, dim) => product * dim, 1);
  if (columns > 0 && x.size % columns !== 0) throw new Error(`sumToRow: ${x} is not a whole number of [${shape.join(', ')}] blocks`);
  const rows = columns === 0 ? 0 : x.size / columns;
  const out = engine.empty(shape);
  if (columns === 0) return out;
  const pipeline = engine.pipeline(SUM_TO_ROW_WGSL, 'main');
  engine.dispatch(pipeline, [x, out], elementGrid(engine, columns), { params: params(columns, 1, alpha, rows), label: 'sumToRow' });
  return out;
}

// ---- backward ---------------------------------------------------------------------------------

/** gradOut for b of add(a, b): itself when b has a's shape, else summed over b's copies. */
function gradToShapeOf(engine: Engine, gradOut: Tensor, b: Tensor): Tensor {
  return sameShape(gradOut, b) ? copy(engine, gradOut) : sumToRow(engine, gradOut, 1, b.shape);
}

/** y = a + b as a differentiable op (b as in add()). The backward reads nothing but gradOut. */
export const addOp: DifferentiableOp = {
  name: 'add',
  saves: {},
  forward: (engine, [a, b]) => ({ output: add(engine, a!, b!) }),
  backward: (engine, gradOut, { inputs: [, b], needsGradient: [gradA, gradB] }) => [
    gradA ? copy(engine, gradOut) : undefined,
    gradB ? gradToShapeOf(engine, gradOut, b!) : undefined,
  ],
};

// ---- CPU references -----------------------------------------------------------------------------

type Floats = Float64Array | Float32Array | number[];

/** a + b, b indexed modulo its length (broadcast). */
export function addReference(a: Floats, b: Floats): Float64Array {
  return Float64Array.from(a, (value, i) => value + b[i % b.length]);
}

/** Σ over rows of a row-major [rows, columns] matrix. */
export function sumToRowReference(x: Floats, columns: number): Float64Array {
  const out = new Float64Array(columns);
  for (let i = 0; i < x.length; i++) out[i % columns] += x[i];
  return out;
}
