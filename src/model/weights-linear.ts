// A Linear layer over loaded weights: y = x·Wᵀ + b with W [out, in] (spec conventions). When W
// was split by rows at load (weights.ts), each part [rows_i, in] produces output columns
// [rowStart, rowStart + rows_i): one matmul per part writes straight into those columns of y
// (ldc = out, offsetC = rowStart) with the matching slice of the bias, so nothing is copied.
import type { Engine } from '../gpu/engine.ts';
import { recordMatmul } from '../gpu/ops/matmul.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelWeights } from './weights.ts';

/** x [..., in] f32 → [..., out] with `<prefix>.weight` [out, in] and `<prefix>.bias` [out]. */
export function linearForward(engine: Engine, x: Tensor, weights: ModelWeights, prefix: string): Tensor {
  const parts = weights.rowParts(`${prefix}.weight`);
  const bias = weights.has(`${prefix}.bias`) ? weights.get(`${prefix}.bias`) : undefined;
  const inputs = parts[0].tensor.shape[1];
  const outputs = parts.reduce((total, part) => total + part.rows, 0);
  if (x.dtype !== 'f32' || x.shape.at(-1) !== inputs) {
    throw new Error(`${prefix}: expected an f32 input [..., ${inputs}], got ${x}`);
  }
  const rows = x.size / inputs;
  const y = engine.empty([...x.shape.slice(0, -1), outputs], 'f32', prefix);
  for (const part of parts) {
    recordMatmul(engine, {
      a: x,
      b: part.tensor,
      c: y,
      bias,
      biasOffset: part.rowStart,
      M: rows,
      N: part.rows,
      K: inputs,
      batch: 1,
      transposeA: false,
      transposeB: true,
      accumulate: false,
      alpha: 1,
      lda: inputs,
      ldb: inputs,
      ldc: outputs,
      offsetC: part.rowStart,
    });
  }
  return y;
}
