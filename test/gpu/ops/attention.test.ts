import { describe, expect, it } from 'vitest';
import {
  attention,
  attentionBackward,
  attentionBackwardReference,
  attentionReference,
  splitQkv,
  type AttentionMask,
} from '../../../src/gpu/ops/attention.ts';
import type { AttentionReferenceShape } from '../../../src/gpu/ops/attention.reference.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';
import { maxRelativeError } from '../../helpers/compare.ts';

/** Largest |actual − expected| / (1 + |expected|) over all elements. */

// f32 kernels against a float64 reference: scores are sums of ≤72 products of O(1) inputs and
// softmax weights are normalised, so ~1e-6 relative rounding per step; 2e-5 leaves headroom for
// the exp() of SwiftShader and summation over up to 130 keys.
const FORWARD_TOLERANCE = 2e-5;
// Backward sums ~3× more terms, each the difference of two near-equal products (p·(dP − Δ)).
const BACKWARD_TOLERANCE = 1e-4;

const MASKS: AttentionMask[] = ['none', 'causal', { prefix: 5 }];

function maskName(mask: AttentionMask): string {
  return typeof mask === 'object' ? `prefix ${mask.prefix}` : mask;
}

describe('attention forward', () => {
  for (const mask of MASKS) {
    for (const length of [1, 7, 64, 130]) {
      it(`matches the naive reference: ${maskName(mask)}, T = ${length}, 2 heads × 16`, async () => {
        const engine = await testEngine();
        const shape: AttentionReferenceShape = { heads: 2, headDim: 16, queryCount: length, keyCount: length, mask };
        const width = 32;
        const qs = randomFloats(length * width, 11 + length, -2, 2);
        const ks = randomFloats(length * width, 12 + length, -2, 2);
        const vs = randomFloats(length * width, 13 + length);
        const expected = attentionReference(qs, ks, vs, shape);
        const result = engine.scope(() => {
          const q = engine.upload(qs, [length, width]);
          const k = engine.upload(ks, [length, width]);
          const v = engine.upload(vs, [length, width]);
          return attention(engine, q, k, v, { heads: 2, headDim: 16, mask });
        });
        expect(maxRelativeError(await engine.readFloat(result.out), expected.out)).toBeLessThan(FORWARD_TOLERANCE);
        expect(maxRelativeError(await engine.readFloat(result.logsumexp), expected.logsumexp)).toBeLessThan(FORWARD_TOLERANCE);
        result.out.dispose();
        result.logsumexp.dispose();
      });
    }
  }

  it('reads Q, K, V in place from a fused qkv buffer (vision shape: 3 heads × 72, T = 33)', async () => {
    const engine = await testEngine();
    const [length, heads, headDim] = [33, 3, 72];
    const width = heads * headDim;
    const fused = randomFloats(length * 3 * width, 21);
    const split = (block: number) =>
      Float32Array.from({ length: length * width }, (_, i) => fused[Math.floor(i / width) * 3 * width + block * width + (i % width)]);
    const expected = attentionReference(split(0), split(1), split(2), { heads, headDim, queryCount: length, keyCount: length, mask: 'none' });
    const out = engine.scope(() => {
      const qkv = engine.upload(fused, [length, 3 * width]);
      const { q, k, v } = splitQkv(qkv, width);
      return attention(engine, q, k, v, { heads, headDim, mask: 'none' }).out;
    });
    expect(maxRelativeError(await engine.readFloat(out), expected.out)).toBeLessThan(FORWARD_TOLERANCE);
    out.dispose();
  });

  for (const mask of ['causal', { prefix: 17 }] as AttentionMask[]) {
    it(`decodes one token against a longer KV cache (${maskName(mask)}, kvLength 20 of 24 rows)`, async () => {
      const engine = await testEngine();
      const [heads, headDim, cacheRows, kvLength] = [4, 16, 24, 20];
      const width = heads * headDim;
      const qs = randomFloats(width, 31, -2, 2);
      const ks = randomFloats(cacheRows * width, 32, -2, 2);
      const vs = randomFloats(cacheRows * width, 33);
      // Token at position 19 sees cache rows 0..19; rows 20..23 are stale and must be ignored.
      const expected = attentionReference(qs, ks, vs, { heads, headDim, queryCount: 1, keyCount: kvLength, mask, queryOffset: 19 });
      const out = engine.scope(() => {
        const q = engine.upload(qs, [1, width]);
        const k = engine.upload(ks, [cacheRows, width]);
        const v = engine.upload(vs, [cacheRows, width]);
        return attention(engine, q, k, v, { heads, headDim, mask, kvLength, queryOffset: 19 }).out;
      });
      expect(maxRelativeError(await engine.readFloat(out), expected.out)).toBeLessThan(FORWARD_TOLERANCE);
      out.dispose();
    });
  }

  const longCacheCases: [AttentionMask, number, number, number][] = [
    [{ prefix: 17 }, 1, 299, 72],
    ['causal', 3, 100, 16],
    ['none', 8, 0, 16],
  ];
  for (const [mask, queryCount, queryOffset, headDim] of longCacheCases) {
    it(`decode kernel: ${queryCount} query rows at position ${queryOffset} over a 300-row cache (${maskName(mask)}, head ${headDim})`, async () => {
      // More keys than the decode workgroup's 32 invocations: each merges a strided share.
      const engine = await testEngine();
      const [heads, cacheRows, kvLength] = [2, 310, 300];
      const width = heads * headDim;
      const qs = randomFloats(queryCount * width, 81, -3, 3);
      const ks = randomFloats(cacheRows * width, 82, -3, 3);
      const vs = randomFloats(cacheRows * width, 83);
      const expected = attentionReference(qs, ks, vs, { heads, headDim, queryCount, keyCount: kvLength, mask, queryOffset });
      const result = engine.scope(() => {
        const q = engine.upload(qs, [queryCount, width]);
        const k = engine.upload(ks, [cacheRows, width]);
        const v = engine.upload(vs, [cacheRows, width]);
        return attention(engine, q, k, v, { heads, headDim, mask, kvLength, queryOffset });
      });
      expect(maxRelativeError(await engine.readFloat(result.out), expected.out)).toBeLessThan(FORWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(result.logsumexp), expected.logsumexp)).toBeLessThan(FORWARD_TOLERANCE);
      result.out.dispose();
      result.logsumexp.dispose();
    });
  }

  it('matches prefill rows when decoding a chunk with queryOffset (prefix mask straddling P)', async () => {
    const engine = await testEngine();
    const [heads, headDim, length] = [2, 16, 12];
    const width = heads * headDim;
    const qs = randomFloats(length * width, 41, -2, 2);
    const ks = randomFloats(length * width, 42, -2, 2);
    const vs = randomFloats(length * width, 43);
    const mask = { prefix: 6 };
    const full = attentionReference(qs, ks, vs, { heads, headDim, queryCount: length, keyCount: length, mask });
    // Query rows 4..11 (positions 4..11) against the whole cache: rows 4, 5 are in the prefix.
    const out = engine.scope(() => {
      const q = engine.upload(qs.subarray(4 * width), [length - 4, width]);
      const k = engine.upload(ks, [length, width]);
      const v = engine.upload(vs, [length, width]);
      return attention(engine, q, k, v, { heads, headDim, mask, queryOffset: 4 }).out;
    });
    expect(maxRelativeError(await engine.readFloat(out), full.out.subarray(4 * width))).toBeLessThan(FORWARD_TOLERANCE);
    out.dispose();
  });

  it('rejects mismatched shapes with a message naming the operand', async () => {
    const engine = await testEngine();
    engine.scope(() => {
      const q = engine.zeros([4, 32]);
      const k = engine.zeros([4, 16]);
      expect(() => attention(engine, q, k, k, { heads: 2, headDim: 16, mask: 'none' })).toThrow(/k columns/);
      expect(() => attention(engine, q, q, q, { heads: 2, headDim: 16, mask: 'none', kvLength: 5 })).toThrow(/kvLength/);
    });
  });
});

describe('attention backward', () => {
  it('reference gradients match central finite differences (float64)', () => {
    const shape: AttentionReferenceShape = { heads: 2, headDim: 3, queryCount: 5, keyCount: 5, mask: { prefix: 2 } };
    const size = 5 * 6;
    const inputs = [0, 1, 2].map((i) => Float64Array.from(randomFloats(size, 51 + i, -1.5, 1.5)));
    const gradOut = Float64Array.from(randomFloats(size, 55));
    const loss = (q: Float64Array, k: Float64Array, v: Float64Array) =>
      attentionReference(q, k, v, shape).out.reduce((sum, value, i) => sum + value * gradOut[i], 0);
    const analytic = attentionBackwardReference(gradOut, inputs[0], inputs[1], inputs[2], shape);
    const grads = [analytic.gradQ, analytic.gradK, analytic.gradV];
    const step = 1e-6;
    for (let which = 0; which < 3; which++) {
      for (let i = 0; i < size; i++) {
        const plus = inputs.map((x) => x.slice());
        const minus = inputs.map((x) => x.slice());
        plus[which][i] += step;
        minus[which][i] -= step;
        const numeric = (loss(plus[0], plus[1], plus[2]) - loss(minus[0], minus[1], minus[2])) / (2 * step);
        // Central differences in float64: truncation O(step²) and rounding ~1e-16/step ≈ 1e-10.
        expect(Math.abs(numeric - grads[which][i])).toBeLessThan(1e-7);
      }
    }
  });

  const cases: [AttentionMask, number, number][] = [
    ['none', 7, 16],
    ['causal', 64, 16],
    ['causal', 130, 16],
    [{ prefix: 17 }, 33, 16],
    [{ prefix: 5 }, 9, 72],
    ['none', 1, 16],
  ];
  for (const [mask, length, headDim] of cases) {
    it(`GPU gradients match the reference: ${maskName(mask)}, T = ${length}, 2 heads × ${headDim}`, async () => {
      const engine = await testEngine();
      const heads = 2;
      const width = heads * headDim;
      const shape: AttentionReferenceShape = { heads, headDim, queryCount: length, keyCount: length, mask };
      const qs = randomFloats(length * width, 61 + length, -2, 2);
      const ks = randomFloats(length * width, 62 + length, -2, 2);
      const vs = randomFloats(length * width, 63 + length);
      const gradOuts = randomFloats(length * width, 64 + length);
      const expected = attentionBackwardReference(gradOuts, qs, ks, vs, shape);
      const before = engine.poolStats().liveBuffers;
      const grads = engine.scope(() => {
        const q = engine.upload(qs, [length, width]);
        const k = engine.upload(ks, [length, width]);
        const v = engine.upload(vs, [length, width]);
        const gradOut = engine.upload(gradOuts, [length, width]);
        const { out, logsumexp } = attention(engine, q, k, v, { heads, headDim, mask });
        return attentionBackward(engine, gradOut, q, k, v, out, logsumexp, { heads, headDim, mask });
      });
      expect(maxRelativeError(await engine.readFloat(grads.gradQ), expected.gradQ)).toBeLessThan(BACKWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(grads.gradK), expected.gradK)).toBeLessThan(BACKWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(grads.gradV), expected.gradV)).toBeLessThan(BACKWARD_TOLERANCE);
      grads.gradQ.dispose();
      grads.gradK.dispose();
      grads.gradV.dispose();
      expect(engine.poolStats().liveBuffers).toBe(before);
    });
  }

  for (const mask of ['causal', { prefix: 9 }] as AttentionMask[]) {
    it(`backward of a query chunk against a longer cache (Tq 5 at offset 7, Tk 12, ${maskName(mask)})`, async () => {
      const engine = await testEngine();
      const [heads, headDim, queryCount, keyCount, queryOffset] = [2, 16, 5, 12, 7];
      const width = heads * headDim;
      const shape: AttentionReferenceShape = { heads, headDim, queryCount, keyCount, mask, queryOffset };
      const qs = randomFloats(queryCount * width, 91, -2, 2);
      const ks = randomFloats(keyCount * width, 92, -2, 2);
      const vs = randomFloats(keyCount * width, 93);
      const gradOuts = randomFloats(queryCount * width, 94);
      const expected = attentionBackwardReference(gradOuts, qs, ks, vs, shape);
      const options = { heads, headDim, mask, queryOffset };
      const grads = engine.scope(() => {
        const q = engine.upload(qs, [queryCount, width]);
        const k = engine.upload(ks, [keyCount, width]);
        const v = engine.upload(vs, [keyCount, width]);
        const { out, logsumexp } = attention(engine, q, k, v, options);
        return attentionBackward(engine, engine.upload(gradOuts, [queryCount, width]), q, k, v, out, logsumexp, options);
      });
      expect(maxRelativeError(await engine.readFloat(grads.gradQ), expected.gradQ)).toBeLessThan(BACKWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(grads.gradK), expected.gradK)).toBeLessThan(BACKWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(grads.gradV), expected.gradV)).toBeLessThan(BACKWARD_TOLERANCE);
      for (const tensor of Object.values(grads)) tensor.dispose();
    });
  }

  for (const mask of ['none', { prefix: 4 }] as AttentionMask[]) {
    it(`a batch of 3 sequences stacked by rows equals each sequence alone, forward and backward (${maskName(mask)}, T = 9, fused qkv)`, async () => {
      const engine = await testEngine();
      const [sequences, length, heads, headDim] = [3, 9, 2, 16];
      const width = heads * headDim;
      const shape: AttentionReferenceShape = { heads, headDim, queryCount: length, keyCount: length, mask };
      const qkvs = randomFloats(sequences * length * 3 * width, 71, -2, 2);
      const gradOuts = randomFloats(sequences * length * width, 72);
      // Per sequence, the reference on that sequence's rows alone.
      const column = (sequence: number, block: number) =>
        Float64Array.from({ length: length * width }, (_, i) => qkvs[(sequence * length + Math.floor(i / width)) * 3 * width + block * width + (i % width)]);
      const expected = { out: [] as number[], gradQ: [] as number[], gradK: [] as number[], gradV: [] as number[] };
      for (let sequence = 0; sequence < sequences; sequence++) {
        const [q, k, v] = [0, 1, 2].map((block) => column(sequence, block));
        const gradOut = gradOuts.subarray(sequence * length * width, (sequence + 1) * length * width);
        expected.out.push(...attentionReference(q, k, v, shape).out);
        const grads = attentionBackwardReference(gradOut, q, k, v, shape);
        expected.gradQ.push(...grads.gradQ);
        expected.gradK.push(...grads.gradK);
        expected.gradV.push(...grads.gradV);
      }
      const options = { heads, headDim, mask, sequences };
      const result = engine.scope(() => {
        const { q, k, v } = splitQkv(engine.upload(qkvs, [sequences * length, 3 * width]), width);
        const { out, logsumexp } = attention(engine, q, k, v, options);
        return { out, ...attentionBackward(engine, engine.upload(gradOuts, [sequences * length, width]), q, k, v, out, logsumexp, options) };
      });
      expect(maxRelativeError(await engine.readFloat(result.out), expected.out)).toBeLessThan(FORWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(result.gradQ), expected.gradQ)).toBeLessThan(BACKWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(result.gradK), expected.gradK)).toBeLessThan(BACKWARD_TOLERANCE);
      expect(maxRelativeError(await engine.readFloat(result.gradV), expected.gradV)).toBeLessThan(BACKWARD_TOLERANCE);
      for (const tensor of Object.values(result)) tensor.dispose();
    });
  }

  it('allocates memory linear in T: no T×T buffer in forward or backward (T = 130)', async () => {
    const engine = await testEngine();
    const [length, heads, headDim] = [130, 2, 16];
    const width = heads * headDim;
    engine.pool.trim();
    const poolBytes = () => engine.poolStats().liveBytes + engine.poolStats().freeBytes;
    const before = poolBytes();
    engine.scope(() => {
      const q = engine.upload(randomFloats(length * width, 1), [length, width]);
      const { out, logsumexp } = attention(engine, q, q, q, { heads, headDim, mask: 'causal' });
      attentionBackward(engine, out, q, q, q, out, logsumexp, { heads, headDim, mask: 'causal' });
    });
    await engine.sync();
    // Inputs, outputs and gradients are 5 [T, width] tensors plus two [heads, T] rows; a single
    // score matrix would be heads·T² floats (135 kB), more than all of them together (~83 kB).
    const grown = poolBytes() - before;
    expect(grown).toBeLessThan(heads * length * length * 4);
    expect(grown).toBeGreaterThanOrEqual(5 * length * width * 4);
  });

  it('backward reads a fused qkv buffer in place', async () => {
    const engine = await testEngine();
    const [length, heads, headDim] = [10, 2, 16];
    const width = heads * headDim;
    const fused = randomFloats(length * 3 * width, 71);
    const gradOuts = randomFloats(length * width, 72);
    const split = (block: number) =>
      Float32Array.from({ length: length * width }, (_, i) => fused[Math.floor(i / width) * 3 * width + block * width + (i % width)]);
    const mask = 'causal';
    const expected = attentionBackwardReference(gradOuts, split(0), split(1), split(2), { heads, headDim, queryCount: length, keyCount: length, mask });
    const grads = engine.scope(() => {
      const qkv = engine.upload(fused, [length, 3 * width]);
      const gradOut = engine.upload(gradOuts, [length, width]);
      const { q, k, v } = splitQkv(qkv, width);
      const { out, logsumexp } = attention(engine, q, k, v, { heads, headDim, mask });
      return attentionBackward(engine, gradOut, q, k, v, out, logsumexp, { heads, headDim, mask });
    });
    expect(maxRelativeError(await engine.readFloat(grads.gradQ), expected.gradQ)).toBeLessThan(BACKWARD_TOLERANCE);
    expect(maxRelativeError(await engine.readFloat(grads.gradK), expected.gradK)).toBeLessThan(BACKWARD_TOLERANCE);
    expect(maxRelativeError(await engine.readFloat(grads.gradV), expected.gradV)).toBeLessThan(BACKWARD_TOLERANCE);
    for (const tensor of Object.values(grads)) tensor.dispose();
  });
});
