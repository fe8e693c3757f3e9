// Checkpoint stream → canonical weights in the engine's upload form, one tensor at a time.
// The header is checked against the revision before any tensor data is read, so a wrong file
// fails in the first kilobytes of a 3.8 GB download rather than at the end.
import type { Revision } from './revisions.ts';
import { expectedWeightsOf } from './revisions.ts';
import { readSafetensorsStream, type StreamProgress } from './safetensors-stream.ts';
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

export interface WeightStreamOptions {
  readonly revision: Revision;
  readonly format: UploadFormat;
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
      resolution = resolveWeights(header, expectedWeightsOf(options.revision));
      assertWeightsResolved(resolution, options.source ?? 'the weights file');
      for (const resolved of resolution.weights.values()) byFileName.set(resolved.info.name, resolved);
    },
    onTensor: async ({ info, bytes }) => {
      const resolved = byFileName.get(info.name)!;
      let data: Float32Array | Uint16Array;
      let clamped = 0;
      if (options.format === 'f32') {
        data = toFloat32(info, bytes);
      } else {
        const converted = toFloat16(info, bytes);
        data = converted.bits;
        clamped = converted.clampedCount;
      }
      if (resolved.transposed) data = transpose2d(data, info.shape[0], info.shape[1]);
      clampedCount += clamped;
      weightCount++;
      await options.onWeight({ canonical: resolved.canonical, shape: resolved.shape, format: options.format, data, clampedCount: clamped });
    },
  });
  return { resolution: resolution!, weightCount, clampedCount };
}

function transpose2d<T extends Float32Array | Uint16Array>(values: T, rows: number, cols: number): T {
  const out = new (values.constructor as { new (length: number): T })(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}
