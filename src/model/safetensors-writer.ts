// Writing safetensors files: f32 tensors in order, the JSON header padded with spaces to a
// multiple of 8 so every tensor's data stays aligned for typed-array views. Used for the demo
// model, exported LoRA adapters and the CLI's checkpoints; safetensors.ts reads them back.

/** One f32 tensor to write. */
export interface NamedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** A safetensors file of f32 tensors (header padded with spaces to keep the data 8-byte aligned). */
export function writeSafetensors(tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = Object.keys(metadata).length > 0 ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const { name, shape, values } of tensors) {
    const count = shape.reduce((product, dim) => product * dim, 1);
    if (values.length !== count) throw new Error(`Tensor ${name} has ${values.length} values for shape [${shape.join(', ')}].`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.byteLength] };
    offset += values.byteLength;
  }
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (new TextEncoder().encode(headerText).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const { values } of tensors) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), position);
    position += values.byteLength;
  }
  return out;
}
