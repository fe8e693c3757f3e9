import { describe, expect, it } from 'vitest';
import { adaptiveAvgPool, adaptivePoolWindows, stitchFeatures, stitchPlan, stitchSourceRows } from '../../../src/model/crop-stitching.ts';
import { overlapLayout } from '../../../src/model/image-crops.ts';
import { cropGeometryOf } from '../../../src/model/image-crops.ts';
import { DEFAULT_CONFIG } from '../../../src/model/config.ts';
import { goldenFile } from '../../helpers/fixture-files.ts';

describe('stitch plan (spec §4.4)', () => {
  it('keeps the tiny fixture\'s documented rows and columns of each 2×3 tile', () => {
    const plan = stitchPlan([2, 3], 4, 1);
    expect([plan.rows, plan.cols]).toEqual([6, 8]);
    // README: tile (r, c) keeps rows [r==0 ? 0 : 1, r==1 ? 4 : 3), cols [c==0 ? 0 : 1, c==2 ? 4 : 3), at (2r, 2c).
    for (let r = 0; r < 2; r++) {
      for (let c = 0; c < 3; c++) {
        expect(plan.placements[r * 3 + c]).toEqual({
          tile: r * 3 + c,
          rowStart: r === 0 ? 0 : 1, rowEnd: r === 1 ? 4 : 3,
          colStart: c === 0 ? 0 : 1, colEnd: c === 2 ? 4 : 3,
          outRow: 2 * r, outCol: 2 * c,
        });
      }
    }
  });

  it('gives the stitched grid sizes of the spec §4.1 worked examples and covers every cell once', () => {
    const geometry = cropGeometryOf(DEFAULT_CONFIG.vision);
    const cases: [number, number, [number, number]][] = [[378, 378, [27, 27]], [480, 640, [46, 84]], [800, 600, [84, 46]], [512, 512, [65, 65]]];
    for (const [height, width, grid] of cases) {
      const plan = stitchPlan(overlapLayout(height, width, geometry).tiling, 27, 4);
      expect([plan.rows, plan.cols]).toEqual(grid);
      const covered = new Uint8Array(plan.rows * plan.cols);
      for (const p of plan.placements) {
        for (let y = p.rowStart; y < p.rowEnd; y++) for (let x = p.colStart; x < p.colEnd; x++) covered[(p.outRow + y) * plan.cols + p.outCol + x]++;
      }
      expect(new Set(covered)).toEqual(new Set([1]));
    }
  });
});

describe('adaptive pooling windows (spec §4.5)', () => {
  it('matches the fixture\'s windows for 6 → 4 rows and 8 → 4 columns', () => {
    expect(adaptivePoolWindows(6, 4)).toEqual([[0, 2], [1, 3], [3, 5], [4, 6]]);
    expect(adaptivePoolWindows(8, 4)).toEqual([[0, 2], [2, 4], [4, 6], [6, 8]]);
  });
  it('is the identity for 27 → 27 and overlaps for 46 → 27', () => {
    expect(adaptivePoolWindows(27, 27)).toEqual(Array.from({ length: 27 }, (_, i) => [i, i + 1]));
    const windows = adaptivePoolWindows(46, 27);
    expect(windows[0]).toEqual([0, 2]); // ceil(46/27) = 2
    expect(windows[26]).toEqual([44, 46]); // floor(26·46/27) = 44
  });
});

describe('stitching and pooling the fixture\'s crop features', () => {
  const golden = goldenFile();
  const features = golden.float32('vision_crop_features'); // [7, 16, 32]: crop 0 global, then 6 tiles
  const channels = 32;
  const tiles = new Float64Array(features.subarray(16 * channels)); // drop the global crop

  it('reproduces vision_stitched exactly (a pure copy)', () => {
    const plan = stitchPlan([2, 3], 4, 1);
    const stitched = stitchFeatures(new Float32Array(features.subarray(16 * channels)), plan, 4, channels);
    expect(Buffer.compare(Buffer.from(stitched.buffer), Buffer.from(golden.float32('vision_stitched').buffer))).toBe(0);
  });

  it('as a gather: each stitched cell names the feature row it copies, reproducing vision_stitched exactly', () => {
    const plan = stitchPlan([2, 3], 4, 1);
    const rows = stitchSourceRows(plan, 4);
    expect(rows).toHaveLength(plan.rows * plan.cols);
    expect(new Set(rows).size).toBe(rows.length); // no feature row is used twice (the backward is a plain scatter)
    const gathered = new Float32Array(rows.length * channels);
    rows.forEach((row, cell) => gathered.set(features.subarray(row * channels, (row + 1) * channels), cell * channels));
    expect(Buffer.compare(Buffer.from(gathered.buffer), Buffer.from(golden.float32('vision_stitched').buffer))).toBe(0);
  });

  it('reproduces vision_pooled in float64 within 1e-6 (torch averages in float32)', () => {
    const plan = stitchPlan([2, 3], 4, 1);
    const pooled = adaptiveAvgPool(stitchFeatures(tiles, plan, 4, channels), plan.rows, plan.cols, channels, 4);
    const expected = golden.float32('vision_pooled');
    expect(pooled.length).toBe(expected.length);
    let worst = 0;
    for (let i = 0; i < pooled.length; i++) worst = Math.max(worst, Math.abs(pooled[i] - expected[i]));
    expect(worst).toBeLessThan(1e-6);
  });

  it('builds vision_proj_input as [global ‖ pooled local] per token', () => {
    const plan = stitchPlan([2, 3], 4, 1);
    const pooled = adaptiveAvgPool(stitchFeatures(tiles, plan, 4, channels), plan.rows, plan.cols, channels, 4);
    const expected = golden.float32('vision_proj_input'); // [16, 64]
    let worst = 0;
    for (let token = 0; token < 16; token++) {
      for (let ch = 0; ch < channels; ch++) {
        worst = Math.max(worst, Math.abs(features[token * channels + ch] - expected[token * 64 + ch]));
        worst = Math.max(worst, Math.abs(pooled[token * channels + ch] - expected[token * 64 + channels + ch]));
      }
    }
    expect(worst).toBeLessThan(1e-6);
  });
});
