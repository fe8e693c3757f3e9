// Half-precision rounding for references: what the GPU stores when a weight is packed as f16.
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../src/gpu/f16.ts';

/** Rounds values to the nearest f16, so a reference sees exactly what the GPU stores. */
export function roundToF16(values: Float32Array): Float32Array {
  return values.map((value) => float16BitsToFloat32(float32ToFloat16Bits(value)));
}
