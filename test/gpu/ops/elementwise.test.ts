import { describe, expect, it } from 'vitest';
import {
  accumulate,
  add,
  addBackward,
  addScaled,
  copy,
  elementwiseReference,
  fill,
  mul,
  mulBackward,
  scale,
  sumToRow,
  sumToRowReference,
} from '../../../src/gpu/ops/elementwise.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { expectClose } from '../../helpers/compare.ts';

// Tolerance: one or two f32 roundings of values in [-2, 2] (≤ 2.4e-7 relative each) for the
// pointwise ops; sumToRow adds ≤ 130 terms in f32 (error ≤ 130·2⁻²⁴·Σ|x| ≈ 1e-5·rows). 1e-5
// absolute + relative is well above both and far below any indexing mistake (O(1)).
const TOLERANCE = 1e-5;

describe('elementwise', () => {
  const shapes = [[1], [7], [33, 5], [3, 130]];
  for (const shape of shapes) {
    const size = shape.reduce((x, y) => x * y, 1);
    const columns = shape.at(-1)!;
    it(`add / addScaled / mul / scale, same shape and row broadcast, [${shape}]`, async () => {
      const engine = await testEngine();
      const aData = randomFloats(size, size + 1, -2, 2);
      const bData = randomFloats(size, size + 2, -2, 2);
      const rowData = randomFloats(columns, size + 3, -2, 2);
      const a = engine.upload(aData, shape);
      const b = engine.upload(bData, shape);
      const row = engine.upload(rowData, [columns]);
      const results = {
        add: add(engine, a, b),
        addRow: add(engine, a, row),
        axpy: addScaled(engine, a, b, -0.75),
        mul: mul(engine, a, b),
        mulRow: mul(engine, a, row),
        scale: scale(engine, a, 3.5),
      };
      expectClose(await engine.readFloat(results.add), elementwiseReference('add', aData, bData), TOLERANCE);
      expectClose(await engine.readFloat(results.addRow), elementwiseReference('add', aData, rowData), TOLERANCE);
      expectClose(await engine.readFloat(results.axpy), elementwiseReference('add', aData, bData, -0.75), TOLERANCE);
      expectClose(await engine.readFloat(results.mul), elementwiseReference('mul', aData, bData), TOLERANCE);
      expectClose(await engine.readFloat(results.mulRow), elementwiseReference('mul', aData, rowData), TOLERANCE);
      expectClose(await engine.readFloat(results.scale), Array.from(aData, (value) => 3.5 * value), TOLERANCE);
      for (const tensor of [a, b, row, ...Object.values(results)]) tensor.dispose();
    });
  }

  it('fill, copy, in-place accumulate and sumToRow', async () => {
    const engine = await testEngine();
    const before = engine.poolStats().liveBuffers;
    const [rows, columns] = [130, 7];
    const xData = randomFloats(rows * columns, 41);
    const x = engine.upload(xData, [rows, columns]);
    const filled = fill(engine, [5, 3], -1.25);
    expect(Array.from(await engine.readFloat(filled))).toEqual(new Array(15).fill(-1.25));
    const copied = copy(engine, x);
    expect(Array.from(await engine.readFloat(copied))).toEqual(Array.from(xData));
    accumulate(engine, copied, x, 0.5);
    expectClose(await engine.readFloat(copied), Array.from(xData, (value) => 1.5 * value), TOLERANCE);
    const sums = sumToRow(engine, x);
    expect(sums.shape).toEqual([columns]);
    expectClose(await engine.readFloat(sums), sumToRowReference(xData, columns), TOLERANCE);
    for (const tensor of [x, filled, copied, sums]) tensor.dispose();
    expect(engine.poolStats().liveBuffers).toBe(before);
  });

  it('backward of add and mul with a broadcast row matches finite differences', async () => {
    const engine = await testEngine();
    const [rows, columns] = [4, 6];
    const aData = randomFloats(rows * columns, 51);
    const rowData = randomFloats(columns, 52);
    const gradData = randomFloats(rows * columns, 53);
    // Loss L = Σ gradOut · f(a, b); dL/db_j by central differences in float64.
    const loss = (op: 'add' | 'mul', a: ArrayLike<number>, b: ArrayLike<number>) => {
      const out = elementwiseReference(op, a as number[], b as number[]);
      return out.reduce((sum, value, i) => sum + value * gradData[i], 0);
    };
    const numericGrad = (op: 'add' | 'mul', which: 'a' | 'b') => {
      const base = which === 'a' ? Float64Array.from(aData) : Float64Array.from(rowData);
      return Array.from(base, (_, i) => {
        const h = 1e-6;
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i] += h;
        minus[i] -= h;
        const f = (values: Float64Array) => (which === 'a' ? loss(op, values, rowData) : loss(op, aData, values));
        return (f(plus) - f(minus)) / (2 * h);
      });
    };
    const a = engine.upload(aData, [rows, columns]);
    const row = engine.upload(rowData, [columns]);
    const gradOut = engine.upload(gradData, [rows, columns]);
    const addGrads = addBackward(engine, gradOut, row);
    const mulGrads = mulBackward(engine, gradOut, a, row);
    // Tolerance 1e-5: f32 GPU sums of ≤ 4 terms vs float64 differences with h = 1e-6 on a
    // function that is linear in each input (the difference quotient is exact up to rounding).
    expectClose(await engine.readFloat(addGrads.gradA), numericGrad('add', 'a'), TOLERANCE);
    expectClose(await engine.readFloat(addGrads.gradB), numericGrad('add', 'b'), TOLERANCE);
    expectClose(await engine.readFloat(mulGrads.gradA), numericGrad('mul', 'a'), TOLERANCE);
    expectClose(await engine.readFloat(mulGrads.gradB), numericGrad('mul', 'b'), TOLERANCE);
    for (const tensor of [a, row, gradOut, ...Object.values(addGrads), ...Object.values(mulGrads)]) tensor.dispose();
  });

  it('broadcasts a block of rows (pos_emb over crops): forward and the summed gradient of the block', async () => {
    const engine = await testEngine();
    // a [3·4, 2] + b [1, 4, 2]: b repeats once per block of 4 rows; its gradient sums the 3 blocks.
    const aValues = randomFloats(24, 50);
    const bValues = randomFloats(8, 51);
    const gradValues = randomFloats(24, 52);
    const a = engine.upload(aValues, [12, 2]);
    const b = engine.upload(bValues, [1, 4, 2]);
    const gradOut = engine.upload(gradValues, [12, 2]);
    const y = add(engine, a, b);
    expectClose(await engine.readFloat(y), elementwiseReference('add', aValues, bValues), TOLERANCE);
    const { gradA, gradB } = addBackward(engine, gradOut, b);
    expect(gradB.shape).toEqual([1, 4, 2]);
    expectClose(await engine.readFloat(gradA), gradValues, TOLERANCE);
    expectClose(await engine.readFloat(gradB), sumToRowReference(gradValues, 8), TOLERANCE);
    for (const tensor of [a, b, gradOut, y, gradA, gradB]) tensor.dispose();
  });

  it('rejects shapes that do not broadcast', async () => {
    const engine = await testEngine();
    const a = engine.zeros([3, 4]);
    const b = engine.zeros([3]);
    expect(() => add(engine, a, b)).toThrow(/row of length 4/);
    a.dispose();
    b.dispose();
  });
});
