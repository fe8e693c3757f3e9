import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/model/config.ts';
import { REVISIONS, revisionFromConfig } from '../../../src/model/revisions.ts';
import { bytesToStream } from '../../../src/model/safetensors-stream.ts';
import { streamWeights, type LoadedWeight } from '../../../src/model/weight-stream.ts';
import { float32ToFloat16Bits } from '../../../src/gpu/f16.ts';
import { buildSafetensors, f32Bytes } from '../../helpers/safetensors-builder.ts';
import { fixtureBytes, fixtureJson, weightsFile } from '../../helpers/fixture-files.ts';

describe('streamWeights', () => {
  const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'moondream-tiny' });
  const f32 = weightsFile('model.safetensors');

  it('delivers all 96 canonical weights from the bf16 file as f32 equal to the f32 file to bf16 precision', async () => {
    const weights: LoadedWeight[] = [];
    const summary = await streamWeights(bytesToStream(fixtureBytes('model.bf16.safetensors'), 7), { revision, format: 'f32', onWeight: (w) => void weights.push(w) });
    expect(summary.weightCount).toBe(96);
    expect(weights).toHaveLength(96);
    for (const weight of weights) {
      const reference = f32.float32(weight.canonical);
      expect(weight.shape).toEqual(f32.info(weight.canonical).shape);
      // bf16 keeps 8 significant bits: round-to-nearest is off by at most 2^-8 relative.
      let worst = 0;
      for (let i = 0; i < reference.length; i++) worst = Math.max(worst, reference[i] === 0 ? Math.abs(weight.data[i]) : Math.abs(weight.data[i] - reference[i]) / Math.abs(reference[i]));
      expect(worst).toBeLessThanOrEqual(2 ** -8);
    }
  });

  it('delivers f16 bits equal to rounding the f32 file once', async () => {
    const weights: LoadedWeight[] = [];
    const summary = await streamWeights(bytesToStream(fixtureBytes('model.safetensors'), 4096), { revision, format: 'f16', onWeight: (w) => void weights.push(w) });
    expect(summary.clampedCount).toBe(0);
    const wte = weights.find((w) => w.canonical === 'model.text.wte')!;
    const reference = f32.float32('model.text.wte');
    expect(wte.format).toBe('f16');
    let mismatches = 0;
    for (let i = 0; i < reference.length; i++) if (wte.data[i] !== float32ToFloat16Bits(reference[i])) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('rejects a checkpoint of another revision after reading only its header', async () => {
    const file = fixtureBytes('model.safetensors');
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = file.slice(pulled, pulled + 1024);
        pulled += chunk.byteLength;
        if (chunk.byteLength === 0) controller.close();
        else controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const delivered: string[] = [];
    await expect(streamWeights(stream, { revision: REVISIONS['2025-06-21'], format: 'f16', onWeight: (w) => void delivered.push(w.canonical), source: 'model.safetensors' }))
      .rejects.toThrow(/The weights in model\.safetensors do not match the selected model revision:\nmissing tensors/);
    expect(delivered).toEqual([]);
    expect(pulled).toBeLessThan(64 * 1024);
  });

  it('transposes legacy Fourier features ([in, out] in the file) to their canonical [out, in]', async () => {
    const transposed = (values: Float32Array, rows: number, cols: number) => {
      const out = new Float32Array(values.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
      return out;
    };
    const legacy: Record<string, [string, number[]]> = {
      'model.region.coord_features': ['region_model.coordinate_features.weight', [8, 1]],
      'model.region.size_features': ['region_model.size_features.weight', [8, 2]],
    };
    const entries = f32.names.map((name) => {
      const info = f32.info(name);
      const values = f32.float32(name);
      if (!legacy[name]) return { name, dtype: 'F32', shape: [...info.shape], data: new Uint8Array(values.buffer) };
      const [legacyName, shape] = legacy[name];
      return { name: legacyName, dtype: 'F32', shape, data: new Uint8Array(transposed(values, info.shape[0], info.shape[1]).buffer) };
    });
    const weights = new Map<string, LoadedWeight>();
    await streamWeights(bytesToStream(buildSafetensors(entries), 999), { revision, format: 'f32', onWeight: (w) => void weights.set(w.canonical, w) });
    expect(weights.size).toBe(96);
    for (const name of Object.keys(legacy)) {
      expect(weights.get(name)!.shape).toEqual(f32.info(name).shape);
      expect(Array.from(weights.get(name)!.data)).toEqual(Array.from(f32.float32(name)));
    }
    const bytes = buildSafetensors([{ name: 'region_model.size_features.weight', dtype: 'F32', shape: [3, 2], data: f32Bytes([1, 2, 3, 4, 5, 6]) }]);
    await expect(streamWeights(bytesToStream(bytes), { revision, format: 'f32', onWeight: () => undefined })).rejects.toThrow(/region_model\.size_features\.weight: \[3, 2\], expected \[2, 8\]/);
  });

  it('chooses the format per weight when given a function', async () => {
    const formats = new Map<string, string>();
    await streamWeights(bytesToStream(fixtureBytes('model.safetensors'), 1 << 14), {
      revision,
      format: ({ shape }) => (shape.length === 2 ? 'f16' : 'f32'),
      onWeight: (w) => void formats.set(w.canonical, `${w.format}:${w.data.constructor.name}`),
    });
    expect(formats.get('model.text.wte')).toBe('f16:Uint16Array');
    expect(formats.get('model.text.post_ln.bias')).toBe('f32:Float32Array');
  });

  it('rejects a non-float tensor with the header, naming it', async () => {
    const expectedTensors = new Map([['model.vision.patch_emb.weight', [2, 2]]]);
    const bytes = buildSafetensors([{ name: 'model.vision.patch_emb.weight', dtype: 'I32', shape: [2, 2], data: new Uint8Array(16) }]);
    const delivered: string[] = [];
    await expect(streamWeights(bytesToStream(bytes), { revision, expectedTensors, format: 'f32', source: 'q.safetensors', onWeight: (w) => void delivered.push(w.canonical) }))
      .rejects.toThrow(/The weights in q\.safetensors hold non-float tensors \(model\.vision\.patch_emb\.weight: I32\)/);
    expect(delivered).toEqual([]);
  });
});
