// IEEE half-precision and bfloat16 conversions on the host (uploading f16 weights, reading f16
// results, writing bf16 files).

const floatView = new Float32Array(1);
const bitsView = new Uint32Array(floatView.buffer);

/** Round-to-nearest-even float32 → float16 bits; overflow gives ±Infinity, NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  floatView[0] = value;
  const bits = bitsView[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function float16BitsToFloat32(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}


/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;

/** A float32 value as bfloat16 bits (the top half of its float32 bits), rounded to nearest even; NaN stays NaN. */
export function float32ToBfloat16Bits(value: number): number {
  floatView[0] = value;
  const bits = bitsView[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bfloat16 bits as the float32 value they are (exact). */
export function bfloat16BitsToFloat32(bits: number): number {
  bitsView[0] = bits << 16;
  return floatView[0];
}
