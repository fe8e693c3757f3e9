// The trained model as a file: the base checkpoint with every LoRA adapter folded into the weight
// it adapts, W' = W + (alpha / r)·B·A (the merged model), and/or the weights a full fine-tune
// trained written over the base ones, with the base file's own tensor names, order, shapes and
// dtypes (bf16 stays bf16, f16 f16, f32 f32) and its metadata, so the file loads wherever the
// base model's model.safetensors loads (transformers, moondream's own loader, moontune).
//
// It streams: the base file is read tensor by tensor (safetensors-stream.ts) and each tensor is
// written out as soon as it is merged, in its own buffer, with backpressure from the consumer. A
// 3.7 GB model passes through in about the memory of its largest tensor.
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits, FLOAT16_MAX } from '../gpu/f16.ts';
import type { LoraAdapterData } from '../gpu/lora.ts';
import { readSafetensorsStream, type StreamProgress } from '../model/safetensors-stream.ts';
import type { SafetensorsHeader, TensorInfo } from '../model/safetensors.ts';
import { safetensorsHeader } from '../model/safetensors-writer.ts';
import { canonicalWeightName } from '../model/weight-names.ts';
import type { AdapterFile } from './adapter-export.ts';
import type { CheckpointTensor } from './checkpoint-store.ts';

export interface MergeOptions {
  /** Bytes read from the base file so far, with rate and ETA. */
  readonly onProgress?: (progress: StreamProgress) => void;
  /** The base file's size when known (checked against its header). */
  readonly expectedByteLength?: number;
}

/**
 * The bytes of the merged model.safetensors, as a stream. Errors (a base file that lacks an
 * adapted layer or has another shape, a truncated download) error the stream before anything
 * wrong is written past the header.
 */
export function mergedModelStream(base: ReadableStream<Uint8Array>, adapter: AdapterFile, options: MergeOptions = {}): ReadableStream<Uint8Array> {
  return trainedModelStream(base, { adapter }, options);
}

/** What training changed: LoRA adapters to fold in, and whole weights (canonical names, f32) to write over the base ones. */
export interface TrainedChanges {
  adapter?: AdapterFile;
  weights?: readonly CheckpointTensor[];
}

/** The bytes of the base model.safetensors with `changes` applied, as a stream (errors as mergedModelStream's). */
export function trainedModelStream(base: ReadableStream<Uint8Array>, changes: TrainedChanges, options: MergeOptions = {}): ReadableStream<Uint8Array> {
  // The readable side has no queue: each write waits until the consumer has taken the last one.
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 1 }, { highWaterMark: 0 });
  const writer = writable.getWriter();
  const write = async (chunk: Uint8Array) => {
    await writer.ready;
    await writer.write(chunk);
  };
  const { adapter, weights = [] } = changes;
  const scale = adapter ? adapter.config.alpha / adapter.config.rank : 0;
  const adapterOfTensor = new Map<string, LoraAdapterData>();
  const weightOfTensor = new Map<string, CheckpointTensor>();

  const merge = async () => {
    await readSafetensorsStream(base, {
      expectedByteLength: options.expectedByteLength,
      onProgress: options.onProgress,
      onHeader: async (header) => {
        if (adapter) matchAdapters(header, adapter, adapterOfTensor);
        matchWeights(header, weights, weightOfTensor);
        const metadata = {
          ...header.metadata,
          // transformers refuses safetensors files whose metadata names no framework.
          format: header.metadata.format ?? 'pt',
          ...(adapter ? { moontune_merged_lora: `rank ${adapter.config.rank}, alpha ${adapter.config.alpha}, targets ${adapter.config.targets.join(',')}, revision ${adapter.revision}` } : {}),
          ...(weights.length > 0 ? { moontune_fine_tuned: `${weights.length} tensors trained in moontune` } : {}),
        };
        await write(safetensorsHeader(header.tensors, metadata));
      },
      onTensor: async ({ info, bytes }) => {
        const trained = weightOfTensor.get(info.name);
        if (trained) writeValues(info, bytes, trained.values);
        const data = adapterOfTensor.get(info.name);
        if (data) addLowRankUpdate(info, bytes, data, adapter!.config.rank, scale);
        await write(bytes);
      },
    });
    await writer.close();
  };
  merge().catch((error) => writer.abort(error).catch(() => undefined));
  return readable;
}

/** Maps each adapted layer to its weight in the file (any naming weight-names.ts knows), checking shapes and dtypes. */
function matchAdapters(header: SafetensorsHeader, adapter: AdapterFile, adapterOfTensor: Map<string, LoraAdapterData>): void {
  const fileNameOf = new Map<string, TensorInfo>();
  for (const info of header.tensors) {
    const canonical = canonicalWeightName(info.name)?.canonical;
    if (canonical) fileNameOf.set(canonical, info);
  }
  for (const [layer, data] of adapter.adapters) {
    const info = fileNameOf.get(`${layer}.weight`);
    if (!info) throw new Error(`The base model has no weight for the adapted layer ${layer}: the adapter was trained on another model (${adapter.revision}); merge it into that model's file.`);
    if (info.shape.length !== 2 || info.shape[0] !== data.outFeatures || info.shape[1] !== data.inFeatures) {
      throw new Error(`${info.name} is [${info.shape.join(', ')}] but its adapter is for [${data.outFeatures}, ${data.inFeatures}]: the adapter was trained on another model (${adapter.revision}).`);
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') throw new Error(`${info.name} is stored as ${info.dtype}; only F32, F16 and BF16 weights can take a merged adapter.`);
    adapterOfTensor.set(info.name, data);
  }
}

/** Maps each trained weight to its tensor in the file (any naming weight-names.ts knows), checking sizes and dtypes. */
function matchWeights(header: SafetensorsHeader, weights: readonly CheckpointTensor[], weightOfTensor: Map<string, CheckpointTensor>): void {
  const wanted = new Map(weights.map((tensor) => [tensor.name, tensor]));
  for (const info of header.tensors) {
    const canonical = canonicalWeightName(info.name)?.canonical;
    const trained = canonical === undefined ? undefined : wanted.get(canonical);
    if (!trained) continue;
    const size = info.shape.reduce((product, dimension) => product * dimension, 1);
    if (size !== trained.values.length) throw new Error(`${info.name} holds ${size} values but the trained ${trained.name} has ${trained.values.length}: it was trained on another model.`);
    if (!(info.dtype in CODECS)) throw new Error(`${info.name} is stored as ${info.dtype}; only F32, F16 and BF16 weights can be written back.`);
    weightOfTensor.set(info.name, trained);
    wanted.delete(trained.name);
  }
  const missing = [...wanted.keys()];
  if (missing.length > 0) throw new Error(`The base model file has no tensor for the trained ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}: it was trained on another model.`);
}

/** bytes (a tensor in the file's dtype) = values, each rounded to the file's dtype. */
function writeValues(info: TensorInfo, bytes: Uint8Array, values: Float32Array): void {
  const codec = CODECS[info.dtype as keyof typeof CODECS];
  const target = codec.view(bytes);
  for (let i = 0; i < values.length; i++) target[i] = codec.encode(values[i]);
}

/**
 * bytes (W [out, in] in the file's dtype) += scale·B·A in place, row by row: the update of a row is
 * summed in float64, added to the float32 value of W, and rounded to the file's dtype once more.
 */
function addLowRankUpdate(info: TensorInfo, bytes: Uint8Array, { a, b }: LoraAdapterData, rank: number, scale: number): void {
  const [rows, columns] = info.shape;
  const codec = CODECS[info.dtype as keyof typeof CODECS];
  const values = codec.view(bytes);
  const update = new Float64Array(columns);
  for (let row = 0; row < rows; row++) {
    update.fill(0);
    for (let k = 0; k < rank; k++) {
      const coefficient = scale * b[row * rank + k];
      if (coefficient === 0) continue;
      const aRow = k * columns;
      for (let column = 0; column < columns; column++) update[column] += coefficient * a[aRow + column];
    }
    const offset = row * columns;
    for (let column = 0; column < columns; column++) {
      values[offset + column] = codec.encode(Math.fround(codec.decode(values[offset + column]) + update[column]));
    }
  }
}

// Element access per file dtype: a typed view over the tensor's bytes, element → number, number → element.
const CODECS = {
  F32: { view: (bytes: Uint8Array) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), decode: (value: number) => value, encode: (value: number) => value },
  F16: {
    view: (bytes: Uint8Array) => new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2),
    decode: float16BitsToFloat32,
    // Clamped like the loader clamps (ARCHITECTURE.md decision 2) rather than written as ±Infinity.
    encode: (value: number) => float32ToFloat16Bits(Math.max(-FLOAT16_MAX, Math.min(FLOAT16_MAX, value))),
  },
  BF16: {
    view: (bytes: Uint8Array) => new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2),
    decode: bfloat16BitsToFloat32,
    encode: float32ToBfloat16Bits,
  },
} as const;
