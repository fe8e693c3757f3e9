// uint8 crops → the ViT's input (spec §4.2): normalise each channel to [−1, 1] with mean 0.5 and
// std 0.5, then cut each crop into a row-major grid of p×p patches flattened as (c, py, px).
import type { ImageCrops } from './image-crops.ts';

/**
 * ((u8/255) − 0.5)/0.5 in float32, each operation rounded to f32 as upstream's float32 torch code
 * does (the bf16 release does it in bf16 instead, spec §4.2). Output CHW: [count, 3, S, S].
 */
export function normalizeCrops(crops: ImageCrops): Float32Array {
  const { count, cropSize } = crops;
  const area = cropSize * cropSize;
  const out = new Float32Array(count * 3 * area);
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = Math.fround(Math.fround(Math.fround(v / 255) - 0.5) / 0.5);
  for (let n = 0; n < count; n++) {
    const source = n * area * 3;
    const target = n * 3 * area;
    for (let p = 0; p < area; p++) {
      out[target + p] = table[crops.data[source + p * 3]];
      out[target + area + p] = table[crops.data[source + p * 3 + 1]];
      out[target + 2 * area + p] = table[crops.data[source + p * 3 + 2]];
    }
  }
  return out;
}

/**
 * CHW crops [count, 3, S, S] → patches [count, (S/p)², 3·p²]; patch index gy·(S/p) + gx, element
 * c·p² + py·p + px (the patch_emb weight's column order, spec §3.1).
 */
export function patchify(chw: Float32Array, count: number, cropSize: number, patchSize: number): Float32Array {
  const grid = cropSize / patchSize;
  if (!Number.isInteger(grid)) throw new Error(`Crop size ${cropSize} is not a multiple of the patch size ${patchSize}.`);
  const channels = 3;
  const area = cropSize * cropSize;
  if (chw.length !== count * channels * area) throw new Error(`Expected ${count}×3×${cropSize}×${cropSize} values, got ${chw.length}.`);
  const patchLength = channels * patchSize * patchSize;
  const out = new Float32Array(count * grid * grid * patchLength);
  let o = 0;
  for (let n = 0; n < count; n++) {
    for (let gy = 0; gy < grid; gy++) {
      for (let gx = 0; gx < grid; gx++) {
        for (let c = 0; c < channels; c++) {
          const plane = (n * channels + c) * area;
          for (let py = 0; py < patchSize; py++) {
            const row = plane + (gy * patchSize + py) * cropSize + gx * patchSize;
            for (let px = 0; px < patchSize; px++) out[o++] = chw[row + px];
          }
        }
      }
    }
  }
  return out;
}

/** Crops → ViT patches in one call: [count, grid², 3·p²]. */
export function cropsToPatches(crops: ImageCrops, patchSize: number): Float32Array {
  return patchify(normalizeCrops(crops), crops.count, crops.cropSize, patchSize);
}
