// Canonical weights as float32 arrays for the CPU reference: every tensor a revision expects,
// read from an in-memory safetensors file (any supported naming and float dtype).
import { SafetensorsFile } from '../safetensors.ts';
import { expectedWeightsOf, type Revision } from '../revisions.ts';
import { assertWeightsResolved, resolveWeights } from '../weight-names.ts';
import { toFloat32 } from '../weight-conversion.ts';
import type { LayerNormWeights, LinearWeights } from './layers.ts';

export class ReferenceWeights {
  private constructor(private readonly tensors: ReadonlyMap<string, Float32Array>) {}

  static fromSafetensors(file: SafetensorsFile, revision: Revision, source = 'the weights file'): ReferenceWeights {
    const resolution = resolveWeights(file.header, expectedWeightsOf(revision));
    assertWeightsResolved(resolution, source);
    const tensors = new Map<string, Float32Array>();
    for (const [canonical, resolved] of resolution.weights) {
      const values = toFloat32(resolved.info, file.tensorBytes(resolved.info.name));
      tensors.set(canonical, resolved.transposed ? transpose(values, resolved.info.shape[0], resolved.info.shape[1]) : values);
    }
    return new ReferenceWeights(tensors);
  }

  get(name: string): Float32Array {
    const tensor = this.tensors.get(name);
    if (!tensor) throw new Error(`Reference weights have no tensor '${name}'.`);
    return tensor;
  }

  linear(prefix: string): LinearWeights {
    return { weight: this.get(`${prefix}.weight`), bias: this.get(`${prefix}.bias`) };
  }

  layerNorm(prefix: string): LayerNormWeights {
    return { weight: this.get(`${prefix}.weight`), bias: this.get(`${prefix}.bias`) };
  }
}

function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}
