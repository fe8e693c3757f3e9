// uint8 crops → the ViT's input (spec §4.2): normalise each channel to [−1, 1] with mean 0.5 and
// std 0.5, then cut each crop into a row-major grid of p×p patches flattened as (c, py, px).
import type { ImageCrops } from './image-crops.ts';

/** Arithmetic precision of the normalisation: upstream's float32 path, or the bf16 release's. */
export type NormalizePrecision = 'f32' | 'bf16';

/** Round-to-nearest-even of a float32 value to bfloat16, returned as a number. */
function roundToBfloat16(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer);
  bits[0] = (((bits[0] + 0x7fff + ((bits[0] >>> 16) & 1)) >>> 16) << 16) >>> 0;
  return f32[0];
}

/** ((u8/255) − 0.5)/0.5 with every operation rounded to the given precision. */
export function normalizedValue(u8: number, precision: NormalizePrecision = 'f32'): number {
  // bf16 tensors compute each op in float32 and round the result to bf16 (torch CPU semantics).
  const round = precision === 'f32' ? Math.fround : (v: number) => roundToBfloat16(Math.fround(v));
  return round(round(round(u8 / 255) - 0.5) / 0.5);
}

/**
 * ((u8/255) − 0.5)/0.5, each operation rounded as upstream rounds it: float32 for a float32 model
 * (the golden fixture), bf16 for the bf16 release (spec §4.2). Output CHW: [count, 3, S, S].
 */
export function normalizeCrops(crops: ImageCrops, precision: NormalizePrecision = 'f32'): Float32Array {
  const { count, cropSize } = crops;
  const area = cropSize * cropSize;
  const out = new Float32Array(count * 3 * area);
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = normalizedValue(v, precision);
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
export function cropsToPatches(crops: ImageCrops, patchSize: number, precision: NormalizePrecision = 'f32'): Float32Array {
  return patchify(normalizeCrops(crops, precision), crops.count, crops.cropSize, patchSize);
}
