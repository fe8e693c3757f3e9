// Checkpoint stream → canonical weights in the engine's upload form, one tensor at a time.
// The header is checked against the revision before any tensor data is read, so a wrong file
// fails in the first kilobytes of a 3.8 GB download rather than at the end. This is the one place
// that checks headers and converts dtypes; weights.ts builds GPU tensors on top of it.
import type { Revision } from './revisions.ts';
import { expectedWeightsOf } from './revisions.ts';
import { readSafetensorsStream, type StreamProgress } from './safetensors-stream.ts';
import type { SafetensorsHeader } from './safetensors.ts';
import { assertWeightsResolved, resolveWeights, type ResolvedWeight, type WeightResolution } from './weight-names.ts';
import { toFloat16, toFloat32 } from './weight-conversion.ts';

export type UploadFormat = 'f16' | 'f32';

export interface LoadedWeight {
  readonly canonical: string;
  /** Canonical shape (row-major). */
  readonly shape: readonly number[];
  readonly format: UploadFormat;
  /** f32 values, or f16 bits. */
  readonly data: Float32Array | Uint16Array;
  /** f16 only: values beyond ±65504 clamped to ±65504. */
  readonly clampedCount: number;
}

/** A weight as the header describes it, before its data: enough to choose its upload format. */
export interface WeightDescription {
  readonly canonical: string;
  /** Canonical shape (row-major). */
  readonly shape: readonly number[];
}

export interface WeightStreamOptions {
  readonly revision: Revision;
  /** One format for every weight, or a choice per weight (weights.ts stores small vectors as f32). */
  readonly format: UploadFormat | ((weight: WeightDescription) => UploadFormat);
  /** Canonical name → shape the file must hold; default the revision's full list (spec §3.1). */
  readonly expectedTensors?: ReadonlyMap<string, readonly number[]>;
  /** Receives each weight; the stream waits for it (e.g. a GPU upload). */
  onWeight(weight: LoadedWeight): void | Promise<void>;
  onProgress?(progress: StreamProgress): void;
  /** Content-Length or file size, if known. */
  readonly expectedByteLength?: number;
  /** Names the file in error messages. */
  readonly source?: string;
}

export interface WeightStreamSummary {
  readonly resolution: WeightResolution;
  readonly weightCount: number;
  readonly clampedCount: number;
}

export async function streamWeights(stream: ReadableStream<Uint8Array>, options: WeightStreamOptions): Promise<WeightStreamSummary> {
  let resolution: WeightResolution | undefined;
  const byFileName = new Map<string, ResolvedWeight>();
  let weightCount = 0;
  let clampedCount = 0;
  await readSafetensorsStream(stream, {
    expectedByteLength: options.expectedByteLength,
    onProgress: options.onProgress,
    onHeader: (header) => {
      const source = options.source ?? 'the weights file';
      resolution = resolveWeights(header, options.expectedTensors ?? expectedWeightsOf(options.revision));
      assertWeightsResolved(resolution, source);
      assertFloatTensors(header, source);
      for (const resolved of resolution.weights.values()) byFileName.set(resolved.info.name, resolved);
    },
    onTensor: async ({ info, bytes }) => {
      const resolved = byFileName.get(info.name)!;
      const format = typeof options.format === 'function' ? options.format(resolved) : options.format;
      let data: Float32Array | Uint16Array;
      let clamped = 0;
      if (format === 'f32') {
        data = toFloat32(info, bytes);
      } else {
        const converted = toFloat16(info, bytes);
        data = converted.bits;
        clamped = converted.clampedCount;
      }
      if (resolved.transposed) data = transpose2d(data, info.shape[0], info.shape[1]);
      clampedCount += clamped;
      weightCount++;
      await options.onWeight({ canonical: resolved.canonical, shape: resolved.shape, format, data, clampedCount: clamped });
    },
  });
  return { resolution: resolution!, weightCount, clampedCount };
}

/** Checked with the header, so an int4-quantised file fails before its data is downloaded. */
function assertFloatTensors(header: SafetensorsHeader, source: string): void {
  const notFloat = header.tensors.filter((info) => !['F32', 'F16', 'BF16'].includes(info.dtype));
  if (notFloat.length > 0) {
    throw new Error(
      `The weights in ${source} hold non-float tensors (${notFloat.slice(0, 5).map((info) => `${info.name}: ${info.dtype}`).join(', ')}); ` +
        'moontune loads F32, F16 and BF16 checkpoints only (int4-quantised files are not supported).',
    );
  }
}

/** Legacy Fourier feature tables are stored [in, out] and used [out, in] (spec §3.2). */
function transpose2d<T extends Float32Array | Uint16Array>(values: T, rows: number, cols: number): T {
  const out = new (values.constructor as { new (length: number): T })(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}
