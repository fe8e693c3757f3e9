// safetensors: an 8-byte little-endian header length N, N bytes of JSON header, then the raw
// little-endian row-major tensor data. Each header entry is {dtype, shape, data_offsets: [begin,
// end)} with offsets counted from the start of the data; `__metadata__` holds string pairs.
// This file parses and validates the header and gives typed access to an in-memory file; the
// streaming reader for multi-GB files is in safetensors-stream.ts.

export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8,
  I64: 8,
  U64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
} as const;

export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BYTES;

/** The reference implementation refuses headers over 100 MB; a real model's header is ~100 KB. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte offsets relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Tensors in file order (ascending offsets). */
  readonly tensors: readonly TensorInfo[];
  readonly byName: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute file offset of the data section: 8 + header length. */
  readonly dataOffset: number;
  /** Bytes of tensor data. */
  readonly dataByteLength: number;
  /** Size the whole file must have. */
  readonly fileByteLength: number;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

const HELP = 'The file is not a valid safetensors file (or was cut short while downloading); download it again.';

/** Reads the header length from the first 8 bytes and checks it is plausible. */
export function readHeaderLength(first8: Uint8Array, fileByteLength?: number): number {
  if (first8.byteLength < 8) throw new SafetensorsError(`File is ${first8.byteLength} bytes, shorter than the 8-byte header length. ${HELP}`);
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const length = Number(view.getBigUint64(0, true));
  if (length === 0) throw new SafetensorsError(`Header length is 0. ${HELP}`);
  if (length > MAX_HEADER_BYTES) {
    throw new SafetensorsError(`Header length ${length} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit: not a safetensors file? ${HELP}`);
  }
  if (fileByteLength !== undefined && 8 + length > fileByteLength) {
    throw new SafetensorsError(`Header length ${length} bytes runs past the end of the ${fileByteLength}-byte file. ${HELP}`);
  }
  return length;
}

/**
 * Parses and validates the JSON header (`headerBytes` = the N bytes after the length). With
 * `fileByteLength`, also checks that the file holds exactly the data the header describes.
 */
export function parseHeader(headerBytes: Uint8Array, fileByteLength?: number): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new SafetensorsError(`Header is not valid UTF-8 JSON (${(error as Error).message}). ${HELP}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(`Header JSON is not an object. ${HELP}`);

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(entry);
      continue;
    }
    tensors.push(parseEntry(name, entry));
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);

  // The format requires the data to be fully covered, without holes or overlaps.
  let expectedBegin = 0;
  for (const tensor of tensors) {
    if (tensor.begin < expectedBegin) {
      const previous = tensors[tensors.indexOf(tensor) - 1];
      throw new SafetensorsError(`Tensor '${tensor.name}' [${tensor.begin}, ${tensor.end}) overlaps '${previous.name}' [${previous.begin}, ${previous.end}). ${HELP}`);
    }
    if (tensor.begin > expectedBegin) throw new SafetensorsError(`Tensor '${tensor.name}' starts at data offset ${tensor.begin}, leaving a hole after ${expectedBegin}. ${HELP}`);
    expectedBegin = tensor.end;
  }
  const dataOffset = 8 + headerBytes.byteLength;
  const dataByteLength = expectedBegin;
  const header: SafetensorsHeader = {
    tensors,
    byName: new Map(tensors.map((tensor) => [tensor.name, tensor])),
    metadata,
    dataOffset,
    dataByteLength,
    fileByteLength: dataOffset + dataByteLength,
  };
  if (fileByteLength !== undefined) checkFileLength(header, fileByteLength);
  return header;
}

/** Throws when a file of `fileByteLength` bytes cannot hold exactly the data of `header`. */
export function checkFileLength(header: SafetensorsHeader, fileByteLength: number): void {
  if (fileByteLength < header.fileByteLength) {
    const cut = header.tensors.find((tensor) => header.dataOffset + tensor.end > fileByteLength);
    throw new SafetensorsError(
      `File is truncated: ${fileByteLength} of ${header.fileByteLength} bytes` +
        (cut ? `; tensor '${cut.name}' is incomplete` : '') + `. ${HELP}`,
    );
  }
  if (fileByteLength > header.fileByteLength) {
    throw new SafetensorsError(`File has ${fileByteLength - header.fileByteLength} bytes after the last tensor. ${HELP}`);
  }
}

function parseEntry(name: string, entry: unknown): TensorInfo {
  const where = `Tensor '${name}'`;
  if (typeof entry !== 'object' || entry === null) throw new SafetensorsError(`${where}: header entry is not an object. ${HELP}`);
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
    throw new SafetensorsError(`${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')}).`);
  }
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
    throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} is not a list of non-negative integers. ${HELP}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0)) {
    throw new SafetensorsError(`${where}: data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers. ${HELP}`);
  }
  const [begin, end] = offsets as number[];
  if (end < begin) throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}) end before they begin. ${HELP}`);
  const itemBytes = SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDType];
  const expected = (shape as number[]).reduce((product, dim) => product * dim, 1) * itemBytes;
  if (end - begin !== expected) {
    throw new SafetensorsError(`${where}: data_offsets cover ${end - begin} bytes but ${dtype}[${shape.join(', ')}] needs ${expected}. ${HELP}`);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], begin, end };
}

function parseMetadata(entry: unknown): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new SafetensorsError(`__metadata__ is not an object. ${HELP}`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') throw new SafetensorsError(`__metadata__.${key} is not a string. ${HELP}`);
    metadata[key] = value;
  }
  return metadata;
}

export function elementCountOf(tensor: TensorInfo): number {
  return tensor.shape.reduce((product, dim) => product * dim, 1);
}

/** A whole safetensors file in memory (small files: fixtures, adapters, goldens). */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;

  constructor(readonly bytes: Uint8Array) {
    const headerLength = readHeaderLength(bytes, bytes.byteLength);
    this.header = parseHeader(bytes.subarray(8, 8 + headerLength), bytes.byteLength);
  }

  get names(): string[] {
    return this.header.tensors.map((tensor) => tensor.name);
  }

  info(name: string): TensorInfo {
    const tensor = this.header.byName.get(name);
    if (!tensor) throw new SafetensorsError(`No tensor named '${name}' in this file.`);
    return tensor;
  }

  /** The tensor's raw bytes (a view into the file). */
  tensorBytes(name: string): Uint8Array {
    const tensor = this.info(name);
    return this.bytes.subarray(this.header.dataOffset + tensor.begin, this.header.dataOffset + tensor.end);
  }

  float32(name: string): Float32Array {
    return typedCopy(this.expect(name, 'F32'), Float32Array);
  }

  int32(name: string): Int32Array {
    return typedCopy(this.expect(name, 'I32'), Int32Array);
  }

  uint8(name: string): Uint8Array {
    return this.expect(name, 'U8').slice();
  }

  private expect(name: string, dtype: SafetensorsDType): Uint8Array {
    const tensor = this.info(name);
    if (tensor.dtype !== dtype) throw new SafetensorsError(`Tensor '${name}' is ${tensor.dtype}, expected ${dtype}.`);
    return this.tensorBytes(name);
  }
}

/** Copies little-endian bytes into a fresh typed array (copying sidesteps alignment). */
export function typedCopy<T extends Float32Array | Int32Array | Uint16Array | Uint32Array>(
  bytes: Uint8Array,
  Type: { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
): T {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Type(copy.buffer);
}
