import { describe, expect, it } from 'vitest';
import { matmul, matmulReference, maxRowsPerBinding } from '../../../src/gpu/ops/matmul.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { expectClose } from '../../helpers/compare.ts';
import { roundToF16 } from '../../helpers/f16.ts';

// Tolerance: inputs in [-1, 1], f32 products summed in f32 over K ≤ 130 terms in a different
// order than the float64 reference. Each partial sum is < K in magnitude, so the rounding error
// is below K·K·2⁻²⁴ ≈ 1e-3 at K = 130 in the worst case and ~1e-5 in practice; 1e-4·(1 + |ref|)
// keeps a margin while still catching any misplaced element (errors there are O(1)).
const TOLERANCE = 1e-4;


describe('matmul', () => {
  // Odd sizes: 1, 7, 33, 130 are not multiples of the 128×64×16 (or, for M ≤ 4, 4×256×16) tiles.
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 300, 40], // M ≤ 4: the small-M tiling (4×256 tiles), several column tiles and K steps
    [3, 7, 130],
    [7, 33, 5],
    [33, 7, 130],
    [130, 65, 17],
    [64, 64, 16],
  ];
  for (const [M, N, K] of shapes) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        it(`${M}×${K} · ${K}×${N}, transposeA=${transposeA}, transposeB=${transposeB}`, async () => {
          const engine = await testEngine();
          const aData = randomFloats(M * K, 1 + M + K);
          const bData = randomFloats(K * N, 2 + N * K);
          const a = engine.upload(aData, transposeA ? [K, M] : [M, K]);
          const b = engine.upload(bData, transposeB ? [N, K] : [K, N]);
          const c = matmul(engine, a, b, { transposeA, transposeB });
          expect(c.shape).toEqual([M, N]);
          expectClose(await engine.readFloat(c), matmulReference(aData, bData, M, N, K, { transposeA, transposeB }), TOLERANCE);
          for (const tensor of [a, b, c]) tensor.dispose();
        });
      }
    }
  }

  it('adds a bias row, scales by alpha and accumulates into an existing tensor', async () => {
    const engine = await testEngine();
    const [M, N, K] = [9, 70, 20];
    const aData = randomFloats(M * K, 11);
    const bData = randomFloats(N * K, 12);
    const biasData = randomFloats(N, 13);
    const startData = randomFloats(M * N, 14);
    const a = engine.upload(aData, [M, K]);
    const b = engine.upload(bData, [N, K]);
    const bias = engine.upload(biasData, [N]);
    const withBias = matmul(engine, a, b, { transposeB: true, bias, alpha: 0.5 });
    expectClose(
      await engine.readFloat(withBias),
      matmulReference(aData, bData, M, N, K, { transposeB: true, bias: biasData, alpha: 0.5 }),
      TOLERANCE,
    );
    const target = engine.upload(startData, [M, N]);
    const returned = matmul(engine, a, b, { transposeB: true, accumulateInto: target });
    expect(returned).toBe(target);
    const product = matmulReference(aData, bData, M, N, K, { transposeB: true });
    expectClose(await engine.readFloat(target), product.map((value, i) => value + startData[i]), TOLERANCE);
    for (const tensor of [a, b, bias, withBias, target]) tensor.dispose();
  });

  it('multiplies batches, and broadcasts an operand without batch dimensions', async () => {
    const engine = await testEngine();
    const [batch, M, N, K] = [3, 5, 6, 7];
    const aData = randomFloats(batch * M * K, 21);
    const bData = randomFloats(batch * K * N, 22);
    const a = engine.upload(aData, [batch, M, K]);
    const b = engine.upload(bData, [batch, K, N]);
    const shared = engine.upload(bData.subarray(0, K * N), [K, N]);
    const batched = matmul(engine, a, b);
    const broadcast = matmul(engine, a, shared);
    expect(batched.shape).toEqual([batch, M, N]);
    const expectedBatched: number[] = [];
    const expectedBroadcast: number[] = [];
    for (let i = 0; i < batch; i++) {
      const aSlice = aData.subarray(i * M * K, (i + 1) * M * K);
      expectedBatched.push(...matmulReference(aSlice, bData.subarray(i * K * N, (i + 1) * K * N), M, N, K));
      expectedBroadcast.push(...matmulReference(aSlice, bData.subarray(0, K * N), M, N, K));
    }
    expectClose(await engine.readFloat(batched), expectedBatched, TOLERANCE);
    expectClose(await engine.readFloat(broadcast), expectedBroadcast, TOLERANCE);
    for (const tensor of [a, b, shared, batched, broadcast]) tensor.dispose();
  });

  it('reads B as packed f16 (odd element counts included)', async () => {
    const engine = await testEngine();
    for (const [M, N, K] of [
      [5, 33, 7],
      [66, 3, 129],
    ]) {
      for (const transposeB of [true, false]) {
        const aData = randomFloats(M * K, 31 + M);
        const bData = roundToF16(randomFloats(N * K, 32 + N));
        const a = engine.upload(aData, [M, K]);
        const b = engine.upload(bData, transposeB ? [N, K] : [K, N], 'f16');
        const c = matmul(engine, a, b, { transposeB });
        expectClose(await engine.readFloat(c), matmulReference(aData, bData, M, N, K, { transposeB }), TOLERANCE);
        for (const tensor of [a, b, c]) tensor.dispose();
      }
    }
  });

  // A few rows against a Linear weight with K a multiple of 4 take the matrix-vector kernel
  // (matvec.wgsl.ts): every row count it handles, N not a multiple of its 64 columns per
  // workgroup, K an odd or even number of fours (its loop takes two at a time), f32 and packed
  // f16, bias, alpha, accumulation, and batches. Same tolerance: K ≤ 1028 terms of products < 1, summed in another order; the
  // reduction tree keeps partial sums small, so errors stay ~1e-5.
  it('multiplies a few rows by a Linear weight (the decode step) as the reference does', async () => {
    const engine = await testEngine();
    for (const [M, N, K] of [
      [1, 5, 256],
      [2, 300, 1028],
      [3, 1, 260],
      [4, 67, 512],
      [2, 70, 20],
    ]) {
      for (const dtype of ['f32', 'f16'] as const) {
        const aData = randomFloats(M * K, 41 + M);
        const bData = dtype === 'f16' ? roundToF16(randomFloats(N * K, 42 + N)) : randomFloats(N * K, 42 + N);
        const biasData = randomFloats(N, 43);
        const startData = randomFloats(M * N, 44);
        const a = engine.upload(aData, [M, K]);
        const b = engine.upload(bData, [N, K], dtype);
        const bias = engine.upload(biasData, [N]);
        const plain = matmul(engine, a, b, { transposeB: true });
        expectClose(await engine.readFloat(plain), matmulReference(aData, bData, M, N, K, { transposeB: true }), TOLERANCE);
        const withBias = matmul(engine, a, b, { transposeB: true, bias, alpha: -0.5 });
        expectClose(await engine.readFloat(withBias), matmulReference(aData, bData, M, N, K, { transposeB: true, bias: biasData, alpha: -0.5 }), TOLERANCE);
        const target = engine.upload(startData, [M, N]);
        matmul(engine, a, b, { transposeB: true, accumulateInto: target });
        const product = matmulReference(aData, bData, M, N, K, { transposeB: true });
        expectClose(await engine.readFloat(target), product.map((value, i) => value + startData[i]), TOLERANCE);
        for (const tensor of [a, b, bias, plain, withBias, target]) tensor.dispose();
      }
    }
    // Batches: each batch its own A and B.
    const [batch, M, N, K] = [3, 1, 9, 256];
    const aData = randomFloats(batch * M * K, 51);
    const bData = randomFloats(batch * N * K, 52);
    const a = engine.upload(aData, [batch, M, K]);
    const b = engine.upload(bData, [batch, N, K]);
    const c = matmul(engine, a, b, { transposeB: true });
    const expected: number[] = [];
    for (let i = 0; i < batch; i++) expected.push(...matmulReference(aData.subarray(i * M * K, (i + 1) * M * K), bData.subarray(i * N * K, (i + 1) * N * K), M, N, K, { transposeB: true }));
    expectClose(await engine.readFloat(c), expected, TOLERANCE);
    for (const tensor of [a, b, c]) tensor.dispose();
  });

  it('rejects mismatched shapes with a clear message', async () => {
    const engine = await testEngine();
    const a = engine.zeros([4, 5]);
    const b = engine.zeros([6, 3]);
    expect(() => matmul(engine, a, b)).toThrow(/inner dimensions differ/);
    const batchedA = engine.zeros([2, 4, 5]);
    const batchedB = engine.zeros([3, 5, 3]);
    expect(() => matmul(engine, batchedA, batchedB)).toThrow(/batch dimensions/);
    for (const tensor of [a, b, batchedA, batchedB]) tensor.dispose();
  });

  it('sizes row chunks to the per-binding limit', async () => {
    const engine = await testEngine();
    const limit = engine.device.limits.maxStorageBufferBindingSize;
    const rows = maxRowsPerBinding(engine, 2048, 'f32');
    expect(rows * 2048 * 4).toBeLessThanOrEqual(limit);
    expect((rows + 2) * 2048 * 4).toBeGreaterThan(limit);
  });
});
