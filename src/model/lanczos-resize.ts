// Separable image resampling that reproduces Pillow's resize() (Pillow 9.4, no reducing_gap)
// bit for bit, as upstream's PIL fallback resizes crops with LANCZOS (spec §4.1) and the 2024
// revision with BICUBIC (spec §12). The algorithm is the one the fixture README spells out:
// horizontal pass first, each pass rounded to uint8, weights as 22-bit fixed point.
import type { RgbImage } from './rgb-image.ts';

export interface ResampleFilter {
  /** Half-width of the kernel at scale 1. */
  readonly support: number;
  readonly weight: (x: number) => number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

export const LANCZOS3: ResampleFilter = {
  support: 3,
  weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
};

/** Keys' cubic with a = −0.5, Pillow's BICUBIC. */
export const BICUBIC: ResampleFilter = {
  support: 2,
  weight: (x) => {
    const a = -0.5;
    const t = Math.abs(x);
    if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
    return 0;
  },
};

const PRECISION_BITS = 22; // Pillow: 32 − 8 − 2
const ONE = 1 << PRECISION_BITS;

interface AxisCoefficients {
  /** First input index of each output index. */
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** Fixed-point weights, `taps` per output index. */
  readonly weights: Int32Array;
  readonly taps: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function axisCoefficients(inSize: number, outSize: number, filter: ResampleFilter): AxisCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const real = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let k = 0; k < xmax; k++) {
      const w = filter.weight((k + xmin - center + 0.5) / filterScale);
      real[k] = w;
      sum += w;
    }
    for (let k = 0; k < xmax; k++) {
      const w = sum !== 0 ? real[k] / sum : real[k];
      weights[i * taps + k] = w < 0 ? Math.trunc(w * ONE - 0.5) : Math.trunc(w * ONE + 0.5);
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  return { start, count, weights, taps };
}

function clampToByte(accumulator: number): number {
  const value = accumulator >> PRECISION_BITS;
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

function resampleHorizontal(image: RgbImage, outWidth: number, filter: ResampleFilter): RgbImage {
  const { width, height, data } = image;
  const { start, count, weights, taps } = axisCoefficients(width, outWidth, filter);
  const out = new Uint8Array(height * outWidth * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < outWidth; x++) {
      let r = ONE >> 1, g = ONE >> 1, b = ONE >> 1;
      const first = row + start[x] * 3;
      for (let k = 0; k < count[x]; k++) {
        const w = weights[x * taps + k];
        const p = first + k * 3;
        r += data[p] * w;
        g += data[p + 1] * w;
        b += data[p + 2] * w;
      }
      const o = (y * outWidth + x) * 3;
      out[o] = clampToByte(r);
      out[o + 1] = clampToByte(g);
      out[o + 2] = clampToByte(b);
    }
  }
  return { width: outWidth, height, data: out };
}

function resampleVertical(image: RgbImage, outHeight: number, filter: ResampleFilter): RgbImage {
  const { width, height, data } = image;
  const { start, count, weights, taps } = axisCoefficients(height, outHeight, filter);
  const rowBytes = width * 3;
  const out = new Uint8Array(outHeight * rowBytes);
  // Whole rows at a time (row-major reads); sums stay exact integers as in Pillow's int32 code.
  const accumulator = new Float64Array(rowBytes);
  for (let y = 0; y < outHeight; y++) {
    accumulator.fill(ONE >> 1);
    for (let k = 0; k < count[y]; k++) {
      const w = weights[y * taps + k];
      const row = (start[y] + k) * rowBytes;
      for (let i = 0; i < rowBytes; i++) accumulator[i] += data[row + i] * w;
    }
    for (let i = 0; i < rowBytes; i++) out[y * rowBytes + i] = clampToByte(accumulator[i]);
  }
  return { width, height: outHeight, data: out };
}

/** Resizes to outWidth × outHeight (aspect not preserved), as Pillow's resize(size, filter). */
export function resizeRgb(image: RgbImage, outWidth: number, outHeight: number, filter: ResampleFilter = LANCZOS3): RgbImage {
  if (!Number.isInteger(outWidth) || !Number.isInteger(outHeight) || outWidth <= 0 || outHeight <= 0) {
    throw new Error(`Cannot resize to ${outWidth}×${outHeight}: the size must be positive whole pixels.`);
  }
  // Pillow skips a pass whose size does not change (it would be the identity anyway).
  const horizontal = outWidth === image.width ? image : resampleHorizontal(image, outWidth, filter);
  return outHeight === image.height ? horizontal : resampleVertical(horizontal, outHeight, filter);
}
