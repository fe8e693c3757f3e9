// Image → uint8 crops the vision encoder sees. 'overlap' (2025 revisions, spec §4.1): a global
// crop of the whole image plus a grid of overlapping tiles cut from a resized copy; 'single'
// (2024-04-02, spec §12): one bicubic resize to the crop size.
import { BICUBIC, LANCZOS3, resizeRgb } from './lanczos-resize.ts';
import { cropRgb, type RgbImage } from './rgb-image.ts';
import type { CropMode } from './revisions.ts';

export interface CropGeometry {
  /** Crop side in pixels (378 full size). */
  readonly cropSize: number;
  /** Patch side in pixels (14). */
  readonly patchSize: number;
  /** Overlap margin in patches (4). */
  readonly overlapMargin: number;
  /** Local tiles at most (12); the global crop is extra. */
  readonly maxCrops: number;
}

export type Tiling = readonly [rows: number, cols: number];

export interface ImageCrops {
  /** Crop pixels, [count, cropSize, cropSize, 3], global crop first then tiles row-major. */
  readonly data: Uint8Array;
  readonly count: number;
  readonly cropSize: number;
  /** Tile grid of the local crops; [1, 1] in single mode (where there is no local crop). */
  readonly tiling: Tiling;
}

/** Upstream select_tiling (spec §4.1 step 2), for the margin-free image size. */
export function selectTiling(height: number, width: number, cropWindow: number, maxCrops: number): Tiling {
  if (height <= cropWindow || width <= cropWindow) return [1, 1];
  const minRows = Math.ceil(height / cropWindow);
  const minCols = Math.ceil(width / cropWindow);
  if (minRows * minCols > maxCrops) {
    const ratio = Math.sqrt(maxCrops / (minRows * minCols));
    return [Math.max(1, Math.floor(minRows * ratio)), Math.max(1, Math.floor(minCols * ratio))];
  }
  let rows = Math.max(Math.floor(Math.sqrt((maxCrops * height) / width)), minRows);
  let cols = Math.max(Math.floor(Math.sqrt((maxCrops * width) / height)), minCols);
  if (rows * cols > maxCrops) {
    if (cols > rows) cols = Math.floor(maxCrops / rows);
    else rows = Math.floor(maxCrops / cols);
  }
  return [Math.max(1, rows), Math.max(1, cols)];
}

/** Pixel sizes derived from the geometry (full size: margin 56, window 266). */
export function cropPixels(geometry: CropGeometry): { marginPixels: number; cropWindow: number } {
  const cropPatches = Math.floor(geometry.cropSize / geometry.patchSize);
  return {
    marginPixels: geometry.patchSize * geometry.overlapMargin,
    cropWindow: (cropPatches - 2 * geometry.overlapMargin) * geometry.patchSize,
  };
}

/** The tiling and the size the whole image is resized to before tiles are cut (spec §4.1 steps 2–3). */
export function overlapLayout(height: number, width: number, geometry: CropGeometry): { tiling: Tiling; resizedHeight: number; resizedWidth: number } {
  const { marginPixels, cropWindow } = cropPixels(geometry);
  const tiling = selectTiling(height - 2 * marginPixels, width - 2 * marginPixels, cropWindow, geometry.maxCrops);
  return { tiling, resizedHeight: tiling[0] * cropWindow + 2 * marginPixels, resizedWidth: tiling[1] * cropWindow + 2 * marginPixels };
}

/** Global crop + overlapping tiles (upstream overlap_crop_image, PIL path). */
export function overlapCrops(image: RgbImage, geometry: CropGeometry): ImageCrops {
  const { cropSize } = geometry;
  const { cropWindow } = cropPixels(geometry);
  const { tiling, resizedHeight, resizedWidth } = overlapLayout(image.height, image.width, geometry);
  const [rows, cols] = tiling;
  const count = 1 + rows * cols;
  const cropBytes = cropSize * cropSize * 3;
  const data = new Uint8Array(count * cropBytes);
  data.set(resizeRgb(image, cropSize, cropSize, LANCZOS3).data, 0);
  const resized = resizeRgb(image, resizedWidth, resizedHeight, LANCZOS3);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      // Windows always fit: resized = tiles·window + 2·margin = (tiles−1)·window + cropSize.
      const tile = cropRgb(resized, i * cropWindow, j * cropWindow, cropSize, cropSize);
      data.set(tile.data, (1 + i * cols + j) * cropBytes);
    }
  }
  return { data, count, cropSize, tiling };
}

/** The 2024-04-02 single crop: the whole image squashed to cropSize² with Pillow BICUBIC. */
export function singleCrop(image: RgbImage, cropSize: number): ImageCrops {
  return { data: resizeRgb(image, cropSize, cropSize, BICUBIC).data, count: 1, cropSize, tiling: [1, 1] };
}

/** Crops for a revision's crop mode. */
export function prepareCrops(image: RgbImage, mode: CropMode, geometry: CropGeometry): ImageCrops {
  return mode === 'overlap' ? overlapCrops(image, geometry) : singleCrop(image, geometry.cropSize);
}

/** Crop geometry of a config's vision section. */
export function cropGeometryOf(vision: { crop_size: number; enc_patch_size: number; overlap_margin: number; max_crops: number }): CropGeometry {
  return { cropSize: vision.crop_size, patchSize: vision.enc_patch_size, overlapMargin: vision.overlap_margin, maxCrops: vision.max_crops };
}
