// LoRA adapters: initialisation (seeded A, zero B), export/import, and the adapted Linear on a
// frozen packed-f16 weight against a float64 CPU reference, forward and backward.
import { describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import { linear } from '../../../src/gpu/autograd-ops.ts';
import { LoraAdapters, loraLayerNames, type LoraConfig } from '../../../src/gpu/lora.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../src/gpu/f16.ts';
import { matmulReference } from '../../../src/gpu/ops/matmul.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32, randomFloats, randomNormals } from '../../helpers/random.ts';

const CONFIG: LoraConfig = { rank: 4, alpha: 8, targets: ['attn.qkv', 'mlp.fc2'] };

describe('LoraAdapters', () => {
  it('names the adapted layers of every block in target order', () => {
    expect(loraLayerNames(2, ['mlp.fc2', 'attn.qkv'])).toEqual([
      'model.text.blocks.0.attn.qkv', 'model.text.blocks.0.mlp.fc2', 'model.text.blocks.1.attn.qkv', 'model.text.blocks.1.mlp.fc2',
    ]);
  });

  it('starts with seeded small random A and zero B, and round-trips through export/import', async () => {
    const engine = await testEngine();
    const layers = new Map<string, [number, number]>([['model.text.blocks.0.attn.qkv', [192, 64]], ['model.text.blocks.0.mlp.fc2', [64, 256]]]);
    const adapters = LoraAdapters.create(engine, CONFIG, layers, mulberry32(1));
    const again = LoraAdapters.create(engine, CONFIG, layers, mulberry32(1));
    const data = await adapters.export(engine);
    const qkv = data.get('model.text.blocks.0.attn.qkv')!;
    expect(qkv.a).toHaveLength(4 * 64);
    expect(qkv.b).toHaveLength(192 * 4);
    expect(qkv.b.every((value) => value === 0)).toBe(true);
    // 256 draws of N(0, 0.02²): the sample std is within 20% of 0.02 with overwhelming probability.
    const std = Math.sqrt(qkv.a.reduce((sum, v) => sum + v * v, 0) / qkv.a.length);
    expect(std).toBeGreaterThan(0.016);
    expect(std).toBeLessThan(0.024);
    expect(Array.from((await again.export(engine)).get('model.text.blocks.0.attn.qkv')!.a)).toEqual(Array.from(qkv.a));
    expect(adapters.get('model.text.blocks.0.attn.qkv')!.scale).toBe(2);
    expect(adapters.parameters()).toHaveLength(4);

    const changed = new Map([...data].map(([name, d]) => [name, { ...d, b: d.b.map((_, i) => i * 0.5) }]));
    again.import(engine, changed);
    const back = await again.export(engine);
    expect(Array.from(back.get('model.text.blocks.0.mlp.fc2')!.b)).toEqual(Array.from(changed.get('model.text.blocks.0.mlp.fc2')!.b));
    expect(() => LoraAdapters.fromData(engine, { ...CONFIG, rank: 2 }, data)).toThrow(/another rank/);
    expect(() => LoraAdapters.create(engine, { ...CONFIG, targets: ['attn.qkvx' as never] }, layers, mulberry32(1))).toThrow(/Unknown LoRA target/);
    adapters.dispose();
    again.dispose();
  });

  for (const [rows, inputs, outputs] of [[1, 7, 5], [33, 20, 13]] as const) {
    it(`adapts a frozen packed-f16 Linear: forward and gradients vs float64 (T ${rows}, ${inputs}→${outputs})`, async () => {
      const engine = await testEngine();
      const rank = 3;
      const scale = 8 / rank;
      const xValues = randomFloats(rows * inputs, rows + 1);
      // The CPU reference uses the f16-rounded weight, as the GPU sees it.
      const weightValues = randomFloats(outputs * inputs, rows + 2).map((v) => float16BitsToFloat32(float32ToFloat16Bits(v)));
      const biasValues = randomFloats(outputs, rows + 3);
      const aValues = randomNormals(rank * inputs, rows + 4, 0.3);
      const bValues = randomNormals(outputs * rank, rows + 5, 0.3);
      const gradValues = randomFloats(rows * outputs, rows + 6);
      const x = engine.upload(xValues, [rows, inputs]);
      const weight = engine.upload(weightValues, [outputs, inputs], 'f16');
      const bias = engine.upload(biasValues, [outputs]);
      const a = engine.upload(aValues, [rank, inputs]);
      const b = engine.upload(bValues, [outputs, rank]);
      const seed = engine.upload(gradValues, [rows, outputs]);
      const tape = new Tape(engine);
      tape.watch(x, a, b);
      const y = linear(engine, tape, x, weight, bias, { lora: { a, b, scale } });
      // Backward from y with dL/dy = seed (L = Σ seed ∘ y).
      tape.backward(y, seed);

      const low = matmulReference(xValues, aValues, rows, rank, inputs, { transposeB: true });
      const expectedY = matmulReference(xValues, weightValues, rows, outputs, inputs, { transposeB: true, bias: biasValues });
      const update = matmulReference(low, bValues, rows, outputs, rank, { transposeB: true, alpha: scale });
      const gradLow = matmulReference(gradValues, bValues, rows, rank, outputs, { alpha: scale });
      const expectedGradX = matmulReference(gradValues, weightValues, rows, inputs, outputs);
      const gradXLora = matmulReference(gradLow, aValues, rows, inputs, rank);
      const expected = {
        y: expectedY.map((v, i) => v + update[i]),
        x: expectedGradX.map((v, i) => v + gradXLora[i]),
        a: matmulReference(gradLow, xValues, rank, inputs, rows, { transposeA: true }),
        b: matmulReference(gradValues, low, outputs, rank, rows, { transposeA: true, alpha: scale }),
      };
      const actual = {
        y: await engine.readFloat(y),
        x: await engine.readFloat(tape.grad(x)!),
        a: await engine.readFloat(tape.grad(a)!),
        b: await engine.readFloat(tape.grad(b)!),
      };
      for (const key of ['y', 'x', 'a', 'b'] as const) {
        // f32 sums of ≤ 33 products of O(1) values: ~1e-6 relative; 1e-4 absolute leaves headroom.
        for (let i = 0; i < expected[key].length; i++) expect(Math.abs(actual[key][i] - expected[key][i]), `${key}[${i}]`).toBeLessThan(1e-4);
      }
      tape.dispose();
      for (const tensor of [x, weight, bias, a, b, y]) tensor.dispose();
    });
  }
});
