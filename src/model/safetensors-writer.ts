// Writing safetensors files: f32 tensors in order, the JSON header padded with spaces to a
// multiple of 8 so every tensor's data stays aligned for typed-array views. Used for the demo
// model, exported LoRA adapters and the CLI's checkpoints; safetensors.ts reads them back. The
// header alone (`safetensorsHeader`) serves writers that stream the data themselves (the merged
// model export).
import type { SafetensorsDType } from './safetensors.ts';

/** One f32 tensor to write. */
export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** A header entry: the tensor's dtype, shape and [begin, end) byte offsets in the data section. */
export interface HeaderEntry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** The 8-byte little-endian length and the JSON header, padded with spaces to keep the data 8-byte aligned. */
export function safetensorsHeader(entries: readonly HeaderEntry[], metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {};
  for (const { name, dtype, shape, begin, end } of entries) header[name] = { dtype, shape, data_offsets: [begin, end] };
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (new TextEncoder().encode(headerText).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  return out;
}

/** A safetensors file of f32 tensors (header padded with spaces to keep the data 8-byte aligned). */
export function writeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const entries: HeaderEntry[] = [];
  let offset = 0;
  for (const { name, shape, values } of tensors) {
    const count = shape.reduce((product, dim) => product * dim, 1);
    if (values.length !== count) throw new Error(`Tensor ${name} has ${values.length} values for shape [${shape.join(', ')}].`);
    entries.push({ name, dtype: 'F32', shape, begin: offset, end: offset + values.byteLength });
    offset += values.byteLength;
  }
  const header = safetensorsHeader(entries, metadata);
  const out = new Uint8Array(header.length + offset);
  out.set(header);
  let position = header.length;
  for (const { values } of tensors) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), position);
    position += values.byteLength;
  }
  return out;
}
