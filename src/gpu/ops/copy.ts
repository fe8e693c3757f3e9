// Moving blocks of rows and columns between 2-D tensors, and the differentiable ops built on
// them: rows of several tensors stacked (concatRowsOp: text before the image, the image, text
// after), columns side by side (concatColumnsOp: the projection's [global ‖ local] input, spec
// §4.6), a block of rows (sliceRowsOp: the global crop's features). copyColumns also assembles
// dQKV in the attention backward and writes V columns into the KV cache.
//
// Whole rows are contiguous, so row blocks move with buffer copies (copyBufferToBuffer); column
// blocks need the copyColumnsWgsl kernel.
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/**
 * destination[row + rowOffset, dstColumn + c] = source[row, srcColumn + c] for c < width, or with
 * `scattered`, destination[rowMap[row], …] (a batch's new K/V rows into each sequence's cache).
 * Bindings: 0 source (read), 1 destination (read_write), (scattered: 2 rowMap u32 (read)), then
 * params (uniform).
 */
export function copyColumnsWgsl(scattered: boolean): string {
  return /* wgsl */ `
struct Params {
  rows: u32, width: u32, sourceStride: u32, sourceColumn: u32,
  destinationStride: u32, destinationColumn: u32, destinationRowOffset: u32,
}
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> destination: array<f32>;
${scattered ? '@group(0) @binding(2) var<storage, read> rowMap: array<u32>;\n@group(0) @binding(3) var<uniform> params: Params;' : '@group(0) @binding(2) var<uniform> params: Params;'}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let index = elementIndex(group, groups, local);
  if (index >= params.rows * params.width) { return; }
  let row = index / params.width;
  let column = index % params.width;
  let destinationRow = ${scattered ? 'rowMap[row]' : 'row + params.destinationRowOffset'};
  destination[destinationRow * params.destinationStride + params.destinationColumn + column] =
    source[row * params.sourceStride + params.sourceColumn + column];
}
`;
}

export interface ColumnBlock {
  tensor: Tensor;
  /** First column of the block. */
  column: number;
  /** First row (destination only); default 0. */
  row?: number;
  /** Destination only: the destination row of each source row (u32 [source rows]), instead of `row`. */
  rowMap?: Tensor;
}

/** Copies `width` columns of every row of source into destination (2-D f32 tensors). */
export function copyColumns(engine: Engine, source: ColumnBlock, destination: ColumnBlock, width: number): void {
  const [rows, sourceStride] = source.tensor.shape;
  const [destinationRows, destinationStride] = destination.tensor.shape;
  const rowOffset = destination.row ?? 0;
  const { rowMap } = destination;
  if (rowMap && (rowMap.dtype !== 'u32' || rowMap.size !== rows)) throw new Error(`copyColumns: rowMap must be u32 [${rows}] (one destination row per source row), got ${rowMap}`);
  if (
    source.tensor.shape.length !== 2 || destination.tensor.shape.length !== 2 ||
    source.tensor.dtype !== 'f32' || destination.tensor.dtype !== 'f32' ||
    source.column + width > sourceStride || destination.column + width > destinationStride || rowOffset + rows > destinationRows
  ) {
    throw new Error(`copyColumns: ${width} columns of ${source.tensor} from column ${source.column} do not fit ${destination.tensor} at row ${rowOffset}, column ${destination.column}`);
  }
  const bindings = rowMap ? [source.tensor, destination.tensor, rowMap] : [source.tensor, destination.tensor];
  engine.dispatch(engine.pipeline(copyColumnsWgsl(rowMap !== undefined)), bindings, elementGrid(engine, rows * width), {
    params: new Uint32Array([rows, width, sourceStride, source.column, destinationStride, destination.column, rowOffset, 0]),
    label: 'copyColumns',
  });
}

function requireMatrix(op: string, tensor: Tensor, width?: number): void {
  if (tensor.dtype !== 'f32' || tensor.shape.length !== 2 || (width !== undefined && tensor.shape[1] !== width)) {
    throw new Error(`${op}: expected an f32 [rows, ${width ?? 'columns'}] tensor, got ${tensor}`);
  }
}

/** Rows [start, start + count) of x [rows, D] in a new tensor. */
export function sliceRows(engine: Engine, x: Tensor, start: number, count: number): Tensor {
  requireMatrix('sliceRows', x);
  const [rows, width] = x.shape;
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > rows) {
    throw new Error(`sliceRows: rows [${start}, ${start + count}) are not inside ${x}`);
  }
  const out = engine.empty([count, width], 'f32', 'sliceRows');
  engine.copy(x, out, count * width * 4, start * width * 4);
  return out;
}

/** Tensors [n_i, D] stacked by rows into [Σ n_i, D]. */
export function concatRows(engine: Engine, parts: readonly Tensor[]): Tensor {
  if (parts.length === 0) throw new Error('concatRows: nothing to concatenate');
  const width = parts[0].shape[1];
  for (const part of parts) requireMatrix('concatRows', part, width);
  const out = engine.empty([parts.reduce((sum, part) => sum + part.shape[0], 0), width], 'f32', 'concatRows');
  let offset = 0;
  for (const part of parts) {
    engine.copy(part, out, part.byteLength, 0, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Tensors [rows, w_i] side by side into [rows, Σ w_i]. */
export function concatColumns(engine: Engine, parts: readonly Tensor[]): Tensor {
  if (parts.length === 0) throw new Error('concatColumns: nothing to concatenate');
  const rows = parts[0].shape[0];
  for (const part of parts) {
    requireMatrix('concatColumns', part);
    if (part.shape[0] !== rows) throw new Error(`concatColumns: every part needs ${rows} rows, got ${part}`);
  }
  const out = engine.empty([rows, parts.reduce((sum, part) => sum + part.shape[1], 0)], 'f32', 'concatColumns');
  let column = 0;
  for (const part of parts) {
    copyColumns(engine, { tensor: part, column: 0 }, { tensor: out, column }, part.shape[1]);
    column += part.shape[1];
  }
  return out;
}

/** sliceRows as a differentiable op: inputs [x], args { start, count }; the gradient is zero outside the block. */
export const sliceRowsOp: DifferentiableOp<{ start: number; count: number }> = {
  name: 'sliceRows',
  saves: {},
  forward: (engine, [x], { start, count }) => ({ output: sliceRows(engine, x!, start, count) }),
  backward: (engine, gradOut, { inputs: [x], args: { start } }) => {
    const grad = engine.zeros(x!.shape, 'f32', 'sliceRows.grad');
    engine.copy(gradOut, grad, gradOut.byteLength, 0, start * x!.shape[1] * 4);
    return [grad];
  },
};

/** concatRows as a differentiable op over its inputs (the parts, in order). */
export const concatRowsOp: DifferentiableOp = {
  name: 'concatRows',
  saves: {},
  forward: (engine, parts) => ({ output: concatRows(engine, parts as Tensor[]) }),
  backward: (engine, gradOut, { inputs, needsGradient }) => {
    let offset = 0;
    return inputs.map((part, index) => {
      const start = offset;
      offset += part!.byteLength;
      if (!needsGradient[index]) return undefined;
      const grad = engine.empty(part!.shape, 'f32', 'concatRows.grad');
      engine.copy(gradOut, grad, part!.byteLength, start);
      return grad;
    });
  },
};

/** concatColumns as a differentiable op over its inputs (the parts, left to right). */
export const concatColumnsOp: DifferentiableOp = {
  name: 'concatColumns',
  saves: {},
  forward: (engine, parts) => ({ output: concatColumns(engine, parts as Tensor[]) }),
  backward: (engine, gradOut, { inputs, needsGradient }) => {
    let column = 0;
    return inputs.map((part, index) => {
      const start = column;
      column += part!.shape[1];
      if (!needsGradient[index]) return undefined;
      const grad = engine.empty(part!.shape, 'f32', 'concatColumns.grad');
      copyColumns(engine, { tensor: gradOut, column: start }, { tensor: grad, column: 0 }, part!.shape[1]);
      return grad;
    });
  },
};
