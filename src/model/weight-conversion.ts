// A tensor's file bytes → the engine's upload forms: f32 (Float32Array) or f16 bits
// (Uint16Array). bf16 → f32 is exact (bf16 is the top half of an f32); f32/bf16 → f16 rounds to
// nearest even once. f16 cannot hold magnitudes past 65504: such finite values are clamped to
// ±65504 and counted, so a loader can warn instead of silently feeding ±Infinity to the GPU.
import { SafetensorsError, elementCountOf, type TensorInfo } from './safetensors.ts';

/** Largest finite float16. */
export const FLOAT16_MAX = 65504;

const F16_MAX_BITS = 0x7bff;
const F32_OF_F16_MAX = 0x477fe000; // 65504 as f32 bits
const F32_MIN_F16_NORMAL = 0x38800000; // 2^-14
const F32_INFINITY = 0x7f800000;

export interface Float16Conversion {
  readonly bits: Uint16Array;
  /** Finite values beyond ±65504 that were clamped to ±65504. */
  readonly clampedCount: number;
}

/** Converts a F32, F16 or BF16 tensor to float32 values. */
export function toFloat32(info: TensorInfo, bytes: Uint8Array): Float32Array {
  const count = checkedCount(info, bytes);
  switch (info.dtype) {
    case 'F32':
      return new Float32Array(ownBuffer(bytes));
    case 'BF16': {
      const source = new Uint16Array(ownBuffer(bytes));
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = source[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const source = new Uint16Array(ownBuffer(bytes));
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = float16BitsToNumber(source[i]);
      return out;
    }
    default:
      throw new SafetensorsError(`Tensor '${info.name}' is ${info.dtype}; only F32, F16 and BF16 weights can be loaded as floats.`);
  }
}

/** Converts a F32, F16 or BF16 tensor to float16 bits (round to nearest even, clamped). */
export function toFloat16(info: TensorInfo, bytes: Uint8Array): Float16Conversion {
  const count = checkedCount(info, bytes);
  switch (info.dtype) {
    case 'F16':
      return { bits: new Uint16Array(ownBuffer(bytes)), clampedCount: 0 };
    case 'F32': {
      const source = new Uint32Array(ownBuffer(bytes));
      const out = new Uint16Array(count);
      let clampedCount = 0;
      for (let i = 0; i < count; i++) {
        const half = float32BitsToHalf(source[i]);
        if (half > 0xffff) clampedCount++;
        out[i] = half;
      }
      return { bits: out, clampedCount };
    }
    case 'BF16': {
      // Every bf16 value has one f16 answer: a 64K-entry table makes the 1.9 G-value checkpoint a lookup.
      const table = bf16ToHalfTable();
      const source = new Uint16Array(ownBuffer(bytes));
      const out = new Uint16Array(count);
      let clampedCount = 0;
      for (let i = 0; i < count; i++) {
        const half = table[source[i]];
        if (half > 0xffff) clampedCount++;
        out[i] = half;
      }
      return { bits: out, clampedCount };
    }
    default:
      throw new SafetensorsError(`Tensor '${info.name}' is ${info.dtype}; only F32, F16 and BF16 weights can be loaded as floats.`);
  }
}

let bf16Table: Uint32Array | undefined;
function bf16ToHalfTable(): Uint32Array {
  if (!bf16Table) {
    bf16Table = new Uint32Array(65536);
    for (let bits = 0; bits < 65536; bits++) bf16Table[bits] = float32BitsToHalf(bits << 16);
  }
  return bf16Table;
}

/** f32 bits → f16 bits, with bit 16 set when the value was clamped to ±65504. */
function float32BitsToHalf(f32Bits: number): number {
  const bits = f32Bits >>> 0;
  const sign = (bits >>> 16) & 0x8000;
  const magnitude = bits & 0x7fffffff;
  if (magnitude >= F32_INFINITY) {
    // ±Infinity stays infinite, NaN stays NaN (quiet).
    return sign | 0x7c00 | (magnitude > F32_INFINITY ? 0x200 : 0);
  }
  if (magnitude > F32_OF_F16_MAX) return 0x10000 | sign | F16_MAX_BITS;
  if (magnitude >= F32_MIN_F16_NORMAL) {
    const mantissa = magnitude & 0x7fffff;
    let half = (((magnitude >>> 23) - 112) << 10) | (mantissa >>> 13);
    const rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry correctly bumps the exponent
    return sign | half;
  }
  return sign | subnormalHalf(magnitude);
}

// Magnitudes below 2^-14 become f16 subnormals (units of 2^-24), rounded to nearest even.
function subnormalHalf(magnitude: number): number {
  const exponent = magnitude >>> 23;
  if (exponent < 102) return 0; // below 2^-25: rounds to zero
  const mantissa = (magnitude & 0x7fffff) | 0x800000; // value = mantissa · 2^(exponent − 150)
  const shift = 126 - exponent; // value / 2^-24 = mantissa >> shift
  let half = mantissa >>> shift;
  const rest = mantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && half & 1)) half++;
  return half;
}

function float16BitsToNumber(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

function checkedCount(info: TensorInfo, bytes: Uint8Array): number {
  if (bytes.byteLength !== info.end - info.begin) {
    throw new SafetensorsError(`Tensor '${info.name}': got ${bytes.byteLength} bytes, the header says ${info.end - info.begin}.`);
  }
  return elementCountOf(info);
}

/** The bytes as a whole ArrayBuffer (zero-copy when they already are one; else a copy). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  // Uint8Array.prototype.slice copies; Node's Buffer.slice would return a view of the whole file.
  return Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer;
}
