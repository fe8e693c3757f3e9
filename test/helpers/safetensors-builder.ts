// Builds safetensors bytes by hand for tests, including deliberately broken ones.

export interface BuilderEntry {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
  /** Override the computed offsets (to break them). */
  offsets?: [number, number];
}

export function buildSafetensors(
  entries: BuilderEntry[],
  options: { headerOverride?: string; lengthOverride?: bigint; metadata?: Record<string, string> } = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  let offset = 0;
  for (const entry of entries) {
    header[entry.name] = { dtype: entry.dtype, shape: entry.shape, data_offsets: entry.offsets ?? [offset, offset + entry.data.byteLength] };
    offset += entry.data.byteLength;
  }
  let json = options.headerOverride ?? JSON.stringify(header);
  while (json.length % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, options.lengthOverride ?? BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.byteLength;
  for (const entry of entries) {
    out.set(entry.data, position);
    position += entry.data.byteLength;
  }
  return out;
}

export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}
