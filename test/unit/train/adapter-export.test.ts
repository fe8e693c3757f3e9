import { describe, expect, it } from 'vitest';
import { ADAPTER_FORMAT, readAdapterFile, writeAdapterFile } from '../../../src/train/adapter-export.ts';
import { fixtureBytes } from '../../helpers/fixture-files.ts';

const adapters = new Map([
  ['model.text.blocks.0.attn.qkv', { a: Float32Array.of(1, 2, 3, 4, 5, 6), b: Float32Array.from({ length: 18 }, (_, i) => -i / 3), inFeatures: 3, outFeatures: 9 }],
  ['model.text.blocks.1.mlp.fc2', { a: Float32Array.of(0.5, -0.5, 1e-30, 7), b: Float32Array.of(9, 8, 7, 6), inFeatures: 2, outFeatures: 2 }],
]);
const file = { config: { rank: 2, alpha: 4, targets: ['attn.qkv', 'mlp.fc2'] as const }, revision: '2025-06-21', adapters };

describe('adapter files', () => {
  it('writes the safetensors layout: u64 header length, JSON header padded to 8, f32 data in order', () => {
    const bytes = writeAdapterFile({ ...file, config: { ...file.config, targets: [...file.config.targets] } });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header.__metadata__).toEqual({ format: ADAPTER_FORMAT, rank: '2', alpha: '4', targets: 'attn.qkv,mlp.fc2', revision: '2025-06-21' });
    expect(header['model.text.blocks.0.attn.qkv.lora_A']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header['model.text.blocks.0.attn.qkv.lora_B']).toEqual({ dtype: 'F32', shape: [9, 2], data_offsets: [24, 96] });
    expect(bytes.length).toBe(8 + headerLength + (6 + 18 + 4 + 4) * 4);
    expect(new DataView(bytes.buffer).getFloat32(8 + headerLength + 4, true)).toBe(2); // A[0][1]
  });

  it('reads back the same adapters, bit for bit, and the config', () => {
    const read = readAdapterFile(writeAdapterFile({ ...file, config: { ...file.config, targets: [...file.config.targets] } }));
    expect(read.config).toEqual({ rank: 2, alpha: 4, targets: ['attn.qkv', 'mlp.fc2'] });
    expect(read.revision).toBe('2025-06-21');
    expect(read.adapters).toEqual(adapters);
  });

  it('refuses a safetensors file that is not an adapter, saying what to load', () => {
    expect(() => readAdapterFile(fixtureBytes('model.safetensors'))).toThrow(/not a moontune LoRA adapter.*export adapters/);
  });

  it('refuses arrays that do not fit their shape', () => {
    const broken = new Map([['x', { a: new Float32Array(5), b: new Float32Array(4), inFeatures: 2, outFeatures: 2 }]]);
    expect(() => writeAdapterFile({ ...file, config: { ...file.config, targets: [] }, adapters: broken })).toThrow(/x\.lora_A has 5 values for shape \[2, 2\]/);
  });
});
