import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../src/gpu/f16.ts';
import { embedding, embeddingBackward, embeddingBackwardReference, embeddingReference, embeddingRowBlocks } from '../../../src/gpu/ops/embedding.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

// Duplicates (7 three times, 0 twice), the last row (12) and two ids outside [0, V).
const IDS = Int32Array.of(7, 0, 12, 7, 3, -1, 0, 7, 13, 5, 1);
const VOCAB = 13;

describe('embedding', () => {
  for (const dim of [1, 7, 130]) {
    it(`gathers f32 rows (D = ${dim}), zero rows for ids outside the vocabulary`, async () => {
      const engine = await testEngine();
      const tableValues = randomFloats(VOCAB * dim, dim);
      const out = engine.scope(() =>
        embedding(engine, engine.upload(tableValues, [VOCAB, dim]), engine.upload(IDS, [IDS.length], 'i32')),
      );
      // A gather copies values: exact.
      expect(Array.from(await engine.readFloat(out))).toEqual(Array.from(embeddingReference(tableValues, IDS, VOCAB, dim)));
      out.dispose();
    });
  }

  it('gathers packed f16 rows (odd D, so rows straddle u32 words)', async () => {
    const engine = await testEngine();
    const dim = 5;
    const halves = Uint16Array.from(randomFloats(VOCAB * dim, 3), (value) => float32ToFloat16Bits(value));
    const widened = Float32Array.from(halves, (bits) => float16BitsToFloat32(bits));
    const out = engine.scope(() =>
      embedding(engine, engine.upload(halves, [VOCAB, dim], 'f16'), engine.upload(IDS, [IDS.length], 'i32')),
    );
    // f16 → f32 widening is exact.
    expect(Array.from(await engine.readFloat(out))).toEqual(Array.from(embeddingReference(widened, IDS, VOCAB, dim)));
    out.dispose();
  });

  for (const dim of [1, 7, 130]) {
    it(`backward accumulates duplicated ids (D = ${dim})`, async () => {
      const engine = await testEngine();
      const gradValues = randomFloats(IDS.length * dim, 100 + dim);
      const expected = embeddingBackwardReference(gradValues, IDS, VOCAB, dim);
      const before = engine.poolStats().liveBuffers;
      const gradTable = engine.scope(() =>
        embeddingBackward(engine, engine.upload(gradValues, [IDS.length, dim]), engine.upload(IDS, [IDS.length], 'i32'), VOCAB),
      );
      const actual = await engine.readFloat(gradTable);
      // Sums of ≤3 f32 values in a different order than float64: ~1e-7.
      for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(1e-6);
      // Rows never looked up (2, 4, 6, ...) stay exactly zero.
      for (let d = 0; d < dim; d++) expect(actual[2 * dim + d]).toBe(0);
      gradTable.dispose();
      expect(engine.poolStats().liveBuffers).toBe(before);
    });
  }

  it('backward can be recorded right after other dispatches (no flush in between)', async () => {
    const engine = await testEngine();
    const dim = 4;
    const tableValues = randomFloats(VOCAB * dim, 12);
    const gradTable = engine.scope(() => {
      const ids = engine.upload(IDS, [IDS.length], 'i32');
      // The gather leaves a compute pass open; the backward must still start from zeros.
      const gathered = embedding(engine, engine.upload(tableValues, [VOCAB, dim]), ids);
      return embeddingBackward(engine, gathered, ids, VOCAB);
    });
    const expected = embeddingBackwardReference(embeddingReference(tableValues, IDS, VOCAB, dim), IDS, VOCAB, dim);
    const actual = await engine.readFloat(gradTable);
    for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(1e-6);
    gradTable.dispose();
  });

  it('backward is the adjoint of the gather: <gather(W), G> = <W, scatter(G)>', () => {
    const dim = 3;
    const table = randomFloats(VOCAB * dim, 8);
    const grad = randomFloats(IDS.length * dim, 9);
    const gathered = embeddingReference(table, IDS, VOCAB, dim);
    const scattered = embeddingBackwardReference(grad, IDS, VOCAB, dim);
    let left = 0;
    let right = 0;
    for (let i = 0; i < gathered.length; i++) left += gathered[i] * grad[i];
    for (let i = 0; i < scattered.length; i++) right += table[i] * scattered[i];
    expect(Math.abs(left - right)).toBeLessThan(1e-12);
  });

  for (const [dim, blockRows] of [[7, [4, 4, 5]], [130, [2, 11]], [5, [13]]] as const) {
    it(`gathers over row blocks ${blockRows.join('+')} (D = ${dim}) like the whole table, into a dirty buffer`, async () => {
      const engine = await testEngine();
      const tableValues = randomFloats(VOCAB * dim, 40 + dim);
      // A garbage-filled pool buffer of the output's size, freed so the gather's output may reuse
      // it: positions no block writes would show it.
      engine.upload(new Float32Array(IDS.length * dim).fill(Number.NaN), [IDS.length, dim]).dispose();
      const out = engine.scope(() => {
        let rowStart = 0;
        const blocks = blockRows.map((rows) => {
          const block = { table: engine.upload(tableValues.subarray(rowStart * dim, (rowStart + rows) * dim), [rows, dim]), rowStart };
          rowStart += rows;
          return block;
        });
        return embeddingRowBlocks(engine, blocks, engine.upload(IDS, [IDS.length], 'i32'));
      });
      // A gather copies values: exact, including the zero rows of ids −1 and 13.
      expect(Array.from(await engine.readFloat(out))).toEqual(Array.from(embeddingReference(tableValues, IDS, VOCAB, dim)));
      out.dispose();
    });
  }

  it('gathers over packed f16 row blocks (odd D)', async () => {
    const engine = await testEngine();
    const dim = 3;
    const halves = Uint16Array.from(randomFloats(VOCAB * dim, 77), (value) => float32ToFloat16Bits(value));
    const widened = Float32Array.from(halves, (bits) => float16BitsToFloat32(bits));
    const out = engine.scope(() =>
      embeddingRowBlocks(
        engine,
        [
          { table: engine.upload(halves.subarray(0, 6 * dim), [6, dim], 'f16'), rowStart: 0 },
          { table: engine.upload(halves.subarray(6 * dim), [7, dim], 'f16'), rowStart: 6 },
        ],
        engine.upload(IDS, [IDS.length], 'i32'),
      ),
    );
    // f16 → f32 widening is exact.
    expect(Array.from(await engine.readFloat(out))).toEqual(Array.from(embeddingReference(widened, IDS, VOCAB, dim)));
    out.dispose();
  });

  it('rejects row blocks with a gap', async () => {
    const engine = await testEngine();
    engine.scope(() => {
      const ids = engine.upload(IDS, [IDS.length], 'i32');
      const blocks = [
        { table: engine.upload(new Float32Array(8), [4, 2]), rowStart: 0 },
        { table: engine.upload(new Float32Array(8), [4, 2]), rowStart: 6 },
      ];
      expect(() => embeddingRowBlocks(engine, blocks, ids)).toThrow(/starts at row 6, but the blocks before it end at row 4/);
    });
  });
});
