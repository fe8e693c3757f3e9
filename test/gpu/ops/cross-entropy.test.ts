import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tape, apply } from '../../../src/gpu/autograd.ts';
import { IGNORE_INDEX, crossEntropy, crossEntropyOp, crossEntropyReference } from '../../../src/gpu/ops/cross-entropy.ts';
import { addOp } from '../../../src/gpu/ops/elementwise.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32, randomFloats } from '../../helpers/random.ts';

function labels(rows: number, vocab: number, seed: number): Int32Array {
  const next = mulberry32(seed);
  // Every third row unlabelled, plus one id outside the vocabulary (also unlabelled).
  return Int32Array.from({ length: rows }, (_, row) =>
    row % 3 === 1 ? IGNORE_INDEX : row === 5 ? vocab + 3 : Math.floor(next() * vocab),
  );
}

async function run(logitValues: Float32Array, targetValues: Int32Array, vocab: number, weightValues?: Float32Array) {
  const engine = await testEngine();
  const rows = targetValues.length;
  const result = engine.scope(() => {
    const logits = engine.upload(logitValues, [rows, vocab]);
    const targets = engine.upload(targetValues, [rows], 'i32');
    return crossEntropy(engine, logits, targets, weightValues && engine.upload(weightValues, [rows]));
  });
  const loss = (await engine.readFloat(result.loss))[0];
  const gradLogits = await engine.readFloat(result.gradLogits);
  result.loss.dispose();
  result.gradLogits.dispose();
  return { loss, gradLogits };
}

describe('crossEntropy', () => {
  it('with row weights: the weighted sum of the row losses and the weighted gradient (T = 9, V = 50)', async () => {
    const [rows, vocab] = [9, 50];
    const logitValues = randomFloats(rows * vocab, 91, -4, 4);
    const targetValues = labels(rows, vocab, 92);
    // Weights of a batch: 1/(B·n_b) per sequence, here uneven on purpose.
    const weightValues = Float32Array.from({ length: rows }, (_, row) => 0.05 + 0.1 * (row % 4));
    const expected = crossEntropyReference(logitValues, targetValues, vocab, weightValues);
    const { loss, gradLogits } = await run(logitValues, targetValues, vocab, weightValues);
    // As the unweighted case: f32 logsumexp of O(1) values, 1e-5.
    expect(Math.abs(loss - expected.loss)).toBeLessThan(1e-5);
    for (let i = 0; i < gradLogits.length; i++) expect(Math.abs(gradLogits[i] - expected.gradLogits[i])).toBeLessThan(1e-6);
  });

  for (const [rows, vocab] of [[1, 7], [7, 130], [33, 1000], [4, 51200]] as const) {
    it(`matches the float64 reference: T = ${rows}, V = ${vocab}`, async () => {
      const logitValues = randomFloats(rows * vocab, rows * 31 + vocab, -4, 4);
      const targetValues = rows === 1 ? Int32Array.of(3) : labels(rows, vocab, rows);
      const expected = crossEntropyReference(logitValues, targetValues, vocab);
      const { loss, gradLogits } = await run(logitValues, targetValues, vocab);
      // f32 logsumexp over V terms of O(1): relative error ~1e-6·log V; 1e-5 leaves headroom.
      expect(Math.abs(loss - expected.loss)).toBeLessThan(1e-5 * Math.max(1, expected.loss));
      let worst = 0;
      for (let i = 0; i < gradLogits.length; i++) worst = Math.max(worst, Math.abs(gradLogits[i] - expected.gradLogits[i]));
      // Gradients are probabilities / count, ≤ 1: absolute f32 error ~1e-7.
      expect(worst).toBeLessThan(1e-6);
    });
  }

  it('on the tape inside a sum of losses: each part\'s gradient is scaled by its share (T = 6, V = 11)', async () => {
    // loss = CE(x; w1) + CE(x; w2): the sum is the root, so neither CE may assume
    // dLoss/dCE = 1 blindly; the gradient of x is the sum of the two weighted references.
    const engine = await testEngine();
    const [rows, vocab] = [6, 11];
    const logitValues = randomFloats(rows * vocab, 93, -3, 3);
    const targetValues = Int32Array.from({ length: rows }, (_, row) => (row * 7) % vocab);
    const first = Float32Array.from({ length: rows }, (_, row) => 0.1 + 0.05 * row);
    const second = Float32Array.from({ length: rows }, (_, row) => (row % 2 === 0 ? 0.3 : 0));
    const a = crossEntropyReference(logitValues, targetValues, vocab, first);
    const b = crossEntropyReference(logitValues, targetValues, vocab, second);
    const tape = new Tape(engine);
    const logits = engine.upload(logitValues, [rows, vocab]);
    const targets = engine.upload(targetValues, [rows], 'i32');
    const weights = [engine.upload(first, [rows]), engine.upload(second, [rows])];
    tape.watch(logits);
    const [lossA, lossB] = weights.map((rowWeights) => apply(engine, tape, crossEntropyOp, [logits, targets, rowWeights]));
    const total = apply(engine, tape, addOp, [lossA, lossB]);
    tape.backward(total);
    const loss = (await engine.readFloat(total))[0];
    const gradient = await engine.readFloat(tape.grad(logits)!);
    // f32 sums of O(1) terms, as the single-loss cases: 1e-5 on the loss, 1e-6 on gradients.
    expect(Math.abs(loss - (a.loss + b.loss))).toBeLessThan(1e-5);
    for (let i = 0; i < gradient.length; i++) expect(Math.abs(gradient[i] - (a.gradLogits[i] + b.gradLogits[i]))).toBeLessThan(1e-6);
    tape.dispose();
    for (const tensor of [logits, targets, ...weights, lossA, lossB, total]) tensor.dispose();
  });

  it('is stable for large logits (max subtracted before exp)', async () => {
    const vocab = 50;
    const logitValues = randomFloats(2 * vocab, 9, 990, 1000);
    const targetValues = Int32Array.of(4, 17);
    const expected = crossEntropyReference(logitValues, targetValues, vocab);
    const { loss, gradLogits } = await run(logitValues, targetValues, vocab);
    expect(Math.abs(loss - expected.loss)).toBeLessThan(1e-4);
    for (let i = 0; i < gradLogits.length; i++) expect(Math.abs(gradLogits[i] - expected.gradLogits[i])).toBeLessThan(1e-5);
  });

  it('gives loss 0 and zero gradients when nothing is labelled', async () => {
    const { loss, gradLogits } = await run(randomFloats(3 * 5, 4), Int32Array.of(IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX), 5);
    expect(loss).toBe(0);
    expect(Array.from(gradLogits).every((value) => value === 0)).toBe(true);
  });

  it('hand-computed case: uniform logits give log V', async () => {
    // 2 rows × 4 classes, all logits 0; target 6 is outside V = 4, so only row 0 is labelled:
    // loss = ln 4, gradient of row 0 = softmax − onehot = 1/4 − [0, 0, 1, 0], row 1 = 0.
    const { loss, gradLogits } = await run(new Float32Array(8), Int32Array.of(2, 6), 4);
    expect(loss).toBeCloseTo(Math.log(4), 6);
    expect(Array.from(gradLogits.slice(0, 4))).toEqual([0.25, 0.25, -0.75, 0.25]);
    expect(Array.from(gradLogits.slice(4))).toEqual([0, 0, 0, 0]);
  });

  it('reference gradient matches central finite differences (float64)', () => {
    const vocab = 6;
    const targetValues = Int32Array.of(1, IGNORE_INDEX, 5, 0);
    const logitValues = Float64Array.from(randomFloats(4 * vocab, 77, -3, 3));
    const { gradLogits } = crossEntropyReference(logitValues, targetValues, vocab);
    const step = 1e-6;
    for (let i = 0; i < logitValues.length; i++) {
      const plus = logitValues.slice();
      const minus = logitValues.slice();
      plus[i] += step;
      minus[i] -= step;
      const numeric = (crossEntropyReference(plus, targetValues, vocab).loss - crossEntropyReference(minus, targetValues, vocab).loss) / (2 * step);
      // float64 central differences: error ~1e-10.
      expect(Math.abs(numeric - gradLogits[i])).toBeLessThan(1e-8);
    }
  });

  it('rejects targets that do not match the logits rows', async () => {
    const engine = await testEngine();
    engine.scope(() => {
      const logits = engine.zeros([3, 5]);
      const targets = engine.zeros([2], 'i32');
      expect(() => crossEntropy(engine, logits, targets)).toThrow(/targets must be i32 \[3\]/);
    });
  });

  it('reproduces upstream text_loss from the golden training logits', async () => {
    const golden = new SafetensorsFile(readFileSync(new URL('../../fixtures/moondream-tiny/golden.safetensors', import.meta.url)));
    const labelsShifted = golden.int32('train_shifted_labels');
    const { loss } = await run(golden.float32('train_logits'), labelsShifted, 512);
    // Same logits, f32 logsumexp over 512 classes in a different summation order than torch:
    // a few ulps of the ~6.75 loss (ulp 4.8e-7).
    expect(Math.abs(loss - golden.float32('train_loss')[0])).toBeLessThan(2e-6);
  });
});
