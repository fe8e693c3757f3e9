import { describe, expect, it } from 'vitest';
import { argmaxRows, argmaxRowsReference } from '../../../src/gpu/ops/argmax.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

describe('argmaxRows', () => {
  it('matches the reference on random rows, with and without suppressed ids (ids are exact: no tolerance)', async () => {
    const engine = await testEngine();
    const [rows, vocab] = [9, 517];
    const values = randomFloats(rows * vocab, 3, -5, 5);
    const suppressed = [Array.from(argmaxRowsReference(values, vocab))[0], 7];
    const logits = engine.upload(values, [rows, vocab]);
    const skip = engine.upload(Int32Array.from(suppressed), [suppressed.length], 'i32');
    const plain = argmaxRows(engine, logits);
    const skipping = argmaxRows(engine, logits, skip);
    expect(Array.from(await engine.read(plain))).toEqual(Array.from(argmaxRowsReference(values, vocab)));
    const expected = argmaxRowsReference(values, vocab, suppressed);
    expect(expected[0]).not.toBe(argmaxRowsReference(values, vocab)[0]); // row 0's winner was skipped
    expect(Array.from(await engine.read(skipping))).toEqual(Array.from(expected));
    for (const tensor of [logits, skip, plain, skipping]) tensor.dispose();
  });

  it('hand-computed: the first index wins a tie, NaN never wins, an all-NaN row gives −1', async () => {
    const engine = await testEngine();
    const logits = engine.upload([1, 3, 3, 0, Number.NaN, -2, -1, Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN], [3, 4]);
    const ids = argmaxRows(engine, logits);
    expect(Array.from(await engine.read(ids))).toEqual([1, 2, -1]);
    logits.dispose();
    ids.dispose();
  });
});
