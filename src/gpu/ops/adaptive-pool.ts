// Adaptive average pooling over an [H, W, C] grid to [outH, outW, C] with PyTorch's
// adaptive_avg_pool2d windows (spec §4.5): output cell (i, j) averages input rows
// [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) × columns [⌊j·W/outW⌋, ⌈(j+1)·W/outW⌉). Used to pool the stitched
// vision features to 27×27. Backward: each input cell receives gradOut / area from every output
// cell whose window holds it (windows may overlap when H is not a multiple of outH).
import type { DifferentiableOp } from '../autograd.ts';
import { INDEX_WGSL, elementGrid } from '../dispatch.ts';
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';

/**
 * One invocation per output element (i, j, c) (elementGrid); channel fastest, so
 * neighbouring invocations read neighbouring input words.
 * Bindings: 0 input [H, W, C] (read), 1 out [outH, outW, C] (write), 2 params (uniform).
 */
export const ADAPTIVE_POOL_WGSL = /* wgsl */ `
struct Params { height: u32, width: u32, channels: u32, outHeight: u32, outWidth: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// [⌊i·size/outSize⌋, ⌈(i+1)·size/outSize⌉) in integers.
fn window(i: u32, size: u32, outSize: u32) -> vec2u {
  return vec2u((i * size) / outSize, ((i + 1u) * size + outSize - 1u) / outSize);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let element = elementIndex(group, groups, local);
  if (element >= params.outHeight * params.outWidth * params.channels) { return; }
  let channel = element % params.channels;
  let cell = element / params.channels;
  let rows = window(cell / params.outWidth, params.height, params.outHeight);
  let columns = window(cell % params.outWidth, params.width, params.outWidth);
  var sum = 0.0;
  for (var row = rows.x; row < rows.y; row++) {
    for (var column = columns.x; column < columns.y; column++) {
      sum += input[(row * params.width + column) * params.channels + channel];
    }
  }
  out[element] = sum / f32((rows.y - rows.x) * (columns.y - columns.x));
}
`;

/**
 * Backward: one invocation per input element (row, column, c) sums gradOut over the output cells
 * whose windows hold it, each divided by its window's area.
 * Bindings: 0 gradOut [outH, outW, C] (read), 1 gradInput [H, W, C] (write), 2 params (uniform).
 */
export const ADAPTIVE_POOL_BACKWARD_WGSL = /* wgsl */ `
struct Params { height: u32, width: u32, channels: u32, outHeight: u32, outWidth: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read> gradOut: array<f32>;
@group(0) @binding(1) var<storage, read_write> gradInput: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

fn window(i: u32, size: u32, outSize: u32) -> vec2u {
  return vec2u((i * size) / outSize, ((i + 1u) * size + outSize - 1u) / outSize);
}

// The output cells [first, end) whose windows may hold input index x: window i starts at
// ⌊i·size/outSize⌋ ≤ x, so i ≤ ⌊(x+1)·outSize/size⌋; it ends past x, so i ≥ ⌊x·outSize/size⌋ − 1.
fn candidates(x: u32, size: u32, outSize: u32) -> vec2u {
  let first = max((x * outSize) / size, 1u) - 1u;
  return vec2u(first, min(((x + 1u) * outSize) / size + 1u, outSize));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let element = elementIndex(group, groups, local);
  if (element >= params.height * params.width * params.channels) { return; }
  let channel = element % params.channels;
  let cell = element / params.channels;
  let row = cell / params.width;
  let column = cell % params.width;
  let outRows = candidates(row, params.height, params.outHeight);
  let outColumns = candidates(column, params.width, params.outWidth);
  var sum = 0.0;
  for (var i = outRows.x; i < outRows.y; i++) {
    let rows = window(i, params.height, params.outHeight);
    if (row < rows.x || row >= rows.y) { continue; }
    for (var j = outColumns.x; j < outColumns.y; j++) {
      let columns = window(j, params.width, params.outWidth);
      if (column < columns.x || column >= columns.y) { continue; }
      let area = f32((rows.y - rows.x) * (columns.y - columns.x));
      sum += gradOut[(i * params.outWidth + j) * params.channels + channel] / area;
    }
  }
  gradInput[element] = sum;
}
`;

/** The grid [H, W, C] of an input given as [H, W, C], or as rows [H·W, C] with its grid [H, W]. */
function gridOf(op: string, input: Tensor, grid?: readonly [number, number]): [number, number, number] {
  if (input.dtype === 'f32' && input.shape.length === 3 && !grid) return input.shape as [number, number, number];
  if (input.dtype === 'f32' && input.shape.length === 2 && grid && grid[0] * grid[1] === input.shape[0]) return [grid[0], grid[1], input.shape[1]];
  throw new Error(`${op}: expected an f32 [H, W, C] grid, or rows [H·W, C] with their grid [H, W], got ${input}${grid ? ` and ${grid.join('×')}` : ''}`);
}

/**
 * [H, W, C] → [outHeight, outWidth, C]; or, for rows [H·W, C] with `grid` = [H, W], the pooled
 * rows [outHeight·outWidth, C] (the layout the vision features and the tape use).
 */
export function adaptiveAvgPool2d(engine: Engine, input: Tensor, outHeight: number, outWidth: number, grid?: readonly [number, number]): Tensor {
  const [height, width, channels] = gridOf('adaptiveAvgPool2d', input, grid);
  for (const size of [outHeight, outWidth]) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`adaptiveAvgPool2d: output size must be a positive integer, got ${size}`);
  }
  const out = engine.empty(grid ? [outHeight * outWidth, channels] : [outHeight, outWidth, channels], 'f32', 'adaptiveAvgPool2d');
  engine.dispatch(engine.pipeline(ADAPTIVE_POOL_WGSL), [input, out], elementGrid(engine, outHeight * outWidth * channels), {
    params: new Uint32Array([height, width, channels, outHeight, outWidth, 0, 0, 0]),
    label: 'adaptiveAvgPool2d',
  });
  return out;
}

/**
 * Gradient of adaptiveAvgPool2d with respect to its input, given gradOut of the output's shape:
 * [H, W, C] for gradOut [outHeight, outWidth, C], or rows [H·W, C] (with `grid` = [H, W]) for
 * gradOut [outHeight·outWidth, C] (then `outGrid` = [outHeight, outWidth]).
 */
export function adaptiveAvgPool2dBackward(
  engine: Engine,
  gradOut: Tensor,
  [height, width, channels]: readonly [number, number, number],
  outGrid?: readonly [number, number],
): Tensor {
  const [outHeight, outWidth] = outGrid ?? gradOut.shape;
  if (gradOut.dtype !== 'f32' || gradOut.size !== outHeight * outWidth * channels || gradOut.shape.at(-1) !== channels) {
    throw new Error(`adaptiveAvgPool2dBackward: gradOut must be f32 [${outHeight}, ${outWidth}, ${channels}] (or its rows), got ${gradOut}`);
  }
  const gradInput = engine.empty(outGrid ? [height * width, channels] : [height, width, channels], 'f32', 'adaptiveAvgPool2d.grad');
  engine.dispatch(engine.pipeline(ADAPTIVE_POOL_BACKWARD_WGSL), [gradOut, gradInput], elementGrid(engine, height * width * channels), {
    params: new Uint32Array([height, width, channels, outHeight, outWidth, 0, 0, 0]),
    label: 'adaptiveAvgPool2d.backward',
  });
  return gradInput;
}

/**
 * adaptiveAvgPool2d as a differentiable op on rows: inputs [x [H·W, C]], args { grid: [H, W],
 * outHeight, outWidth }, output [outHeight·outWidth, C]. The backward needs only the shapes.
 */
export const adaptiveAvgPool2dOp: DifferentiableOp<{ grid: readonly [number, number]; outHeight: number; outWidth: number }> = {
  name: 'adaptiveAvgPool2d',
  saves: {},
  forward: (engine, [x], { grid, outHeight, outWidth }) => ({ output: adaptiveAvgPool2d(engine, x!, outHeight, outWidth, grid) }),
  backward: (engine, gradOut, { inputs: [x], args: { grid, outHeight, outWidth } }) => [
    adaptiveAvgPool2dBackward(engine, gradOut, [grid[0], grid[1], x!.shape[1]], [outHeight, outWidth]),
  ],
};

/** CPU reference (float64). */
export function adaptiveAvgPool2dReference(
  input: ArrayLike<number>,
  [height, width, channels]: readonly [number, number, number],
  outHeight: number,
  outWidth: number,
): Float64Array {
  const out = new Float64Array(outHeight * outWidth * channels);
  for (let i = 0; i < outHeight; i++) {
    const rowStart = Math.floor((i * height) / outHeight);
    const rowEnd = Math.ceil(((i + 1) * height) / outHeight);
    for (let j = 0; j < outWidth; j++) {
      const columnStart = Math.floor((j * width) / outWidth);
      const columnEnd = Math.ceil(((j + 1) * width) / outWidth);
      const count = (rowEnd - rowStart) * (columnEnd - columnStart);
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let row = rowStart; row < rowEnd; row++) {
          for (let column = columnStart; column < columnEnd; column++) sum += input[(row * width + column) * channels + c];
        }
        out[(i * outWidth + j) * channels + c] = sum / count;
      }
    }
  }
  return out;
}

/** CPU reference of the backward (float64): the transpose of the averaging. */
export function adaptiveAvgPool2dBackwardReference(
  gradOut: ArrayLike<number>,
  [height, width, channels]: readonly [number, number, number],
  outHeight: number,
  outWidth: number,
): Float64Array {
  const gradInput = new Float64Array(height * width * channels);
  for (let i = 0; i < outHeight; i++) {
    const rowStart = Math.floor((i * height) / outHeight);
    const rowEnd = Math.ceil(((i + 1) * height) / outHeight);
    for (let j = 0; j < outWidth; j++) {
      const columnStart = Math.floor((j * width) / outWidth);
      const columnEnd = Math.ceil(((j + 1) * width) / outWidth);
      const area = (rowEnd - rowStart) * (columnEnd - columnStart);
      for (let row = rowStart; row < rowEnd; row++) {
        for (let column = columnStart; column < columnEnd; column++) {
          for (let c = 0; c < channels; c++) gradInput[(row * width + column) * channels + c] += gradOut[(i * outWidth + j) * channels + c] / area;
        }
      }
    }
  }
  return gradInput;
}
