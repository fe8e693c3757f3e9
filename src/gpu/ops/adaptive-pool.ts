// Adaptive average pooling over an [H, W, C] grid to [outH, outW, C] with PyTorch's
// adaptive_avg_pool2d windows (spec §4.5): output cell (i, j) averages input rows
// [⌊i·H/outH⌋, ⌈(i+1)·H/outH⌉) × columns [⌊j·W/outW⌋, ⌈(j+1)·W/outW⌉). Used to pool the stitched
// vision features to 27×27. Forward only: the vision encoder is frozen.
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

/** [H, W, C] → [outHeight, outWidth, C]. */
export function adaptiveAvgPool2d(engine: Engine, input: Tensor, outHeight: number, outWidth: number): Tensor {
  if (input.dtype !== 'f32' || input.shape.length !== 3) throw new Error(`adaptiveAvgPool2d: expected an f32 [H, W, C] grid, got ${input}`);
  const [height, width, channels] = input.shape;
  for (const size of [outHeight, outWidth]) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`adaptiveAvgPool2d: output size must be a positive integer, got ${size}`);
  }
  const out = engine.empty([outHeight, outWidth, channels], 'f32', 'adaptiveAvgPool2d');
  engine.dispatch(engine.pipeline(ADAPTIVE_POOL_WGSL), [input, out], elementGrid(engine, outHeight * outWidth * channels), {
    params: new Uint32Array([height, width, channels, outHeight, outWidth, 0, 0, 0]),
    label: 'adaptiveAvgPool2d',
  });
  return out;
}

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
