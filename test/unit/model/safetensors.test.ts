import { describe, expect, it } from 'vitest';
import { SafetensorsFile, SafetensorsError } from '../../../src/model/safetensors.ts';
import { toFloat16, toFloat32, FLOAT16_MAX } from '../../../src/model/weight-conversion.ts';
import { float32ToFloat16Bits } from '../../../src/gpu/f16.ts';
import { buildSafetensors, f32Bytes } from '../../helpers/safetensors-builder.ts';
import { fixtureBytes, weightsFile } from '../../helpers/fixture-files.ts';

/** bf16 round-to-nearest-even of f32 bits, computed the textbook way (bias trick), for comparison. */
function bf16RoundBits(bits: number): number {
  return (((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16) >>> 0;
}

describe('safetensors header on the fixture files', () => {
  it('reads the 96 f32 tensors with the HF names, in file order, covering the file', () => {
    const file = weightsFile();
    expect(file.header.tensors).toHaveLength(96);
    expect(file.header.tensors.every((tensor) => tensor.dtype === 'F32')).toBe(true);
    expect(file.info('model.text.wte').shape).toEqual([512, 64]);
    expect(file.info('model.vision.pos_emb').shape).toEqual([1, 16, 32]);
    expect(file.header.fileByteLength).toBe(1_020_712);
    expect(file.header.metadata.format).toBe('pt');
    // fixture README: every tensor's absolute offset is a multiple of its element size.
    for (const tensor of file.header.tensors) expect((file.header.dataOffset + tensor.begin) % 4).toBe(0);
  });

  it('bf16 file widened to f32 equals the f32 file rounded to bf16 (RNE), tensor by tensor', () => {
    const f32 = weightsFile('model.safetensors');
    const bf16 = weightsFile('model.bf16.safetensors');
    expect(bf16.names.sort()).toEqual(f32.names.sort());
    let compared = 0;
    for (const name of f32.names) {
      const widened = toFloat32(bf16.info(name), bf16.tensorBytes(name));
      const original = new Uint32Array(toFloat32(f32.info(name), f32.tensorBytes(name)).buffer);
      const widenedBits = new Uint32Array(widened.buffer);
      expect(bf16.info(name).dtype).toBe('BF16');
      for (let i = 0; i < original.length; i++) {
        if (widenedBits[i] !== bf16RoundBits(original[i])) throw new Error(`${name}[${i}]: ${widenedBits[i]} vs ${bf16RoundBits(original[i])}`);
      }
      compared += original.length;
    }
    expect(compared).toBeGreaterThan(200_000);
  });

  it('f32 and bf16 fixture tensors give the same f16 as the engine host converter', () => {
    const bf16 = weightsFile('model.bf16.safetensors');
    const name = 'model.text.blocks.0.attn.qkv.weight';
    const { bits, clampedCount } = toFloat16(bf16.info(name), bf16.tensorBytes(name));
    const widened = toFloat32(bf16.info(name), bf16.tensorBytes(name));
    expect(clampedCount).toBe(0);
    for (let i = 0; i < widened.length; i++) expect(bits[i]).toBe(float32ToFloat16Bits(widened[i]));
  });
});

describe('f16 conversion', () => {
  it('rounds to nearest even like an independent converter, over normals, subnormals and ties', () => {
    const values = [0, -0, 1, -1, 0.1, 1 / 3, 65504, -65504, 6.1035156e-5, 5.96e-8, 2.98e-8, 2 ** -25, 2 ** -25 * 1.0001, 2 ** -24 * 1.5, 2 ** -24 * 2.5,
      1 + 2 ** -11, 1 + 3 * 2 ** -11, 2048 + 1, 2048 + 3, 1e-10, 123.456, -7.25e-6];
    let seed = 12345;
    for (let i = 0; i < 20000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const exponent = (seed % 40) - 28;
      values.push(((seed / 2 ** 32) * 2 - 1) * 2 ** exponent);
    }
    const bytes = f32Bytes(values);
    const info = { name: 't', dtype: 'F32' as const, shape: [values.length], begin: 0, end: bytes.byteLength };
    const { bits, clampedCount } = toFloat16(info, bytes);
    expect(clampedCount).toBe(0);
    const rounded = new Float32Array(values);
    for (let i = 0; i < values.length; i++) {
      if (bits[i] !== float32ToFloat16Bits(rounded[i])) throw new Error(`value ${rounded[i]}: ${bits[i]} vs ${float32ToFloat16Bits(rounded[i])}`);
    }
  });

  it('clamps finite values beyond ±65504 and counts them; infinities and NaN pass through', () => {
    const values = [65504, 65505, 65519, 65520, 1e6, -1e30, Infinity, -Infinity, NaN, 3e38];
    const bytes = f32Bytes(values);
    const { bits, clampedCount } = toFloat16({ name: 't', dtype: 'F32', shape: [values.length], begin: 0, end: bytes.byteLength }, bytes);
    expect(clampedCount).toBe(6);
    expect(Array.from(bits.slice(0, 6))).toEqual([0x7bff, 0x7bff, 0x7bff, 0x7bff, 0x7bff, 0xfbff]);
    expect(bits[6]).toBe(0x7c00);
    expect(bits[7]).toBe(0xfc00);
    expect(bits[8] & 0x7c00).toBe(0x7c00);
    expect(bits[8] & 0x3ff).not.toBe(0);
    expect(bits[9]).toBe(0x7bff);
    expect(FLOAT16_MAX).toBe(65504);
  });

  it('converts BF16 through one rounding (bf16 is exactly an f32)', () => {
    // bf16 0x3f81 = 1.0078125 = 1 + 2^-7: exact in f16. 0x4780 = 65536: clamped.
    const raw = new Uint16Array([0x3f81, 0x4780, 0xc780, 0x3380]);
    const bytes = new Uint8Array(raw.buffer);
    const info = { name: 't', dtype: 'BF16' as const, shape: [4], begin: 0, end: 8 };
    const { bits, clampedCount } = toFloat16(info, bytes);
    expect(clampedCount).toBe(2);
    expect(bits[0]).toBe(float32ToFloat16Bits(1.0078125));
    expect(bits[1]).toBe(0x7bff);
    expect(bits[2]).toBe(0xfbff);
    expect(bits[3]).toBe(float32ToFloat16Bits(2 ** -24)); // 0x3380 = 2^-24: the smallest f16 subnormal
    expect(Array.from(toFloat32(info, bytes))).toEqual([1.0078125, 65536, -65536, 2 ** -24]);
  });

  it('converts all 65,536 bf16 bit patterns like the engine converter, except finite overflow which clamps', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const info = { name: 'all', dtype: 'BF16' as const, shape: [65536], begin: 0, end: 131072 };
    const { bits, clampedCount } = toFloat16(info, new Uint8Array(all.buffer));
    const widened = toFloat32(info, new Uint8Array(all.buffer));
    let mismatches = 0;
    let expectedClamps = 0;
    for (let i = 0; i < 65536; i++) {
      const value = widened[i];
      let expected = float32ToFloat16Bits(value);
      if (Number.isFinite(value) && Math.abs(value) > 65504) {
        expected = value > 0 ? 0x7bff : 0xfbff;
        expectedClamps++;
      }
      if (Number.isNaN(value) ? (bits[i] & 0x7c00) !== 0x7c00 || (bits[i] & 0x3ff) === 0 : bits[i] !== expected) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(clampedCount).toBe(expectedClamps);
    expect(expectedClamps).toBe(112 * 128 * 2); // exponent fields 143…254 (values ≥ 2^16), any mantissa, either sign
  });

  it('refuses integer tensors with a message naming the tensor', () => {
    const info = { name: 'ids', dtype: 'I32' as const, shape: [1], begin: 0, end: 4 };
    expect(() => toFloat32(info, new Uint8Array(4))).toThrow(/'ids' is I32/);
  });
});

describe('broken safetensors files give errors that name the problem', () => {
  const good = () => [
    { name: 'a', dtype: 'F32', shape: [2], data: f32Bytes([1, 2]) },
    { name: 'b', dtype: 'F32', shape: [1, 3], data: f32Bytes([3, 4, 5]) },
  ];

  it('accepts the well-formed file', () => {
    const file = new SafetensorsFile(buildSafetensors(good()));
    expect(Array.from(file.float32('b'))).toEqual([3, 4, 5]);
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', () => new Uint8Array(5), /shorter than the 8-byte/],
    ['a header length past the file end', () => buildSafetensors(good(), { lengthOverride: 5000n }), /runs past the end/],
    ['a header length over 100 MB', () => buildSafetensors(good(), { lengthOverride: 2n ** 40n }), /exceeds the 100000000-byte limit/],
    ['bad JSON', () => buildSafetensors(good(), { headerOverride: '{"a": {"dtype": ' }), /not valid UTF-8 JSON/],
    ['an unknown dtype', () => buildSafetensors([{ name: 'w', dtype: 'F12', shape: [2], data: f32Bytes([1, 2]) }]), /Tensor 'w': unknown dtype "F12"/],
    ['offsets out of range', () => buildSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: f32Bytes([1, 2]), offsets: [0, 16] }]), /'w'.*cover 16 bytes but F32\[2\] needs 8/],
    ['a shape that does not match the bytes', () => buildSafetensors([{ name: 'w', dtype: 'F32', shape: [3], data: f32Bytes([1, 2]) }]), /'w'.*needs 12/],
    ['overlapping tensors', () => buildSafetensors([
      { name: 'a', dtype: 'F32', shape: [2], data: f32Bytes([1, 2]) },
      { name: 'b', dtype: 'F32', shape: [2], data: f32Bytes([3, 4]), offsets: [4, 12] },
    ]), /'b'.*overlaps 'a'/],
    ['a hole in the data', () => buildSafetensors([
      { name: 'a', dtype: 'F32', shape: [1], data: f32Bytes([1]), offsets: [4, 8] },
    ]), /'a' starts at data offset 4, leaving a hole/],
    ['negative offsets', () => buildSafetensors([{ name: 'w', dtype: 'F32', shape: [1], data: f32Bytes([1]), offsets: [-4, 0] }]), /'w': data_offsets/],
    ['a non-object header', () => buildSafetensors([], { headerOverride: '[1,2]' }), /not an object/],
    ['a truncated data section', () => buildSafetensors(good()).slice(0, -3), /truncated: .* tensor 'b' is incomplete/],
    ['trailing bytes', () => { const bytes = buildSafetensors(good()); const longer = new Uint8Array(bytes.byteLength + 4); longer.set(bytes); return longer; }, /4 bytes after the last tensor/],
  ];
  for (const [what, make, message] of cases) {
    it(`rejects ${what}`, () => {
      let error: unknown;
      try {
        new SafetensorsFile(make());
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(SafetensorsError);
      expect((error as Error).message).toMatch(message);
    });
  }

  it('reads integer and byte tensors of the golden file', () => {
    const golden = new SafetensorsFile(fixtureBytes('golden.safetensors'));
    expect(Array.from(golden.int32('tiling'))).toEqual([2, 3]);
    expect(golden.uint8('crops_u8')).toHaveLength(7 * 56 * 56 * 3);
    expect(() => golden.float32('tiling')).toThrow(/'tiling' is I32, expected F32/);
    expect(() => golden.info('nope')).toThrow(/No tensor named 'nope'/);
  });
});
