// Copying a block of columns between 2-D tensors: assembles dQKV from dQ, dK and dV in the
// attention backward and writes the V columns of a fused qkv into the KV cache.
import { INDEX_WGSL, elementGrid } from './dispatch.ts';
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';

/**
 * destination[row + rowOffset, dstColumn + c] = source[row, srcColumn + c] for c < width.
 * Bindings: 0 source (read), 1 destination (read_write), 2 params (uniform).
 */
export const COPY_COLUMNS_WGSL = /* wgsl */ `
struct Params {
  rows: u32, width: u32, sourceStride: u32, sourceColumn: u32,
  destinationStride: u32, destinationColumn: u32, destinationRowOffset: u32,
}
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> destination: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let index = elementIndex(group, groups, local);
  if (index >= params.rows * params.width) { return; }
  let row = index / params.width;
  let column = index % params.width;
  destination[(row + params.destinationRowOffset) * params.destinationStride + params.destinationColumn + column] =
    source[row * params.sourceStride + params.sourceColumn + column];
}
`;

export interface ColumnBlock {
  tensor: Tensor;
  /** First column of the block. */
  column: number;
  /** First row (destination only); default 0. */
  row?: number;
}

/** Copies `width` columns of every row of source into destination (2-D f32 tensors). */
export function copyColumns(engine: Engine, source: ColumnBlock, destination: ColumnBlock, width: number): void {
  const [rows, sourceStride] = source.tensor.shape;
  const [destinationRows, destinationStride] = destination.tensor.shape;
  const rowOffset = destination.row ?? 0;
  if (
    source.tensor.shape.length !== 2 || destination.tensor.shape.length !== 2 ||
    source.tensor.dtype !== 'f32' || destination.tensor.dtype !== 'f32' ||
    source.column + width > sourceStride || destination.column + width > destinationStride || rowOffset + rows > destinationRows
  ) {
    throw new Error(`copyColumns: ${width} columns of ${source.tensor} from column ${source.column} do not fit ${destination.tensor} at row ${rowOffset}, column ${destination.column}`);
  }
  engine.dispatch(engine.pipeline(COPY_COLUMNS_WGSL), [source.tensor, destination.tensor], elementGrid(engine, rows * width), {
    params: new Uint32Array([rows, width, sourceStride, source.column, destinationStride, destination.column, rowOffset, 0]),
    label: 'copyColumns',
  });
}
