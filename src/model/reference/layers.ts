// CPU reference layers in float64 (weights are float32 arrays, activations float64), row-major
// [rows, cols]. A Linear stores weight [out, in] and computes y = x·Wᵀ + b (spec conventions).

export type Matrix = Float64Array;

export interface LinearWeights {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

export interface LayerNormWeights {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/** x [rows, inputs] · Wᵀ + b → [rows, outputs]. */
export function linear(x: Matrix, rows: number, inputs: number, layer: LinearWeights): Matrix {
  const outputs = layer.bias.length;
  if (layer.weight.length !== outputs * inputs) throw new Error(`linear: weight has ${layer.weight.length} values, expected ${outputs}×${inputs}`);
  const y = new Float64Array(rows * outputs);
  for (let r = 0; r < rows; r++) {
    const xRow = r * inputs;
    for (let o = 0; o < outputs; o++) {
      const wRow = o * inputs;
      let sum = layer.bias[o];
      for (let i = 0; i < inputs; i++) sum += x[xRow + i] * layer.weight[wRow + i];
      y[r * outputs + o] = sum;
    }
  }
  return y;
}

/** LayerNorm over the last axis with biased variance and eps 1e-5 (spec §5). */
export function layerNorm(x: Matrix, rows: number, width: number, layer: LayerNormWeights, eps = 1e-5): Matrix {
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let mean = 0;
    for (let i = 0; i < width; i++) mean += x[base + i];
    mean /= width;
    let variance = 0;
    for (let i = 0; i < width; i++) variance += (x[base + i] - mean) ** 2;
    variance /= width;
    const scale = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < width; i++) y[base + i] = (x[base + i] - mean) * scale * layer.weight[i] + layer.bias[i];
  }
  return y;
}

/** GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). In place. */
export function geluTanh(x: Matrix): Matrix {
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v)));
  }
  return x;
}

/** fc2(gelu_tanh(fc1(x))). */
export function mlp(x: Matrix, rows: number, inputs: number, fc1: LinearWeights, fc2: LinearWeights): Matrix {
  const hidden = geluTanh(linear(x, rows, inputs, fc1));
  return linear(hidden, rows, fc1.bias.length, fc2);
}

export function addInPlace(target: Matrix, other: Matrix): Matrix {
  for (let i = 0; i < target.length; i++) target[i] += other[i];
  return target;
}

/**
 * Multi-head attention of `queries` [qRows, heads·headDim] over `keys`/`values` [kRows, heads·headDim]:
 * softmax(Q·Kᵀ/√headDim, masked)·V per head; `allowed(i, j)` says whether query row i sees key row j.
 */
export function attention(
  queries: Matrix, keys: Matrix, values: Matrix,
  qRows: number, kRows: number, heads: number, headDim: number,
  allowed: (queryRow: number, keyRow: number) => boolean,
): Matrix {
  const width = heads * headDim;
  const out = new Float64Array(qRows * width);
  const scores = new Float64Array(kRows);
  const scale = 1 / Math.sqrt(headDim);
  for (let h = 0; h < heads; h++) {
    const offset = h * headDim;
    for (let i = 0; i < qRows; i++) {
      let max = -Infinity;
      for (let j = 0; j < kRows; j++) {
        if (!allowed(i, j)) {
          scores[j] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += queries[i * width + offset + d] * keys[j * width + offset + d];
        scores[j] = dot * scale;
        if (scores[j] > max) max = scores[j];
      }
      let total = 0;
      for (let j = 0; j < kRows; j++) {
        scores[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max);
        total += scores[j];
      }
      for (let j = 0; j < kRows; j++) {
        const p = scores[j] / total;
        if (p === 0) continue;
        for (let d = 0; d < headDim; d++) out[i * width + offset + d] += p * values[j * width + offset + d];
      }
    }
  }
  return out;
}

/** Splits [rows, parts·width] into `parts` matrices [rows, width]. */
export function splitColumns(x: Matrix, rows: number, width: number, parts: number): Matrix[] {
  const out = Array.from({ length: parts }, () => new Float64Array(rows * width));
  for (let r = 0; r < rows; r++) {
    for (let p = 0; p < parts; p++) out[p].set(x.subarray(r * parts * width + p * width, r * parts * width + (p + 1) * width), r * width);
  }
  return out;
}
