// CPU reference of the region head (spec §9): Fourier-feature encoders for coordinates and sizes,
// MLP decoders to coordinate / size bins.
import { linear, mlp, type Matrix } from './layers.ts';
import type { ReferenceWeights } from './weights.ts';

/** [cos(2π·v·F) ‖ sin(2π·v·F)] for v [rows, inputs] and F [inputs, frequencies]. */
export function fourierFeatures(v: ArrayLike<number>, rows: number, inputs: number, frequencies: Float32Array): Matrix {
  const count = frequencies.length / inputs;
  const out = new Float64Array(rows * 2 * count);
  for (let r = 0; r < rows; r++) {
    for (let f = 0; f < count; f++) {
      let angle = 0;
      for (let i = 0; i < inputs; i++) angle += v[r * inputs + i] * frequencies[i * count + f];
      angle *= 2 * Math.PI;
      out[r * 2 * count + f] = Math.cos(angle);
      out[r * 2 * count + count + f] = Math.sin(angle);
    }
  }
  return out;
}

export function encodeCoordinate(values: ArrayLike<number>, weights: ReferenceWeights): Matrix {
  const features = fourierFeatures(values, values.length, 1, weights.get('model.region.coord_features'));
  return linear(features, values.length, features.length / values.length, weights.linear('model.region.coord_encoder'));
}

/** sizes: [rows, 2] as (w, h). */
export function encodeSize(sizes: ArrayLike<number>, weights: ReferenceWeights): Matrix {
  const rows = sizes.length / 2;
  const features = fourierFeatures(sizes, rows, 2, weights.get('model.region.size_features'));
  return linear(features, rows, features.length / rows, weights.linear('model.region.size_encoder'));
}

/** Coordinate-bin logits of hidden states [rows, dim] (before post_ln, spec §6.3). */
export function decodeCoordinate(hidden: Matrix, rows: number, dim: number, weights: ReferenceWeights): Matrix {
  return mlp(hidden, rows, dim, weights.linear('model.region.coord_decoder.fc1'), weights.linear('model.region.coord_decoder.fc2'));
}

/** Size-bin logits [rows, 2·bins]: width bins then height bins. */
export function decodeSize(hidden: Matrix, rows: number, dim: number, weights: ReferenceWeights): Matrix {
  return mlp(hidden, rows, dim, weights.linear('model.region.size_decoder.fc1'), weights.linear('model.region.size_decoder.fc2'));
}
