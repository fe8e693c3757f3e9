// The tape on a small composite — LayerNorm → Linear with LoRA → GELU → qkv Linear → attention
// (prefix mask, partial rotary) → residual add (h used twice) → Linear → cross-entropy — against
// float64 central finite differences of the same composition built from the ops' CPU references.
import { describe, expect, it } from 'vitest';
import { apply, Tape } from '../../../src/gpu/autograd.ts';
import { linear, selfAttention } from '../../../src/gpu/autograd-ops.ts';
import type { Engine } from '../../../src/gpu/engine.ts';
import { attentionReference } from '../../../src/gpu/ops/attention.ts';
import { addOp } from '../../../src/gpu/ops/elementwise.ts';
import { geluOp } from '../../../src/gpu/ops/gelu.ts';
import { crossEntropyOp, crossEntropyReference, IGNORE_INDEX } from '../../../src/gpu/ops/cross-entropy.ts';
import { geluReference } from '../../../src/gpu/ops/gelu.ts';
import { layerNormOp, layerNormReference } from '../../../src/gpu/ops/layer-norm.ts';
import { matmulReference } from '../../../src/gpu/ops/matmul.ts';
import { rotaryReference } from '../../../src/gpu/ops/rotary.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32, randomNormals } from '../../helpers/random.ts';

const T = 7;
const D = 8;
const HEADS = 2;
const HEAD_DIM = 4;
const ROTARY_DIM = 2;
const VOCAB = 11;
const RANK = 2;
const LORA_SCALE = 1.5;
const PREFIX = 3;
const TARGETS = Int32Array.of(4, IGNORE_INDEX, 0, 10, IGNORE_INDEX, 7, 2);

type Values = Float64Array;
const NAMES = ['x', 'lnWeight', 'lnBias', 'w1', 'b1', 'loraA', 'loraB', 'wQkv', 'bQkv', 'wOut', 'bOut'] as const;
type Name = (typeof NAMES)[number];
const SHAPES: Record<Name, number[]> = {
  x: [T, D], lnWeight: [D], lnBias: [D], w1: [D, D], b1: [D], loraA: [RANK, D], loraB: [D, RANK],
  wQkv: [3 * D, D], bQkv: [3 * D], wOut: [VOCAB, D], bOut: [VOCAB],
};

function initialValues(): Record<Name, Values> {
  const out = {} as Record<Name, Values>;
  NAMES.forEach((name, index) => {
    const count = SHAPES[name].reduce((a, b) => a * b, 1);
    const values = Float64Array.from(randomNormals(count, 100 + index, name === 'x' ? 1 : 0.4));
    if (name === 'lnWeight') values.forEach((v, i) => (values[i] = 1 + v / 4));
    out[name] = values;
  });
  return out;
}

/** The composition in float64 from the ops' CPU references. */
function referenceLoss(p: Record<Name, Values>): number {
  const linearRef = (x: Values, rows: number, w: Values, b: Values, out: number, inputs: number) =>
    matmulReference(x, w, rows, out, inputs, { transposeB: true, bias: b });
  const a = layerNormReference(p.x, p.lnWeight, p.lnBias, D).output;
  const base = linearRef(a, T, p.w1, p.b1, D, D);
  const low = matmulReference(a, p.loraA, T, RANK, D, { transposeB: true });
  const update = matmulReference(low, p.loraB, T, D, RANK, { transposeB: true, alpha: LORA_SCALE });
  const h = geluReference(base.map((v, i) => v + update[i]));
  const qkv = linearRef(h, T, p.wQkv, p.bQkv, 3 * D, D);
  const column = (block: number) => Float64Array.from({ length: T * D }, (_, i) => qkv[Math.floor(i / D) * 3 * D + block * D + (i % D)]);
  const rope = { heads: HEADS, headDim: HEAD_DIM, rotaryDim: ROTARY_DIM };
  const q = rotaryReference(column(0), T, rope);
  const k = rotaryReference(column(1), T, rope);
  const attended = attentionReference(q, k, column(2), { heads: HEADS, headDim: HEAD_DIM, queryCount: T, keyCount: T, mask: { prefix: PREFIX } }).out;
  const r = h.map((v, i) => v + attended[i]);
  const logits = linearRef(r, T, p.wOut, p.bOut, VOCAB, D);
  return crossEntropyReference(logits, TARGETS, VOCAB).loss;
}

function gpuLoss(engine: Engine, tape: Tape | null, t: Record<Name, Tensor>): Tensor {
  const a = apply(engine, tape, layerNormOp, [t.x, t.lnWeight, t.lnBias], { eps: 1e-5 });
  const pre = linear(engine, tape, a, t.w1, t.b1, { lora: { a: t.loraA, b: t.loraB, scale: LORA_SCALE } });
  const h = apply(engine, tape, geluOp, [pre]);
  const qkv = linear(engine, tape, h, t.wQkv, t.bQkv);
  const attended = selfAttention(engine, tape, qkv, { heads: HEADS, headDim: HEAD_DIM, rotaryDim: ROTARY_DIM, mask: { prefix: PREFIX } });
  const r = apply(engine, tape, addOp, [h, attended]);
  const logits = linear(engine, tape, r, t.wOut, t.bOut);
  const targets = engine.upload(TARGETS, [T], 'i32');
  const loss = apply(engine, tape, crossEntropyOp, [logits, targets]);
  for (const tensor of [a, pre, h, qkv, attended, r, logits, targets]) tape ? tape.release(tensor) : tensor.dispose();
  return loss;
}

describe('Tape', () => {
  it('matches float64 finite differences of the CPU reference composition, and frees everything', async () => {
    const engine = await testEngine();
    const values = initialValues();
    const tensors = {} as Record<Name, Tensor>;
    for (const name of NAMES) tensors[name] = engine.upload(Float32Array.from(values[name]), SHAPES[name]);
    const before = engine.poolStats().liveBuffers;

    const tape = new Tape(engine);
    tape.watch(...NAMES.map((name) => tensors[name]));
    const loss = gpuLoss(engine, tape, tensors);
    tape.backward(loss);
    const lossValue = (await engine.readFloat(loss))[0];
    // f32 forward of O(1) values through 7 ops: ~1e-6 relative.
    expect(Math.abs(lossValue - referenceLoss(values))).toBeLessThan(1e-5);

    const next = mulberry32(5);
    const h = 1e-5;
    for (const name of NAMES) {
      const grad = await engine.readFloat(tape.grad(tensors[name])!);
      // Six entries per tensor (all of them for small ones).
      const count = values[name].length;
      const indices = count <= 8 ? Array.from({ length: count }, (_, i) => i) : Array.from({ length: 6 }, () => Math.floor(next() * count));
      for (const index of indices) {
        const original = values[name][index];
        values[name][index] = original + h;
        const plus = referenceLoss(values);
        values[name][index] = original - h;
        const minus = referenceLoss(values);
        values[name][index] = original;
        const numeric = (plus - minus) / (2 * h);
        // Central differences in float64 are good to ~1e-9 here; the GPU gradient is f32 math
        // on values of O(1): 2e-5 absolute plus 1e-3 relative covers its rounding.
        expect(Math.abs(grad[index] - numeric), `${name}[${index}]: gpu ${grad[index]} vs fd ${numeric}`).toBeLessThan(2e-5 + 1e-3 * Math.abs(numeric));
      }
    }
    tape.dispose();
    loss.dispose();
    expect(engine.poolStats().liveBuffers).toBe(before);
    for (const name of NAMES) tensors[name].dispose();
  });

  it('records nothing and keeps no gradients for frozen inputs', async () => {
    const engine = await testEngine();
    const values = initialValues();
    const tensors = {} as Record<Name, Tensor>;
    for (const name of NAMES) tensors[name] = engine.upload(Float32Array.from(values[name]), SHAPES[name]);
    const before = engine.poolStats().liveBuffers;
    const tape = new Tape(engine);
    tape.watch(tensors.wOut);
    const loss = gpuLoss(engine, tape, tensors);
    tape.backward(loss);
    expect(tape.grad(tensors.wOut)).toBeDefined();
    expect(() => tape.grad(tensors.w1)).toThrow(/not watched/);
    // Only the loss and the one gradient are alive: nothing upstream of wOut was saved.
    expect(engine.poolStats().liveBuffers).toBe(before + 2);
    tape.dispose();
    loss.dispose();
    // Inference (no tape) leaves only the loss.
    const inferenceLoss = gpuLoss(engine, null, tensors);
    expect(engine.poolStats().liveBuffers).toBe(before + 1);
    expect(Math.abs((await engine.readFloat(inferenceLoss))[0] - referenceLoss(values))).toBeLessThan(1e-5);
    inferenceLoss.dispose();
    for (const name of NAMES) tensors[name].dispose();
  });

  it('trains a Linear whose weight is split in row chunks (weights over the binding limit) like the whole weight', async () => {
    const engine = await testEngine();
    const [rows, inputs, outputs] = [5, 6, 9];
    const xValues = randomNormals(rows * inputs, 61);
    const weightValues = randomNormals(outputs * inputs, 62);
    const gradValues = randomNormals(rows * outputs, 63);
    const run = async (chunked: boolean) => {
      const x = engine.upload(xValues, [rows, inputs]);
      const chunks = chunked
        ? [engine.upload(weightValues.subarray(0, 4 * inputs), [4, inputs]), engine.upload(weightValues.subarray(4 * inputs), [5, inputs])]
        : [engine.upload(weightValues, [outputs, inputs])];
      const tape = new Tape(engine);
      tape.watch(x, ...chunks);
      const y = linear(engine, tape, x, chunked ? chunks : chunks[0]);
      tape.backward(y, engine.upload(gradValues, [rows, outputs]));
      const gradWeight = new Float32Array(outputs * inputs);
      let offset = 0;
      for (const chunk of chunks) {
        gradWeight.set(await engine.readFloat(tape.grad(chunk)!), offset);
        offset += chunk.size;
      }
      const result = { y: await engine.readFloat(y), gradX: await engine.readFloat(tape.grad(x)!), gradWeight };
      tape.dispose();
      for (const tensor of [x, y, ...chunks]) tensor.dispose();
      return result;
    };
    const whole = await run(false);
    const split = await run(true);
    // Same products, same f32 summation order per output element: equal to rounding.
    for (const key of ['y', 'gradX', 'gradWeight'] as const) {
      for (let i = 0; i < whole[key].length; i++) expect(Math.abs(split[key][i] - whole[key][i]), `${key}[${i}]`).toBeLessThan(1e-5);
    }
  });

  it('refuses a second backward and a loss that does not depend on watched tensors', async () => {
    const engine = await testEngine();
    const x = engine.upload(Float32Array.of(1, 2), [1, 2]);
    const tape = new Tape(engine);
    expect(() => tape.backward(x)).toThrow(/does not depend/);
    expect(() => tape.backward(x)).toThrow(/once/);
    tape.dispose();
    x.dispose();
  });
});
