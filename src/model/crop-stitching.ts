// Host arithmetic for joining the local tiles' feature maps (spec §4.4) and pooling them back to
// one crop's grid (spec §4.5). The GPU code dispatches copies and averages over these plans; the
// plain functions below are their CPU reference.
import type { Tiling } from './image-crops.ts';

/** One tile's kept block: feature rows [rowStart, rowEnd) × cols [colStart, colEnd) of the tile
 *  go to the same rows/cols offset by (outRow, outCol) in the stitched grid. */
export interface TilePlacement {
  readonly tile: number;
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly colStart: number;
  readonly colEnd: number;
  readonly outRow: number;
  readonly outCol: number;
}

export interface StitchPlan {
  readonly rows: number;
  readonly cols: number;
  readonly placements: readonly TilePlacement[];
}

/**
 * Upstream reconstruct_from_crops on feature grids (patch size 1): tile (r, c) drops `margin`
 * cells on each side that touches another tile and keeps image borders (spec §4.4). Output
 * (grid − 2·margin)·tiles + 2·margin per axis (19·t + 8 full size).
 */
export function stitchPlan(tiling: Tiling, grid: number, margin: number): StitchPlan {
  const [tileRows, tileCols] = tiling;
  const step = grid - 2 * margin;
  const placements: TilePlacement[] = [];
  for (let r = 0; r < tileRows; r++) {
    for (let c = 0; c < tileCols; c++) {
      placements.push({
        tile: r * tileCols + c,
        rowStart: r === 0 ? 0 : margin,
        rowEnd: r === tileRows - 1 ? grid : grid - margin,
        colStart: c === 0 ? 0 : margin,
        colEnd: c === tileCols - 1 ? grid : grid - margin,
        outRow: r * step,
        outCol: c * step,
      });
    }
  }
  return { rows: step * tileRows + 2 * margin, cols: step * tileCols + 2 * margin, placements };
}

/**
 * For every cell of the stitched grid (row-major), the row of the crop features [crops·grid², ·]
 * it comes from (crop 0 is the global crop, tile t is crop 1 + t): stitching as a gather.
 */
export function stitchSourceRows(plan: StitchPlan, grid: number): Int32Array {
  const rows = new Int32Array(plan.rows * plan.cols).fill(-1);
  for (const p of plan.placements) {
    for (let y = p.rowStart; y < p.rowEnd; y++) {
      for (let x = p.colStart; x < p.colEnd; x++) rows[(p.outRow + y) * plan.cols + p.outCol + x] = ((1 + p.tile) * grid + y) * grid + x;
    }
  }
  if (rows.includes(-1)) throw new Error('stitchSourceRows: the placements leave a cell of the stitched grid empty.');
  return rows;
}

/** Tile features [tiles, grid, grid, channels] → stitched [plan.rows, plan.cols, channels]. */
export function stitchFeatures<T extends Float32Array | Float64Array>(features: T, plan: StitchPlan, grid: number, channels: number): T {
  const out = new (features.constructor as { new (length: number): T })(plan.rows * plan.cols * channels);
  for (const p of plan.placements) {
    for (let y = p.rowStart; y < p.rowEnd; y++) {
      const from = ((p.tile * grid + y) * grid + p.colStart) * channels;
      const to = ((p.outRow + y) * plan.cols + p.outCol + p.colStart) * channels;
      out.set(features.subarray(from, from + (p.colEnd - p.colStart) * channels), to);
    }
  }
  return out;
}

/** PyTorch adaptive_avg_pool windows: output i averages [floor(i·in/out), ceil((i+1)·in/out)). */
export function adaptivePoolWindows(inSize: number, outSize: number): [start: number, end: number][] {
  const windows: [number, number][] = [];
  for (let i = 0; i < outSize; i++) windows.push([Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)]);
  return windows;
}

/** Adaptive average pooling of [rows, cols, channels] to [outSize, outSize, channels], in float64. */
export function adaptiveAvgPool(grid: Float32Array | Float64Array, rows: number, cols: number, channels: number, outSize: number): Float64Array {
  const rowWindows = adaptivePoolWindows(rows, outSize);
  const colWindows = adaptivePoolWindows(cols, outSize);
  const out = new Float64Array(outSize * outSize * channels);
  for (let i = 0; i < outSize; i++) {
    const [r0, r1] = rowWindows[i];
    for (let j = 0; j < outSize; j++) {
      const [c0, c1] = colWindows[j];
      const base = (i * outSize + j) * channels;
      for (let y = r0; y < r1; y++) {
        for (let x = c0; x < c1; x++) {
          const from = (y * cols + x) * channels;
          for (let ch = 0; ch < channels; ch++) out[base + ch] += grid[from + ch];
        }
      }
      const cells = (r1 - r0) * (c1 - c0);
      for (let ch = 0; ch < channels; ch++) out[base + ch] /= cells;
    }
  }
  return out;
}
