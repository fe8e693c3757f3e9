import { describe, expect, it } from 'vitest';
import { apply, Tape } from '../../../src/gpu/autograd.ts';
import { accumulate, add, addOp, addReference, copy, sumToRow, sumToRowReference } from '../../../src/gpu/ops/elementwise.ts';
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
    it(`add, same shape and row broadcast, [${shape}]`, async () => {
      const engine = await testEngine();
      const aData = randomFloats(size, size + 1, -2, 2);
      const bData = randomFloats(size, size + 2, -2, 2);
      const rowData = randomFloats(columns, size + 3, -2, 2);
      const a = engine.upload(aData, shape);
      const b = engine.upload(bData, shape);
      const row = engine.upload(rowData, [columns]);
      const results = { add: add(engine, a, b), addRow: add(engine, a, row) };
      expectClose(await engine.readFloat(results.add), addReference(aData, bData), TOLERANCE);
      expectClose(await engine.readFloat(results.addRow), addReference(aData, rowData), TOLERANCE);
      for (const tensor of [a, b, row, ...Object.values(results)]) tensor.dispose();
    });
  }

  it('copy, in-place accumulate and sumToRow', async () => {
    const engine = await testEngine();
    const before = engine.poolStats().liveBuffers;
    const [rows, columns] = [130, 7];
    const xData = randomFloats(rows * columns, 41);
    const x = engine.upload(xData, [rows, columns]);
    const copied = copy(engine, x);
    expect(Array.from(await engine.readFloat(copied))).toEqual(Array.from(xData));
    accumulate(engine, copied, x, 0.5);
    expectClose(await engine.readFloat(copied), Array.from(xData, (value) => 1.5 * value), TOLERANCE);
    const sums = sumToRow(engine, x);
    expect(sums.shape).toEqual([columns]);
    expectClose(await engine.readFloat(sums), sumToRowReference(xData, columns), TOLERANCE);
    for (const tensor of [x, copied, sums]) tensor.dispose();
    expect(engine.poolStats().liveBuffers).toBe(before);
  });

  it('addOp backward with a broadcast row matches finite differences', async () => {
    const engine = await testEngine();
    const [rows, columns] = [4, 6];
    const aData = randomFloats(rows * columns, 51);
    const rowData = randomFloats(columns, 52);
    const gradData = randomFloats(rows * columns, 53);
    // Loss L = Σ gradOut · (a + b); dL/da and dL/db by central differences in float64.
    const loss = (a: ArrayLike<number>, b: ArrayLike<number>) => addReference(a as number[], b as number[]).reduce((sum, value, i) => sum + value * gradData[i], 0);
    const numericGrad = (which: 'a' | 'b') => {
      const base = which === 'a' ? Float64Array.from(aData) : Float64Array.from(rowData);
      return Array.from(base, (_, i) => {
        const h = 1e-6;
        const plus = Float64Array.from(base);
        const minus = Float64Array.from(base);
        plus[i] += h;
        minus[i] -= h;
        const f = (values: Float64Array) => (which === 'a' ? loss(values, rowData) : loss(aData, values));
        return (f(plus) - f(minus)) / (2 * h);
      });
    };
    const a = engine.upload(aData, [rows, columns]);
    const row = engine.upload(rowData, [columns]);
    const tape = new Tape(engine);
    tape.watch(a, row);
    const y = apply(engine, tape, addOp, [a, row]);
    tape.backward(y, engine.upload(gradData, [rows, columns]));
    // Tolerance 1e-5: f32 GPU sums of ≤ 4 terms vs float64 differences with h = 1e-6 on a
    // function that is linear in each input (the difference quotient is exact up to rounding).
    expectClose(await engine.readFloat(tape.grad(a)!), numericGrad('a'), TOLERANCE);
    expectClose(await engine.readFloat(tape.grad(row)!), numericGrad('b'), TOLERANCE);
    tape.dispose();
    for (const tensor of [a, row, y]) tensor.dispose();
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
    const tape = new Tape(engine);
    tape.watch(a, b);
    const y = apply(engine, tape, addOp, [a, b]);
    expectClose(await engine.readFloat(y), addReference(aValues, bValues), TOLERANCE);
    tape.backward(y, gradOut);
    const gradB = tape.grad(b)!;
    expect(gradB.shape).toEqual([1, 4, 2]);
    expectClose(await engine.readFloat(tape.grad(a)!), gradValues, TOLERANCE);
    expectClose(await engine.readFloat(gradB), sumToRowReference(gradValues, 8), TOLERANCE);
    tape.dispose();
    for (const tensor of [a, b, y]) tensor.dispose();
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
