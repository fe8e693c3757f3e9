// A checkpoint of random weights laid out as a release's model.safetensors: the release's tensor
// names (HF 2025 names, or the 2024 legacy names with the Fourier tables transposed), its dtype
// and the canonical order, as a byte stream. The full-size smoke run serves it from a stand-in hub
// and loads it through the same download and streaming path as the real 3.7 GB file. Values as
// weights-random.ts draws them; the same seed gives the same bytes.
import { safetensorsHeader, type HeaderEntry } from './safetensors-writer.ts';
import { expectedWeightsOf, type Revision } from './revisions.ts';
import { fileWeightName } from './weight-names.ts';
import { RandomWeightValues, type RandomValueFormat } from './weights-random.ts';

export type CheckpointDtype = 'BF16' | 'F16' | 'F32';

export interface RandomCheckpointOptions {
  /** Default: the dtype the revision's release stores (F32 for a revision without a release). */
  readonly dtype?: CheckpointDtype;
  readonly seed?: number;
}

export interface RandomCheckpoint {
  readonly dtype: CheckpointDtype;
  /** Header entries in file order. */
  readonly entries: readonly HeaderEntry[];
  readonly byteLength: number;
  /** A fresh stream of the file's bytes (each call starts again from the same seed). */
  stream(): ReadableStream<Uint8Array>;
}

/** Largest piece of a tensor made at once (wte alone is 105 M values). */
const PIECE_VALUES = 1 << 22;
const FORMAT: Record<CheckpointDtype, RandomValueFormat> = { BF16: 'bf16', F16: 'f16', F32: 'f32' };

export function randomCheckpoint(revision: Revision, options: RandomCheckpointOptions = {}): RandomCheckpoint {
  const dtype = options.dtype ?? revision.weights?.dtype ?? 'F32';
  const bytesPerValue = dtype === 'F32' ? 4 : 2;
  const tensors: { canonical: string; count: number }[] = [];
  const entries: HeaderEntry[] = [];
  let offset = 0;
  for (const [canonical, shape] of expectedWeightsOf(revision)) {
    const { name, transposed } = fileWeightName(canonical, revision.weightNaming);
    const count = shape.reduce((product, dim) => product * dim, 1);
    entries.push({ name, dtype, shape: transposed ? [...shape].reverse() : shape, begin: offset, end: offset + count * bytesPerValue });
    tensors.push({ canonical, count });
    offset += count * bytesPerValue;
  }
  const header = safetensorsHeader(entries, { format: 'pt' });
  const format = FORMAT[dtype];

  function stream(): ReadableStream<Uint8Array> {
    const random = new RandomWeightValues(options.seed ?? 1);
    let tensor = -1;
    let done = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (tensor === -1) {
          tensor = 0;
          return void controller.enqueue(header.slice());
        }
        if (tensor === tensors.length) return void controller.close();
        const { canonical, count } = tensors[tensor];
        const length = Math.min(PIECE_VALUES, count - done);
        const values = format === 'f32' ? new Float32Array(length) : new Uint16Array(length);
        random.fill(canonical, values, format);
        controller.enqueue(new Uint8Array(values.buffer));
        done += length;
        if (done === count) {
          tensor++;
          done = 0;
        }
      },
    });
  }
  return { dtype, entries, byteLength: header.length + offset, stream };
}
