// Copying a block of columns between 2-D tensors: assembles dQKV from dQ, dK and dV in the
// attention backward and writes the V columns of a fused qkv into the KV cache.
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';

const WORKGROUP = 256;

/**
 * destination[row + rowOffset, dstColumn + c] = source[row, srcColumn + c] for c < width.
 * Bindings: 0 source (read), 1 destination (read_write), 2 params (uniform).
 */
export const COPY_COLUMNS_SHADER = /* wgsl */ `
struct Params {
  rows: u32, width: u32, sourceStride: u32, sourceColumn: u32,
  destinationStride: u32, destinationColumn: u32, destinationRowOffset: u32, rowWidth: u32,
}
@group(0) @binding(0) var<storage, read> source: array<f32>;
@group(0) @binding(1) var<storage, read_write> destination: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3u) {
  let index = id.y * params.rowWidth + id.x;
  if (index >= params.rows * params.width) { return; }
  let row = index / params.width;
  let column = index % params.width;
  destination[(row + params.destinationRowOffset) * params.destinationStride + params.destinationColumn + column] =
    source[row * params.sourceStride + params.sourceColumn + column];
}
`;

function fold(engine: Engine, count: number): [number, number] {
  const groups = Math.ceil(count / WORKGROUP);
  const limit = engine.device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.max(1, Math.min(groups, limit));
  return [x, Math.ceil(groups / x)];
}

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
  const [x, y] = fold(engine, rows * width);
  engine.dispatch(engine.pipeline(COPY_COLUMNS_SHADER), [source.tensor, destination.tensor], [x, y], {
    params: new Uint32Array([rows, width, sourceStride, source.column, destinationStride, destination.column, rowOffset, x * WORKGROUP]),
    label: 'copyColumns',
  });
}
