// Model weights on the GPU: a safetensors stream is checked against the revision's expected
// tensors as soon as its header arrives, then every tensor is converted and uploaded the moment
// its last byte is in, so a 3.8 GB checkpoint never sits in host memory whole (ARCHITECTURE §7).
//
// Storage precision: frozen big matrices (Linear weights, wte) go to packed f16 by default, the
// small vectors (LayerNorm parameters, biases, pos_emb, Fourier features) stay f32 — the ops that
// read them (LayerNorm, bias add, elementwise) take f32. spec §3.3: bf16 → f16 clamps magnitudes
// past 65504; the count is reported so a caller can warn.
//
// Tensors larger than the device's maxStorageBufferBindingSize are split by rows: a Linear
// weight [out, in] becomes parts [rows_i, in] covering output features [rowStart, rowStart + rows),
// and the Linear op runs one matmul per part into the matching output columns. wte split by rows
// covers token ids [rowStart, rowStart + rows). Both towers take weights as byName()'s Tensor or
// SplitWeight (text-weights.ts, vision-weights.ts): Linears through the parts, wte through
// embeddingRowBlocks.
import type { Engine } from '../gpu/engine.ts';
import type { DType, Tensor } from '../gpu/tensor.ts';
import type { StreamProgress } from './safetensors-stream.ts';
import type { Revision } from './revisions.ts';
import { streamWeights } from './weight-stream.ts';

/**
 * 'auto': packed f16 for Linear weight matrices and wte with at least F16_MIN_ELEMENTS values,
 * f32 for everything else; 'f16': every 2-D weight matrix f16; 'f32': everything f32.
 */
export type WeightPrecision = 'auto' | 'f16' | 'f32';

/** Below this many values a matrix stays f32 under 'auto': the memory saved is negligible and
 *  small (tiny / demo) models keep full precision, which full fine-tuning needs. */
export const F16_MIN_ELEMENTS = 1 << 20;

export interface WeightsProgress extends StreamProgress {
  /** Bytes of GPU memory the tensors uploaded so far hold. */
  readonly gpuBytes: number;
  /** Values clamped to ±65504 so far while converting to f16. */
  readonly clampedToF16: number;
}

export interface LoadWeightsOptions {
  readonly precision?: WeightPrecision;
  readonly onProgress?: (progress: WeightsProgress) => void;
  /** Expected file size (Content-Length or file size), checked against the header. */
  readonly expectedByteLength?: number;
  /** Named in error messages ("model.safetensors", a URL). */
  readonly sourceName?: string;
  /** Per-tensor byte limit before splitting by rows; default the device's maxStorageBufferBindingSize. */
  readonly maxBindingBytes?: number;
  /** Canonical name → shape the file must hold; default the revision's full list (spec §3.1). */
  readonly expectedTensors?: ReadonlyMap<string, readonly number[]>;
}

/** One row block of a split weight (or the whole weight: rowStart 0, all rows). */
export interface WeightPart {
  readonly tensor: Tensor;
  readonly rowStart: number;
  readonly rows: number;
}

/** A weight split by rows: its whole shape and dtype, and its row blocks in order. */
export interface SplitWeight {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly parts: readonly WeightPart[];
}

export class ModelWeights {
  /**
   * Canonical name → tensor for every weight held in one piece. A split weight is absent here;
   * its parts are in `parts` and, for lookups by name, in this map as `<name>@rows<start>`.
   */
  readonly tensors = new Map<string, Tensor>();
  /** Canonical name → its row parts (one part when not split), in row order. */
  readonly parts = new Map<string, WeightPart[]>();
  gpuBytes = 0;
  clampedToF16 = 0;

  constructor(readonly revision: Revision) {}

  /** The tensor of a weight held in one piece. */
  get(name: string): Tensor {
    const tensor = this.tensors.get(name);
    if (tensor) return tensor;
    if (this.parts.has(name)) {
      throw new Error(`Weight ${name} is split into ${this.parts.get(name)!.length} row blocks (it exceeds this GPU's binding size); use rowParts('${name}').`);
    }
    throw new Error(`The loaded model has no weight named ${name}.`);
  }

  rowParts(name: string): readonly WeightPart[] {
    const parts = this.parts.get(name);
    if (!parts) throw new Error(`The loaded model has no weight named ${name}.`);
    return parts;
  }

  /** Canonical name → the tensor of a whole weight, or the SplitWeight of one split by rows. */
  byName(): Map<string, Tensor | SplitWeight> {
    const out = new Map<string, Tensor | SplitWeight>();
    for (const [name, parts] of this.parts) {
      if (parts.length === 1) {
        out.set(name, parts[0].tensor);
      } else {
        const [first] = parts;
        const rows = parts.reduce((total, part) => total + part.rows, 0);
        out.set(name, { shape: [rows, ...first.tensor.shape.slice(1)], dtype: first.tensor.dtype, parts });
      }
    }
    return out;
  }

  has(name: string): boolean {
    return this.parts.has(name);
  }

  add(name: string, parts: WeightPart[]): void {
    this.parts.set(name, parts);
    if (parts.length === 1) this.tensors.set(name, parts[0].tensor);
    else for (const part of parts) this.tensors.set(`${name}@rows${part.rowStart}`, part.tensor);
    for (const part of parts) this.gpuBytes += Math.ceil(part.tensor.byteLength / 4) * 4;
  }

  dispose(): void {
    for (const parts of this.parts.values()) for (const part of parts) part.tensor.dispose();
    this.parts.clear();
    this.tensors.clear();
    this.gpuBytes = 0;
  }
}

/**
 * Streams a safetensors file onto the GPU, keyed by canonical weight name. weight-stream.ts does
 * the header check and the dtype conversion; this adds the storage precision per weight, the
 * split by rows and the GPU byte count.
 */
export async function loadWeights(
  engine: Engine,
  stream: ReadableStream<Uint8Array>,
  revision: Revision,
  options: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const precision = options.precision ?? 'auto';
  const maxBindingBytes = options.maxBindingBytes ?? engine.limits.maxStorageBufferBindingSize;
  const weights = new ModelWeights(revision);
  try {
    await streamWeights(stream, {
      revision,
      expectedTensors: options.expectedTensors,
      expectedByteLength: options.expectedByteLength,
      source: options.sourceName,
      format: (weight) => storageDtype(weight, precision),
      onWeight({ canonical, shape, data, clampedCount }) {
        weights.clampedToF16 += clampedCount;
        weights.add(canonical, uploadWeightValues(engine, canonical, shape, data, maxBindingBytes));
      },
      onProgress(progress) {
        options.onProgress?.({ ...progress, gpuBytes: weights.gpuBytes, clampedToF16: weights.clampedToF16 });
      },
    });
  } catch (error) {
    weights.dispose();
    throw error;
  }
  return weights;
}

/** The dtype a weight is stored in on the GPU under a precision policy. */
export function storageDtype(weight: { canonical: string; shape: readonly number[] }, precision: WeightPrecision): 'f32' | 'f16' {
  if (precision === 'f32') return 'f32';
  const isMatrix = weight.shape.length === 2 && (weight.canonical.endsWith('.weight') || weight.canonical === 'model.text.wte');
  if (!isMatrix) return 'f32';
  // Fourier feature tables are tiny and read as f32 by the region head.
  if (weight.canonical.endsWith('_features')) return 'f32';
  if (precision === 'f16') return 'f16';
  return weight.shape[0] * weight.shape[1] >= F16_MIN_ELEMENTS ? 'f16' : 'f32';
}

/**
 * Uploads one weight (f32 values, or f16 bits as Uint16Array) as one tensor, or as row blocks
 * when it exceeds `maxBindingBytes`.
 */
export function uploadWeightValues(
  engine: Engine,
  canonical: string,
  shape: readonly number[],
  values: Float32Array | Uint16Array,
  maxBindingBytes: number,
): WeightPart[] {
  const dtype = values instanceof Uint16Array ? 'f16' : 'f32';
  const elementBytes = dtype === 'f16' ? 2 : 4;
  const rows = shape[0] ?? 1;
  const rowElements = shape.length === 0 ? 1 : values.length / Math.max(rows, 1);
  const totalBytes = values.length * elementBytes;
  if (totalBytes <= maxBindingBytes || shape.length < 2) {
    if (totalBytes > maxBindingBytes) {
      throw new Error(`${canonical} (${totalBytes} bytes) exceeds this GPU's storage binding limit of ${maxBindingBytes} bytes and cannot be split by rows.`);
    }
    return [{ tensor: engine.uploadWeight(values, shape, dtype, canonical), rowStart: 0, rows }];
  }
  // Even row counts keep every f16 part starting on a 4-byte word (matmul's maxRowsPerBinding).
  const rowsPerPart = Math.floor(maxBindingBytes / (rowElements * elementBytes) / 2) * 2;
  if (rowsPerPart < 2) {
    throw new Error(`${canonical}: one pair of rows (${2 * rowElements * elementBytes} bytes) exceeds this GPU's storage binding limit of ${maxBindingBytes} bytes.`);
  }
  const parts: WeightPart[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerPart) {
    const partRows = Math.min(rowsPerPart, rows - rowStart);
    const slice = values.subarray(rowStart * rowElements, (rowStart + partRows) * rowElements);
    const tensor = engine.uploadWeight(slice, [partRows, ...shape.slice(1)], dtype, `${canonical}[${rowStart}:${rowStart + partRows}]`);
    parts.push({ tensor, rowStart, rows: partRows });
  }
  return parts;
}
