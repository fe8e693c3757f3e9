// PEFT adapter files: key names `base_model.model.<module path>.lora_{A,B}.weight` with the
// module paths of each revision's transformers model (2025: the checkpoint names, spec §3.1;
// 2024-04-02: the Phi names of spec §3.2, written out by hand here), a target_modules pattern that
// matches exactly the adapted layers, the LoraConfig fields, and reading back (moontune's own
// files bit for bit, and files as PEFT writes them: bf16 values, rsLoRA scaling).
import { describe, expect, it } from 'vitest';
import type { LoraAdapterData } from '../../../src/gpu/lora.ts';
import { expectedWeightsOf, getRevision } from '../../../src/model/revisions.ts';
import { PEFT_CONFIG_FILE, peftModulePath, readPeftAdapter, writePeftAdapter } from '../../../src/train/peft-adapter.ts';
import { buildSafetensors, f32Bytes } from '../../helpers/safetensors-builder.ts';
import { randomFloats } from '../../helpers/random.ts';

const latest = getRevision('2025-06-21');
const original = getRevision('2024-04-02');

function adapterData(inFeatures: number, outFeatures: number, rank: number, seed: number): LoraAdapterData {
  return { a: randomFloats(rank * inFeatures, seed), b: randomFloats(outFeatures * rank, seed + 1), inFeatures, outFeatures };
}

const adapters = new Map([
  ['model.text.blocks.0.attn.qkv', adapterData(8, 24, 2, 1)],
  ['model.text.blocks.0.attn.proj', adapterData(8, 8, 2, 3)],
  ['model.text.blocks.1.mlp.fc1', adapterData(8, 32, 2, 5)],
  ['model.text.blocks.1.mlp.fc2', adapterData(32, 8, 2, 7)],
]);
const file = { config: { rank: 2, alpha: 4, targets: ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'] as const }, revision: '2025-06-21', adapters };

function header(bytes: Uint8Array): Record<string, { dtype: string; shape: number[] }> {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
}

describe('PEFT adapter export', () => {
  it('names 2025 layers base_model.model.<checkpoint name> and 2024-04-02 layers by their Phi modules', () => {
    expect(peftModulePath('model.text.blocks.3.attn.qkv', 'hf-2025')).toBe('model.text.blocks.3.attn.qkv');
    // spec §3.2 / §12: text_model.transformer.h.N.{mixer.Wqkv, mixer.out_proj, mlp.fc1, mlp.fc2}
    expect(peftModulePath('model.text.blocks.3.attn.qkv', 'legacy-2024')).toBe('text_model.transformer.h.3.mixer.Wqkv');
    expect(peftModulePath('model.text.blocks.0.attn.proj', 'legacy-2024')).toBe('text_model.transformer.h.0.mixer.out_proj');
    expect(peftModulePath('model.text.blocks.23.mlp.fc2', 'legacy-2024')).toBe('text_model.transformer.h.23.mlp.fc2');
    expect(() => peftModulePath('model.vision.blocks.0.attn.qkv', 'hf-2025')).toThrow(/not a text-block layer/);

    const written = header(writePeftAdapter({ ...file, config: { ...file.config, targets: [...file.config.targets] } }, latest).weights);
    expect(written['base_model.model.model.text.blocks.0.attn.qkv.lora_A.weight']).toMatchObject({ dtype: 'F32', shape: [2, 8] });
    expect(written['base_model.model.model.text.blocks.0.attn.qkv.lora_B.weight']).toMatchObject({ dtype: 'F32', shape: [24, 2] });
    const legacy = header(writePeftAdapter({ ...file, config: { ...file.config, targets: [...file.config.targets] } }, original).weights);
    expect(Object.keys(legacy).filter((key) => key !== '__metadata__').sort()).toEqual([
      'base_model.model.text_model.transformer.h.0.mixer.Wqkv.lora_A.weight',
      'base_model.model.text_model.transformer.h.0.mixer.Wqkv.lora_B.weight',
      'base_model.model.text_model.transformer.h.0.mixer.out_proj.lora_A.weight',
      'base_model.model.text_model.transformer.h.0.mixer.out_proj.lora_B.weight',
      'base_model.model.text_model.transformer.h.1.mlp.fc1.lora_A.weight',
      'base_model.model.text_model.transformer.h.1.mlp.fc1.lora_B.weight',
      'base_model.model.text_model.transformer.h.1.mlp.fc2.lora_A.weight',
      'base_model.model.text_model.transformer.h.1.mlp.fc2.lora_B.weight',
    ]);
  });

  it('writes a LoraConfig with rank, alpha, base repo and revision, and a target pattern matching exactly the adapted modules', () => {
    const { config } = writePeftAdapter({ ...file, config: { ...file.config, targets: ['attn.qkv', 'mlp.fc2'] } }, latest);
    const json = JSON.parse(new TextDecoder().decode(config));
    expect(json).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, base_model_name_or_path: 'vikhyatk/moondream2', revision: '2025-06-21', bias: 'none', use_dora: false, use_rslora: false, fan_in_fan_out: false });
    // Every Linear module of the full-size model, by its name in HfMoondream (the checkpoint's names).
    const modules = [...expectedWeightsOf(latest).keys()].filter((name) => name.endsWith('.weight')).map((name) => name.slice(0, -'.weight'.length));
    const pattern = new RegExp(`^(?:${json.target_modules})$`); // PEFT: re.fullmatch(target_modules, name)
    const matched = modules.filter((name) => pattern.test(name));
    expect(matched).toHaveLength(2 * 24);
    expect(matched.every((name) => /^model\.text\.blocks\.\d+\.(attn\.qkv|mlp\.fc2)$/.test(name))).toBe(true);
    // The 2024 model: Phi's names; the vision tower's qkv and fc2 are never matched.
    const legacyJson = JSON.parse(new TextDecoder().decode(writePeftAdapter({ ...file, config: { ...file.config, targets: ['attn.qkv', 'mlp.fc2'] } }, original).config));
    const legacyPattern = new RegExp(`^(?:${legacyJson.target_modules})$`);
    expect(legacyPattern.test('text_model.transformer.h.7.mixer.Wqkv')).toBe(true);
    expect(legacyPattern.test('text_model.transformer.h.7.mlp.fc2')).toBe(true);
    expect(legacyPattern.test('text_model.transformer.h.7.mlp.fc1')).toBe(false);
    expect(legacyPattern.test('vision_encoder.encoder.model.visual.blocks.0.attn.qkv')).toBe(false);
    expect(legacyJson.revision).toBe('2024-04-02');
  });

  it('reads its own files back bit for bit, for either naming', () => {
    for (const revision of [latest, original]) {
      const read = readPeftAdapter(writePeftAdapter({ ...file, config: { ...file.config, targets: [...file.config.targets] } }, revision));
      expect(read.config).toEqual({ rank: 2, alpha: 4, targets: ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'] });
      expect(read.revision).toBe('2025-06-21');
      expect(read.adapters).toEqual(adapters);
    }
  });

  it('reads an adapter as PEFT writes it: bf16 matrices, rsLoRA scaling as an equivalent alpha', () => {
    const bf16 = (values: number[]) => new Uint8Array(Uint16Array.from(values, (value) => new Uint32Array(Float32Array.of(value).buffer)[0] >>> 16).buffer);
    const weights = buildSafetensors([
      { name: 'base_model.model.model.text.blocks.1.mlp.fc1.lora_A.weight', dtype: 'BF16', shape: [4, 2], data: bf16([1, -2, 0.5, 0.25, 3, 4, -1, 8]) },
      { name: 'base_model.model.model.text.blocks.1.mlp.fc1.lora_B.weight', dtype: 'BF16', shape: [3, 4], data: bf16([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) },
    ], { metadata: { format: 'pt' } });
    const config = new TextEncoder().encode(JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, use_rslora: true, target_modules: ['fc1'], revision: null }));
    const read = readPeftAdapter({ config, weights });
    expect(read.config).toEqual({ rank: 4, alpha: 16, targets: ['mlp.fc1'] }); // 8/√4 = 16/4
    expect([...read.adapters.get('model.text.blocks.1.mlp.fc1')!.a]).toEqual([1, -2, 0.5, 0.25, 3, 4, -1, 8]);
    expect(read.adapters.get('model.text.blocks.1.mlp.fc1')!.outFeatures).toBe(3);
  });

  it('refuses what moontune cannot load, saying what it is', () => {
    const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const weights = writePeftAdapter({ ...file, config: { ...file.config, targets: [...file.config.targets] } }, latest).weights;
    expect(() => readPeftAdapter({ config: encode({ peft_type: 'IA3' }), weights })).toThrow(/IA3 adapter; moontune loads LoRA adapters only/);
    expect(() => readPeftAdapter({ config: encode({ peft_type: 'LORA', r: 2, lora_alpha: 4, use_dora: true }), weights })).toThrow(/DoRA/);
    expect(() => readPeftAdapter({ config: encode({ peft_type: 'LORA', r: 2, lora_alpha: 4, rank_pattern: { fc1: 4 } }), weights })).toThrow(/one rank and alpha/);
    expect(() => readPeftAdapter({ config: encode({ peft_type: 'LORA', r: 3, lora_alpha: 4 }), weights })).toThrow(/rank 2, but adapter_config\.json says r = 3/);
    expect(() => readPeftAdapter({ config: new TextEncoder().encode('{'), weights })).toThrow(new RegExp(`${PEFT_CONFIG_FILE} is not valid JSON`));
    const vision = buildSafetensors([
      { name: 'base_model.model.model.vision.blocks.0.attn.qkv.lora_A.weight', dtype: 'F32', shape: [1, 1], data: f32Bytes([1]) },
      { name: 'base_model.model.model.vision.blocks.0.attn.qkv.lora_B.weight', dtype: 'F32', shape: [1, 1], data: f32Bytes([1]) },
    ]);
    const lora = encode({ peft_type: 'LORA', r: 1, lora_alpha: 1 });
    expect(() => readPeftAdapter({ config: lora, weights: vision })).toThrow(/adapts model\.vision\.blocks\.0\.attn\.qkv; moontune adapts the text blocks/);
    const lonely = buildSafetensors([{ name: 'base_model.model.model.text.blocks.0.mlp.fc1.lora_A.weight', dtype: 'F32', shape: [1, 1], data: f32Bytes([1]) }]);
    expect(() => readPeftAdapter({ config: lora, weights: lonely })).toThrow(/no base_model\.model\.model\.text\.blocks\.0\.mlp\.fc1\.lora_B\.weight/);
  });
});
