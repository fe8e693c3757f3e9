import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../../src/gpu/f16.ts';
import { matmulReference } from '../../../src/gpu/ops/matmul.ts';
import { parseConfig } from '../../../src/model/config.ts';
import { revisionFromConfig } from '../../../src/model/revisions.ts';
import { bytesToStream } from '../../../src/model/safetensors-stream.ts';
import { loadWeights, storageDtype, type WeightsProgress } from '../../../src/model/weights.ts';
import { linear } from '../../../src/model/layers.ts';
import { fixtureBytes, fixtureJson, weightsFile } from '../../helpers/fixture-files.ts';
import { buildSafetensors } from '../../helpers/safetensors-builder.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { randomFloats } from '../../helpers/random.ts';

const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'moondream-tiny' });

function bf16ToF32(bits: Uint16Array): Float32Array {
  return new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer);
}

describe('loadWeights', () => {
  it('uploads every f32 fixture tensor unchanged, keyed by canonical name, with progress', async () => {
    const engine = await testEngine();
    const bytes = fixtureBytes('model.safetensors');
    const progress: WeightsProgress[] = [];
    const weights = await loadWeights(engine, bytesToStream(bytes, 4096), revision, {
      precision: 'f32',
      expectedByteLength: bytes.byteLength,
      onProgress: (p) => progress.push(p),
    });
    const file = weightsFile();
    expect(weights.tensors.size).toBe(96);
    for (const name of file.names) {
      const tensor = weights.get(name);
      expect(tensor.dtype).toBe('f32');
      // An f32 upload is a byte copy: exact.
      expect(Array.from(await engine.readFloat(tensor)), name).toEqual(Array.from(file.float32(name)));
    }
    const last = progress.at(-1)!;
    expect(last.doneBytes).toBe(bytes.byteLength);
    expect(last.tensorsDone).toBe(96);
    expect(last.tensorsTotal).toBe(96);
    // Every tensor is f32 with even length here: GPU bytes = data bytes of the file.
    const dataBytes = file.header.dataByteLength;
    expect(weights.gpuBytes).toBe(dataBytes);
    expect(last.gpuBytes).toBe(dataBytes);
    expect(weights.clampedToF16).toBe(0);
    weights.dispose();
  });

  it('loads the bf16 file to f32 exactly and to packed f16 within f16 rounding', async () => {
    const engine = await testEngine();
    const bf16 = weightsFile('model.bf16.safetensors');
    const asF32 = await loadWeights(engine, bytesToStream(bf16.bytes, 1 << 14), revision, { precision: 'f32' });
    const asF16 = await loadWeights(engine, bytesToStream(bf16.bytes, 1 << 14), revision, { precision: 'f16' });
    for (const name of bf16.names) {
      const bits = new Uint16Array(bf16.tensorBytes(name).slice().buffer);
      const expected = bf16ToF32(bits);
      // bf16 → f32 is exact (bf16 is the top half of an f32).
      expect(Array.from(await engine.readFloat(asF32.get(name))), name).toEqual(Array.from(expected));
      const half = asF16.get(name);
      expect(half.dtype).toBe(storageDtype({ canonical: name, shape: half.shape }, 'f16'));
      const read = await engine.readFloat(half);
      // f16 keeps 11 significant bits: a single rounding is within 2^-11 relative (plus the
      // subnormal step 2^-24 near zero). Compare against an independent host rounding too.
      const rounded = half.dtype === 'f16' ? Float32Array.from(expected, (v) => float16BitsToFloat32(float32ToFloat16Bits(v))) : expected;
      expect(Array.from(read), name).toEqual(Array.from(rounded));
      let worst = 0;
      for (let i = 0; i < read.length; i++) worst = Math.max(worst, Math.abs(read[i] - expected[i]) - Math.abs(expected[i]) * 2 ** -11 - 2 ** -24);
      expect(worst, name).toBeLessThanOrEqual(0);
    }
    expect(asF16.get('model.vision.blocks.0.attn.qkv.weight').dtype).toBe('f16');
    expect(asF16.get('model.vision.blocks.0.ln1.weight').dtype).toBe('f32');
    expect(asF16.get('model.vision.patch_emb.bias').dtype).toBe('f32');
    // Half the matrix bytes: the f16 model holds less GPU memory.
    expect(asF16.gpuBytes).toBeLessThan(asF32.gpuBytes);
    asF32.dispose();
    asF16.dispose();
  });

  it('counts bf16 values clamped to the f16 range', async () => {
    const engine = await testEngine();
    // bf16 bits: 1e6 (0x4974), -70000 (0xc789), 2.0 (0x4000), 65504 is f16 max: 0x477f ≈ 65280 stays.
    const file = bytesWithTensor('BF16', Uint16Array.of(0x4974, 0xc789, 0x4000, 0x477f));
    const expectedTensors = new Map([['model.vision.patch_emb.weight', [2, 2]]]);
    const weights = await loadWeights(engine, bytesToStream(file), revision, { precision: 'f16', expectedTensors });
    expect(weights.clampedToF16).toBe(2);
    expect(Array.from(await engine.readFloat(weights.get('model.vision.patch_emb.weight')))).toEqual([65504, -65504, 2, 65280]);
    weights.dispose();
  });

  it('splits a tensor over the binding limit by rows; the parts reassemble and a Linear over them matches', async () => {
    const engine = await testEngine();
    const bytes = fixtureBytes('model.safetensors');
    // fc1 of the projection is [128, 64] f32 = 32 KiB; a 10 000-byte limit gives parts of 38 rows.
    const weights = await loadWeights(engine, bytesToStream(bytes), revision, { precision: 'f32', maxBindingBytes: 10_000 });
    const file = weightsFile();
    const name = 'model.vision.proj_mlp.fc1.weight';
    const parts = weights.rowParts(name);
    expect(parts.map((p) => [p.rowStart, p.rows])).toEqual([[0, 38], [38, 38], [76, 38], [114, 14]]);
    expect(() => weights.get(name)).toThrow(/split into 4 row blocks/);
    expect(weights.tensors.get(`${name}@rows38`)).toBe(parts[1].tensor);
    const joined: number[] = [];
    for (const part of parts) joined.push(...(await engine.readFloat(part.tensor)));
    expect(joined).toEqual(Array.from(file.float32(name)));

    const rows = 5;
    const input = randomFloats(rows * 64, 11);
    const layer = { weight: weights.byName().get(name)!, bias: weights.get('model.vision.proj_mlp.fc1.bias') };
    const y = engine.scope(() => linear(engine, null, engine.upload(input, [rows, 64]), layer));
    const expected = matmulReference(input, file.float32(name), rows, 128, 64, { transposeB: true, bias: file.float32('model.vision.proj_mlp.fc1.bias') });
    const got = await engine.readFloat(y);
    // f32 accumulation over K = 64 of values ~0.1: error well under 1e-5.
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThan(1e-5);
    y.dispose();
    weights.dispose();
  });

  it('rejects a header that lacks a tensor, listing it, before uploading anything', async () => {
    const engine = await testEngine();
    const file = weightsFile();
    const entries = file.header.tensors
      .filter((info) => info.name !== 'model.text.blocks.1.mlp.fc2.bias')
      .map((info) => ({ name: info.name, dtype: info.dtype, shape: [...info.shape], data: file.tensorBytes(info.name) }));
    const broken = buildSafetensors(entries);
    const before = engine.poolStats();
    await expect(loadWeights(engine, bytesToStream(broken), revision, { sourceName: 'broken.safetensors' })).rejects.toThrow(
      /broken\.safetensors[\s\S]*missing tensors \(1\):\n {2}model\.text\.blocks\.1\.mlp\.fc2\.bias \[64\]/,
    );
    expect(engine.poolStats()).toEqual(before);
  });

  it('rejects wrong shapes and unexpected tensors in one message', async () => {
    const engine = await testEngine();
    const file = weightsFile();
    const entries = file.header.tensors.map((info) => ({ name: info.name, dtype: info.dtype, shape: [...info.shape], data: file.tensorBytes(info.name) }));
    const lnBias = entries.find((e) => e.name === 'model.vision.post_ln.bias')!;
    lnBias.shape = [2, 16];
    entries.push({ name: 'model.vision.extra', dtype: 'F32', shape: [1], data: new Uint8Array(4) });
    await expect(loadWeights(engine, bytesToStream(buildSafetensors(entries)), revision)).rejects.toThrow(
      /wrong shape \(1\):\n {2}model\.vision\.post_ln\.bias: \[2, 16\], expected \[32\][\s\S]*unexpected tensors \(1\):\n {2}model\.vision\.extra/,
    );
  });
});

function bytesWithTensor(dtype: string, bits: Uint16Array): Uint8Array {
  return buildSafetensors([{ name: 'model.vision.patch_emb.weight', dtype, shape: [2, 2], data: new Uint8Array(bits.buffer) }]);
}
