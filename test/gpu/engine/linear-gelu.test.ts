// The Linear op with GELU in its matmul's epilogue (an MLP's fc1): forward and backward against a
// float64 CPU reference of gelu(x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ), on the tiled and the matrix-vector
// kernel, with a whole or row-chunked weight, f32 or packed f16, with and without LoRA.
import { describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import { linear } from '../../../src/gpu/autograd-ops.ts';
import { geluBackwardReference, geluReference } from '../../../src/gpu/ops/gelu.ts';
import { matmulReference } from '../../../src/gpu/ops/matmul.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { expectClose } from '../../helpers/compare.ts';
import { roundToF16 } from '../../helpers/f16.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

// Tolerance 1e-4 (absolute + relative): f32 sums of ≤ 64 products of values in [-1, 1] (errors
// ~1e-6), through GELU, whose derivative stays within [-0.13, 1.13]; GELU skipped, or applied to the
// wrong value (before the bias or the LoRA update), is off by O(0.1).
const TOLERANCE = 1e-4;

interface Case {
  name: string;
  rows: number;
  inFeatures: number;
  chunkRows: number[];
  dtype: 'f32' | 'f16';
  rank: number;
}

const CASES: Case[] = [
  { name: 'tiled kernel, one f32 weight', rows: 33, inFeatures: 20, chunkRows: [70], dtype: 'f32', rank: 0 },
  { name: 'tiled kernel, f16 weight in row chunks', rows: 9, inFeatures: 21, chunkRows: [6, 1, 13], dtype: 'f16', rank: 0 },
  { name: 'tiled kernel with LoRA (GELU on the low-rank update)', rows: 17, inFeatures: 24, chunkRows: [40], dtype: 'f32', rank: 4 },
  { name: 'matrix-vector kernel (2 rows), f16 weight', rows: 2, inFeatures: 64, chunkRows: [36], dtype: 'f16', rank: 0 },
  { name: 'matrix-vector kernel (1 row) with LoRA', rows: 1, inFeatures: 64, chunkRows: [20, 16], dtype: 'f32', rank: 2 },
];

/** pre = x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ and the gradients of Σ g ⊙ gelu(pre), in float64. */
function reference(c: Case, data: { x: Float32Array; weight: Float32Array; bias: Float32Array; a: Float32Array; b: Float32Array; grad: Float32Array }, scale: number) {
  const out = c.chunkRows.reduce((sum, rows) => sum + rows, 0);
  const { rows, inFeatures: K, rank } = c;
  const pre = matmulReference(data.x, data.weight, rows, out, K, { transposeB: true, bias: data.bias });
  let hidden: Float64Array = new Float64Array(0);
  if (rank > 0) {
    hidden = matmulReference(data.x, data.a, rows, rank, K, { transposeB: true });
    const update = matmulReference(hidden, data.b, rows, out, rank, { transposeB: true });
    update.forEach((value, i) => (pre[i] += scale * value));
  }
  const gradPre = geluBackwardReference(data.grad, pre);
  const gradX = matmulReference(gradPre, data.weight, rows, K, out);
  const gradWeight = matmulReference(gradPre, data.x, out, K, rows, { transposeA: true });
  const gradBias = new Float64Array(out);
  gradPre.forEach((value, i) => (gradBias[i % out] += value));
  let gradA: Float64Array = new Float64Array(0);
  let gradB: Float64Array = new Float64Array(0);
  if (rank > 0) {
    const gradHidden = matmulReference(gradPre, data.b, rows, rank, out).map((value) => scale * value);
    matmulReference(gradHidden, data.a, rows, K, rank).forEach((value, i) => (gradX[i] += value));
    gradA = matmulReference(gradHidden, data.x, rank, K, rows, { transposeA: true });
    gradB = matmulReference(gradPre, hidden, out, rank, rows, { transposeA: true }).map((value) => scale * value);
  }
  return { y: geluReference(pre), gradX, gradWeight, gradBias, gradA, gradB };
}

describe('linear with GELU in the epilogue', () => {
  for (const c of CASES) {
    it(`${c.name}: forward (inference and taped) and every gradient`, async () => {
      const engine = await testEngine();
      const before = engine.poolStats().liveBuffers;
      const out = c.chunkRows.reduce((sum, rows) => sum + rows, 0);
      const scale = 1.5;
      const data = {
        x: randomFloats(c.rows * c.inFeatures, 11 + c.rows),
        weight: c.dtype === 'f16' ? roundToF16(randomFloats(out * c.inFeatures, 12)) : randomFloats(out * c.inFeatures, 12),
        bias: randomFloats(out, 13),
        a: randomFloats(c.rank * c.inFeatures, 14),
        b: randomFloats(out * c.rank, 15),
        grad: randomFloats(c.rows * out, 16),
      };
      const expected = reference(c, data, scale);
      const x = engine.upload(data.x, [c.rows, c.inFeatures]);
      let start = 0;
      const chunks = c.chunkRows.map((count) => {
        const rows = data.weight.subarray(start * c.inFeatures, (start + count) * c.inFeatures);
        start += count;
        return c.dtype === 'f16' ? engine.uploadWeight(rows, [count, c.inFeatures], 'f16') : engine.upload(rows, [count, c.inFeatures]);
      });
      const bias = engine.upload(data.bias, [out]);
      const lora = c.rank > 0 ? { a: engine.upload(data.a, [c.rank, c.inFeatures]), b: engine.upload(data.b, [out, c.rank]), scale } : undefined;
      const weight = chunks.length === 1 ? chunks[0] : chunks;

      const inferred = linear(engine, null, x, weight, bias, { lora, gelu: true });
      expectClose(await engine.readFloat(inferred), expected.y, TOLERANCE);
      inferred.dispose();

      const tape = new Tape(engine);
      const trained = [x, bias, ...(c.dtype === 'f32' ? chunks : []), ...(lora ? [lora.a, lora.b] : [])];
      tape.watch(...trained);
      const y = linear(engine, tape, x, weight, bias, { lora, gelu: true });
      expectClose(await engine.readFloat(y), expected.y, TOLERANCE);
      tape.backward(y, engine.upload(data.grad, [c.rows, out]));
      expectClose(await engine.readFloat(tape.grad(x)!), expected.gradX, TOLERANCE);
      expectClose(await engine.readFloat(tape.grad(bias)!), expected.gradBias, TOLERANCE);
      if (c.dtype === 'f32') {
        const gradWeight = new Float32Array(out * c.inFeatures);
        let row = 0;
        for (const chunk of chunks) {
          gradWeight.set(await engine.readFloat(tape.grad(chunk)!), row * c.inFeatures);
          row += chunk.shape[0];
        }
        expectClose(gradWeight, expected.gradWeight, TOLERANCE);
      }
      if (lora) {
        expectClose(await engine.readFloat(tape.grad(lora.a)!), expected.gradA, TOLERANCE);
        expectClose(await engine.readFloat(tape.grad(lora.b)!), expected.gradB, TOLERANCE);
      }
      tape.dispose();
      for (const tensor of [x, bias, y, ...chunks, ...(lora ? [lora.a, lora.b] : [])] as Tensor[]) tensor.dispose();
      expect(engine.poolStats().liveBuffers).toBe(before);
    });
  }
});
