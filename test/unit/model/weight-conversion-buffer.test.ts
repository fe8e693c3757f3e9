import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { toFloat32 } from '../../../src/model/weight-conversion.ts';

describe('weight conversion of a view into a larger buffer', () => {
  it('converts only the tensor bytes of a Node Buffer slice, not the whole file', () => {
    const file = Buffer.from(new Float32Array([9, 1.5, -2, 9]).buffer);
    const tensorBytes = file.subarray(4, 12); // the middle two floats
    const values = toFloat32({ name: "t", dtype: "F32", shape: [2], begin: 4, end: 12 }, tensorBytes);
    expect(Array.from(values)).toEqual([1.5, -2]);
  });
});
