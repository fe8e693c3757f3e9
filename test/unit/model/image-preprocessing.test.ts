import { describe, expect, it } from 'vitest';
import { cropGeometryOf, overlapCrops, overlapLayout, prepareCrops, selectTiling, singleCrop, type CropGeometry } from '../../../src/model/image-crops.ts';
import { cropsToPatches, normalizeCrops, normalizedValue } from '../../../src/model/image-patches.ts';
import { BICUBIC, LANCZOS3, resizeRgb } from '../../../src/model/lanczos-resize.ts';
import { rgbImage, toRgb } from '../../../src/model/rgb-image.ts';
import { parseConfig, DEFAULT_CONFIG } from '../../../src/model/config.ts';
import { fixtureImage, fixtureJson, goldenFile } from '../../helpers/fixture-files.ts';

const tinyGeometry: CropGeometry = cropGeometryOf(parseConfig(fixtureJson('config.json')).vision);
const fullGeometry: CropGeometry = cropGeometryOf(DEFAULT_CONFIG.vision);

function image() {
  const { width, height, pixels } = fixtureImage();
  return rgbImage(width, height, pixels);
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

describe('overlap crops against the golden fixture', () => {
  it('decodes image.png as 150×100 RGB with the documented background', () => {
    const img = image();
    expect([img.width, img.height]).toEqual([150, 100]);
    // README: R = round(255·x/149), G = round(255·y/99) on the background; (x, y) = (149, 0) is background.
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * 150 + x) * 3, (y * 150 + x) * 3 + 2));
    expect(at(149, 0)).toEqual([255, 0]);
  });

  it('cuts crops_u8 bit for bit (PIL Lanczos, tiling (2, 3), global first)', () => {
    const crops = overlapCrops(image(), tinyGeometry);
    const golden = goldenFile();
    expect(crops.tiling).toEqual(Array.from(golden.int32('tiling')));
    expect(crops.count).toBe(7);
    expect(crops.cropSize).toBe(56);
    expect(firstDifference(crops.data, golden.uint8('crops_u8'))).toBe('none');
  });

  it('normalises to the golden crops and patchifies to vision_patches exactly (same f32 operations, in the same order)', () => {
    const crops = overlapCrops(image(), tinyGeometry);
    const golden = goldenFile();
    expect(firstDifference(normalizeCrops(crops), golden.float32('crops'))).toBe('none');
    const patches = cropsToPatches(crops, 14);
    expect(patches.length).toBe(7 * 16 * 588);
    expect(firstDifference(patches, golden.float32('vision_patches'))).toBe('none');
  });

  it('matches upstream tiling for every case in tiling_cases_tiny and tiling_cases_full', () => {
    const golden = goldenFile();
    for (const [name, geometry, count] of [['tiling_cases_tiny', tinyGeometry, 13], ['tiling_cases_full', fullGeometry, 11]] as const) {
      const rows = golden.int32(name);
      expect(rows.length).toBe(count * 4);
      for (let i = 0; i < count; i++) {
        const [height, width, tileRows, tileCols] = rows.subarray(4 * i, 4 * i + 4);
        expect([name, height, width, ...overlapLayout(height, width, geometry).tiling]).toEqual([name, height, width, tileRows, tileCols]);
      }
    }
  });

  it('reproduces the worked examples of spec §4.1 (tiling, resized size, crop count)', () => {
    const cases: [number, number, [number, number], [number, number], number][] = [
      [378, 378, [1, 1], [378, 378], 2],
      [480, 640, [2, 4], [644, 1176], 9],
      [800, 600, [4, 2], [1176, 644], 9],
      [1080, 1920, [2, 4], [644, 1176], 9],
      [512, 512, [3, 3], [910, 910], 10],
      [300, 2000, [1, 1], [378, 378], 2],
    ];
    for (const [height, width, tiling, resized, crops] of cases) {
      const layout = overlapLayout(height, width, fullGeometry);
      expect([layout.tiling, [layout.resizedHeight, layout.resizedWidth], 1 + layout.tiling[0] * layout.tiling[1]]).toEqual([tiling, resized, crops]);
    }
  });

  it('selectTiling follows both branches (spec §4.1 step 2)', () => {
    expect(selectTiling(266, 5000, 266, 12)).toEqual([1, 1]); // one side within the window
    expect(selectTiling(2000, 2000, 266, 12)).toEqual([3, 3]); // 8×8 = 64 > 12: ratio √(12/64)
    expect(selectTiling(368, 528, 266, 12)).toEqual([2, 4]); // floor(√(12·368/528)) = 2, floor(√(12·528/368)) = 4
    expect(selectTiling(700, 300, 266, 4)).toEqual([2, 1]); // 3×2 = 6 > 4 → ratio √(4/6): floor(2.45), floor(1.63)
  });
});

describe('PIL-style resampling', () => {
  const row = (values: number[]) => rgbImage(values.length, 1, new Uint8Array(values.flatMap((v) => [v, v, v])));

  it('bicubic 4→2 on [0, 100, 200, 255] gives [60, 221] (weights worked by hand, a = −0.5)', () => {
    // out 0: centre 1, taps B(−0.25), B(0.25), B(0.75), B(1.25) on inputs 0..3 → 114.10/1.8906 = 60.35
    // out 1: centre 3, taps B(−1.25), B(−0.75), B(−0.25), B(0.25) → 417.23/1.8906 = 220.68
    const out = resizeRgb(row([0, 100, 200, 255]), 2, 1, BICUBIC);
    expect(Array.from(out.data)).toEqual([60, 60, 60, 221, 221, 221]);
  });

  it('keeps a constant image constant and a linear ramp linear (to ±1) when enlarging or shrinking', () => {
    const flat = rgbImage(9, 7, new Uint8Array(9 * 7 * 3).fill(200));
    for (const filter of [LANCZOS3, BICUBIC]) {
      expect(new Set(resizeRgb(flat, 20, 3, filter).data)).toEqual(new Set([200]));
      const ramp = row(Array.from({ length: 64 }, (_, x) => 2 * x + 40));
      const half = resizeRgb(ramp, 32, 1, filter);
      // Interior samples away from the clamped borders: output i sits at input 2i + 0.5.
      for (let i = 4; i < 28; i++) expect(Math.abs(half.data[3 * i] - (2 * (2 * i + 0.5) + 40))).toBeLessThanOrEqual(1);
    }
  });

  it('is the identity at the same size, and the 2024 single crop is one bicubic 378² resize', () => {
    const img = image();
    expect(firstDifference(resizeRgb(img, 150, 100).data, img.data)).toBe('none');
    const single = singleCrop(img, 378);
    expect(single).toMatchObject({ count: 1, cropSize: 378, tiling: [1, 1] });
    expect(firstDifference(single.data, resizeRgb(resizeRgb(img, 378, 100, BICUBIC), 378, 378, BICUBIC).data)).toBe('none');
    expect(prepareCrops(img, 'overlap', tinyGeometry).count).toBe(7);
  });

  it('rejects sizes that are not positive whole pixels', () => {
    expect(() => resizeRgb(image(), 0, 10)).toThrow(/positive whole pixels/);
    expect(() => rgbImage(2, 2, new Uint8Array(11))).toThrow(/needs 12 bytes/);
  });
});

describe('normalisation precision', () => {
  it('bf16 rounds after every operation (values worked by hand)', () => {
    // 1/255 = 0.0039216 → bf16 2^-8 = 0.00390625; − 0.5 → −0.49609375 (exact); / 0.5 → −0.9921875.
    expect(normalizedValue(1, 'bf16')).toBe(-0.9921875);
    expect(normalizedValue(1, 'f32')).toBeCloseTo(-0.99215686, 7);
    // 128/255 = 0.5·1.0039216; bf16 steps are 0.5/128 here and 0.0039216 is past the half step
    // (1/256 = 0.0039063), so it rounds up to 0.5·(1 + 1/128) = 0.50390625; − 0.5 → 2^-8; / 0.5 → 2^-7.
    expect(normalizedValue(128, 'bf16')).toBe(0.0078125);
    expect(normalizedValue(128, 'f32')).toBeCloseTo(0.0039216, 6);
    expect([normalizedValue(0, 'bf16'), normalizedValue(255, 'bf16')]).toEqual([-1, 1]);
    let worst = 0;
    for (let v = 0; v < 256; v++) worst = Math.max(worst, Math.abs(normalizedValue(v, 'bf16') - normalizedValue(v, 'f32')));
    expect(worst).toBeLessThan(8e-3); // bf16 keeps 8 significant bits: |x| < 1 → error under 2^-8 per rounding
  });
});

describe('toRgb (PIL convert("RGB"))', () => {
  it('replicates grey, drops alpha without compositing, keeps the high byte of 16-bit samples', () => {
    expect(Array.from(toRgb(2, 1, 1, [10, 20]).data)).toEqual([10, 10, 10, 20, 20, 20]);
    expect(Array.from(toRgb(1, 1, 2, [30, 0]).data)).toEqual([30, 30, 30]);
    expect(Array.from(toRgb(1, 1, 4, [1, 2, 3, 0]).data)).toEqual([1, 2, 3]);
    expect(Array.from(toRgb(1, 1, 3, [0xffff, 0x8000, 0x00ff], 16).data)).toEqual([255, 128, 0]);
  });
});
