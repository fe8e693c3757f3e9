// Row and column block copies and their differentiable ops: forward against plain copies on the
// host, backward against the adjoint of the forward (a loss Σ gradOut·y is linear in the inputs,
// so its exact gradient is the copy run backwards: no tolerance is needed for data that is only
// moved).
import { describe, expect, it } from 'vitest';
import { apply, Tape } from '../../../src/gpu/autograd.ts';
import { concatColumnsOp, concatRows, concatRowsOp, sliceRowsOp } from '../../../src/gpu/ops/copy.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

/** Rows [start, start + count) of a row-major [rows, width] array. */
const rowsOf = (values: Float32Array, width: number, start: number, count: number) => values.slice(start * width, (start + count) * width);

describe('row and column copies', () => {
  it('sliceRows: forward picks the rows, backward puts the gradient back there and zeros elsewhere', async () => {
    const engine = await testEngine();
    const values = randomFloats(7 * 5, 1);
    const gradValues = randomFloats(3 * 5, 2);
    const x = engine.upload(values, [7, 5]);
    const tape = new Tape(engine);
    tape.watch(x);
    const y = apply(engine, tape, sliceRowsOp, [x], { start: 2, count: 3 });
    expect(Array.from(await engine.readFloat(y))).toEqual(Array.from(rowsOf(values, 5, 2, 3)));
    tape.backward(y, engine.upload(gradValues, [3, 5]));
    const expected = new Float32Array(7 * 5);
    expected.set(gradValues, 2 * 5);
    expect(Array.from(await engine.readFloat(tape.grad(x)!))).toEqual(Array.from(expected));
    tape.dispose();
    x.dispose();
    y.dispose();
  });

  it('concatRows: forward stacks the parts, backward hands each part its rows of the gradient', async () => {
    const engine = await testEngine();
    const parts = [[2, 4], [1, 4], [3, 4]].map(([rows, width], i) => ({ values: randomFloats(rows * width, 10 + i), shape: [rows, width] }));
    const tensors = parts.map(({ values, shape }) => engine.upload(values, shape));
    const gradValues = randomFloats(6 * 4, 20);
    const tape = new Tape(engine);
    tape.watch(tensors[0], tensors[2]); // the middle part needs no gradient
    const y = apply(engine, tape, concatRowsOp, tensors);
    expect(Array.from(await engine.readFloat(y))).toEqual(parts.flatMap(({ values }) => Array.from(values)));
    tape.backward(y, engine.upload(gradValues, [6, 4]));
    expect(Array.from(await engine.readFloat(tape.grad(tensors[0])!))).toEqual(Array.from(rowsOf(gradValues, 4, 0, 2)));
    expect(Array.from(await engine.readFloat(tape.grad(tensors[2])!))).toEqual(Array.from(rowsOf(gradValues, 4, 3, 3)));
    tape.dispose();
    for (const tensor of [...tensors, y]) tensor.dispose();
  });

  it('concatColumns: forward puts the parts side by side, backward splits the gradient by columns', async () => {
    const engine = await testEngine();
    const rows = 5;
    const widths = [3, 6];
    const values = widths.map((width, i) => randomFloats(rows * width, 30 + i));
    const tensors = values.map((v, i) => engine.upload(v, [rows, widths[i]]));
    const gradValues = randomFloats(rows * 9, 40);
    const tape = new Tape(engine);
    tape.watch(...tensors);
    const y = apply(engine, tape, concatColumnsOp, tensors);
    const expected: number[] = [];
    for (let r = 0; r < rows; r++) expected.push(...values[0].subarray(r * 3, r * 3 + 3), ...values[1].subarray(r * 6, r * 6 + 6));
    expect(Array.from(await engine.readFloat(y))).toEqual(expected);
    tape.backward(y, engine.upload(gradValues, [rows, 9]));
    const columns = (start: number, width: number) => Array.from({ length: rows * width }, (_, i) => gradValues[Math.floor(i / width) * 9 + start + (i % width)]);
    expect(Array.from(await engine.readFloat(tape.grad(tensors[0])!))).toEqual(columns(0, 3));
    expect(Array.from(await engine.readFloat(tape.grad(tensors[1])!))).toEqual(columns(3, 6));
    tape.dispose();
    for (const tensor of [...tensors, y]) tensor.dispose();
  });

  it('refuses parts of different widths, saying which', async () => {
    const engine = await testEngine();
    const a = engine.zeros([2, 3]);
    const b = engine.zeros([2, 4]);
    expect(() => concatRows(engine, [a, b])).toThrow(/\[rows, 3\].*\[2, 4\]/);
    a.dispose();
    b.dispose();
  });
});
