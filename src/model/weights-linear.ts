// A Linear layer over loaded weights: y = x·Wᵀ + b with W [out, in] (spec conventions). When W
// was split by rows at load (weights.ts), each part [rows_i, in] produces output columns
// [rowStart, rowStart + rows_i): one matmul per part writes straight into those columns of y
// (ldc = out, offsetC = rowStart) with the matching slice of the bias, so nothing is copied.
//
// The options address sub-blocks without copies, which the vision encoder uses: a block of input
// rows (one crop of a batch), a block of W's input columns (the global or the local half of the
// projection's [global ‖ local] input, spec §4.6), and a block of output rows of an existing
// tensor to write or accumulate into (residual adds).
import type { Engine } from '../gpu/engine.ts';
import { recordMatmul } from '../gpu/ops/matmul.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelWeights } from './weights.ts';

export interface LinearOptions {
  /** First row of x to use (default 0). */
  readonly inputRowStart?: number;
  /** Rows of x to use (default: all rows from inputRowStart). */
  readonly rows?: number;
  /** Use W's input columns [weightColumnStart, weightColumnStart + x's width) (default 0: all of W). */
  readonly weightColumnStart?: number;
  /** Write into this tensor [.., out] instead of a new one, starting at row outputRowStart. */
  readonly into?: Tensor;
  readonly outputRowStart?: number;
  /** Add to what `into` holds (a residual add) instead of overwriting it. */
  readonly accumulate?: boolean;
  /** Add the bias (default true). A split matmul over column blocks adds it once. */
  readonly withBias?: boolean;
}

/** x [..., in] f32 → [..., out] with `<prefix>.weight` [out, in] and `<prefix>.bias` [out]. */
export function linearForward(engine: Engine, x: Tensor, weights: ModelWeights, prefix: string, options: LinearOptions = {}): Tensor {
  const parts = weights.rowParts(`${prefix}.weight`);
  const withBias = options.withBias ?? true;
  const bias = withBias && weights.has(`${prefix}.bias`) ? weights.get(`${prefix}.bias`) : undefined;
  const weightColumns = parts[0].tensor.shape[1];
  const inputs = x.shape.at(-1) ?? 0;
  const columnStart = options.weightColumnStart ?? 0;
  const outputs = parts.reduce((total, part) => total + part.rows, 0);
  if (x.dtype !== 'f32' || columnStart + inputs > weightColumns || (columnStart === 0 && options.weightColumnStart === undefined && inputs !== weightColumns)) {
    throw new Error(`${prefix}: expected an f32 input [..., ${weightColumns}], got ${x}`);
  }
  const inputRowStart = options.inputRowStart ?? 0;
  const rows = options.rows ?? x.size / inputs - inputRowStart;
  const outputRowStart = options.outputRowStart ?? 0;
  const wholeInput = options.inputRowStart === undefined && options.rows === undefined;
  const y = options.into ?? engine.empty(wholeInput ? [...x.shape.slice(0, -1), outputs] : [rows, outputs], 'f32', prefix);
  if (y.dtype !== 'f32' || y.shape.at(-1) !== outputs || (outputRowStart + rows) * outputs > y.size) {
    throw new Error(`${prefix}: cannot write ${rows} rows of ${outputs} at row ${outputRowStart} of ${y}`);
  }
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
      accumulate: options.accumulate ?? false,
      alpha: 1,
      lda: inputs,
      ldb: weightColumns,
      ldc: outputs,
      offsetA: inputRowStart * inputs,
      offsetB: columnStart,
      offsetC: outputRowStart * outputs + part.rowStart,
    });
  }
  return y;
}
