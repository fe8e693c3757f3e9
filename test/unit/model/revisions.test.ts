import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/model/config.ts';
import { hubFileUrl } from '../../../src/model/hub.ts';
import { parseHeader, type SafetensorsHeader } from '../../../src/model/safetensors.ts';
import { REVISIONS, answerTargetIds, expectedWeightsOf, getRevision, queryPromptIds, revisionFromConfig } from '../../../src/model/revisions.ts';
import { assertWeightsResolved, canonicalWeightName, fileWeightName, resolveWeights } from '../../../src/model/weight-names.ts';
import { IdTokenizer } from '../../../src/model/tokenizer.ts';
import { fixtureJson, goldenFile, weightsFile } from '../../helpers/fixture-files.ts';

type Entry = [string, number[]];

/** A header (JSON only, no data) for these tensors, as 2-byte floats laid out back to back. */
function syntheticHeader(entries: Entry[], dtype = 'BF16'): SafetensorsHeader {
  const json: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, shape] of entries) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    json[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  return parseHeader(new TextEncoder().encode(JSON.stringify(json)));
}

const params = (entries: Entry[]) => entries.reduce((sum, [, shape]) => sum + shape.reduce((a, b) => a * b, 1), 0);

/** spec §3.1, written out from the tables (independent of expectedWeights). */
function release2025(): Entry[] {
  const out: Entry[] = [
    ['model.vision.patch_emb.weight', [1152, 588]], ['model.vision.patch_emb.bias', [1152]], ['model.vision.pos_emb', [1, 729, 1152]],
  ];
  for (let i = 0; i < 27; i++) {
    const b = `model.vision.blocks.${i}`;
    out.push([`${b}.ln1.weight`, [1152]], [`${b}.ln1.bias`, [1152]], [`${b}.attn.qkv.weight`, [3456, 1152]], [`${b}.attn.qkv.bias`, [3456]],
      [`${b}.attn.proj.weight`, [1152, 1152]], [`${b}.attn.proj.bias`, [1152]], [`${b}.ln2.weight`, [1152]], [`${b}.ln2.bias`, [1152]],
      [`${b}.mlp.fc1.weight`, [4304, 1152]], [`${b}.mlp.fc1.bias`, [4304]], [`${b}.mlp.fc2.weight`, [1152, 4304]], [`${b}.mlp.fc2.bias`, [1152]]);
  }
  out.push(['model.vision.post_ln.weight', [1152]], ['model.vision.post_ln.bias', [1152]],
    ['model.vision.proj_mlp.fc1.weight', [8192, 2304]], ['model.vision.proj_mlp.fc1.bias', [8192]],
    ['model.vision.proj_mlp.fc2.weight', [2048, 8192]], ['model.vision.proj_mlp.fc2.bias', [2048]], ['model.text.wte', [51200, 2048]]);
  for (let i = 0; i < 24; i++) {
    const b = `model.text.blocks.${i}`;
    out.push([`${b}.ln.weight`, [2048]], [`${b}.ln.bias`, [2048]], [`${b}.attn.qkv.weight`, [6144, 2048]], [`${b}.attn.qkv.bias`, [6144]],
      [`${b}.attn.proj.weight`, [2048, 2048]], [`${b}.attn.proj.bias`, [2048]], [`${b}.mlp.fc1.weight`, [8192, 2048]], [`${b}.mlp.fc1.bias`, [8192]],
      [`${b}.mlp.fc2.weight`, [2048, 8192]], [`${b}.mlp.fc2.bias`, [2048]]);
  }
  out.push(['model.text.post_ln.weight', [2048]], ['model.text.post_ln.bias', [2048]], ['model.text.lm_head.weight', [51200, 2048]], ['model.text.lm_head.bias', [51200]],
    ['model.region.coord_features', [1, 128]], ['model.region.coord_encoder.weight', [2048, 256]], ['model.region.coord_encoder.bias', [2048]],
    ['model.region.coord_decoder.fc1.weight', [8192, 2048]], ['model.region.coord_decoder.fc1.bias', [8192]],
    ['model.region.coord_decoder.fc2.weight', [1024, 8192]], ['model.region.coord_decoder.fc2.bias', [1024]],
    ['model.region.size_features', [2, 256]], ['model.region.size_encoder.weight', [2048, 512]], ['model.region.size_encoder.bias', [2048]],
    ['model.region.size_decoder.fc1.weight', [8192, 2048]], ['model.region.size_decoder.fc1.bias', [8192]],
    ['model.region.size_decoder.fc2.weight', [2048, 8192]], ['model.region.size_decoder.fc2.bias', [2048]]);
  return out;
}

/** spec §12 names of the 2024-04-02 release (no region head, projection input 1152). */
function legacy20240402(): Entry[] {
  const v = 'vision_encoder.encoder.model.visual';
  const out: Entry[] = [[`${v}.patch_embed.linear.weight`, [1152, 588]], [`${v}.patch_embed.linear.bias`, [1152]], [`${v}.pos_embed`, [1, 729, 1152]]];
  for (let i = 0; i < 27; i++) {
    const b = `${v}.blocks.${i}`;
    out.push([`${b}.norm1.weight`, [1152]], [`${b}.norm1.bias`, [1152]], [`${b}.attn.qkv.weight`, [3456, 1152]], [`${b}.attn.qkv.bias`, [3456]],
      [`${b}.attn.proj.weight`, [1152, 1152]], [`${b}.attn.proj.bias`, [1152]], [`${b}.norm2.weight`, [1152]], [`${b}.norm2.bias`, [1152]],
      [`${b}.mlp.fc1.weight`, [4304, 1152]], [`${b}.mlp.fc1.bias`, [4304]], [`${b}.mlp.fc2.weight`, [1152, 4304]], [`${b}.mlp.fc2.bias`, [1152]]);
  }
  out.push([`${v}.norm.weight`, [1152]], [`${v}.norm.bias`, [1152]],
    ['vision_encoder.projection.mlp.fc1.weight', [8192, 1152]], ['vision_encoder.projection.mlp.fc1.bias', [8192]],
    ['vision_encoder.projection.mlp.fc2.weight', [2048, 8192]], ['vision_encoder.projection.mlp.fc2.bias', [2048]],
    ['text_model.transformer.embd.wte.weight', [51200, 2048]]);
  for (let i = 0; i < 24; i++) {
    const b = `text_model.transformer.h.${i}`;
    out.push([`${b}.ln.weight`, [2048]], [`${b}.ln.bias`, [2048]], [`${b}.mixer.Wqkv.weight`, [6144, 2048]], [`${b}.mixer.Wqkv.bias`, [6144]],
      [`${b}.mixer.out_proj.weight`, [2048, 2048]], [`${b}.mixer.out_proj.bias`, [2048]], [`${b}.mlp.fc1.weight`, [8192, 2048]], [`${b}.mlp.fc1.bias`, [8192]],
      [`${b}.mlp.fc2.weight`, [2048, 8192]], [`${b}.mlp.fc2.bias`, [2048]]);
  }
  out.push(['text_model.lm_head.ln.weight', [2048]], ['text_model.lm_head.ln.bias', [2048]],
    ['text_model.lm_head.linear.weight', [51200, 2048]], ['text_model.lm_head.linear.bias', [51200]]);
  return out;
}

describe('weight resolution against revisions', () => {
  it('resolves all 592 tensors of the 2025 release layout (1,927,237,104 parameters, spec §3.1)', () => {
    const entries = release2025();
    expect(entries).toHaveLength(592);
    expect(params(entries)).toBe(1_927_237_104);
    for (const id of ['2025-06-21', '2025-04-14']) {
      const revision = getRevision(id);
      const expected = expectedWeightsOf(revision);
      expect(expected.size).toBe(592);
      const resolution = resolveWeights(syntheticHeader(entries), expected);
      expect(resolution.missing).toEqual([]);
      expect(resolution.unexpected).toEqual([]);
      expect(resolution.wrongShape).toEqual([]);
      expect(resolution.ok).toBe(true);
      expect(resolution.weights.size).toBe(592);
      expect(resolution.weights.get('model.text.wte')!.info.name).toBe('model.text.wte');
    }
  });

  it('maps every legacy 2024-04-02 tensor onto a canonical name, with nothing left over', () => {
    const entries = legacy20240402();
    expect(entries).toHaveLength(578);
    const revision = REVISIONS['2024-04-02'];
    const resolution = resolveWeights(syntheticHeader(entries, 'F16'), expectedWeightsOf(revision));
    expect(resolution.unexpected).toEqual([]);
    expect(resolution.missing).toEqual([]);
    expect(resolution.wrongShape).toEqual([]);
    expect(resolution.ok).toBe(true);
    expect(resolution.weights.get('model.text.blocks.3.attn.qkv.weight')!.info.name).toBe('text_model.transformer.h.3.mixer.Wqkv.weight');
    expect(resolution.weights.get('model.vision.post_ln.bias')!.info.name).toBe('vision_encoder.encoder.model.visual.norm.bias');
    expect(resolution.weights.get('model.vision.proj_mlp.fc1.weight')!.shape).toEqual([8192, 1152]);
    expect(resolution.weights.get('model.text.lm_head.weight')!.info.name).toBe('text_model.lm_head.linear.weight');
    // Same module tree as the 2025 release apart from the region head and the 2304-wide fc1.
    const canonical2025 = release2025().map(([name]) => name).filter((name) => !name.startsWith('model.region.'));
    expect([...resolution.weights.keys()].sort()).toEqual(canonical2025.sort());
  });

  it('reports a 2025 file offered as 2024-04-02: fc1 width wrong, region tensors unexpected', () => {
    const resolution = resolveWeights(syntheticHeader(release2025()), expectedWeightsOf(REVISIONS['2024-04-02']));
    expect(resolution.ok).toBe(false);
    expect(resolution.wrongShape).toEqual([{ canonical: 'model.vision.proj_mlp.fc1.weight', fileName: 'model.vision.proj_mlp.fc1.weight', expected: [8192, 1152], actual: [8192, 2304] }]);
    expect(resolution.unexpected).toHaveLength(14);
    expect(() => assertWeightsResolved(resolution, 'model.safetensors')).toThrow(/tensors with the wrong shape \(1\):\n {2}model\.vision\.proj_mlp\.fc1\.weight: \[8192, 2304\], expected \[8192, 1152\]/);
  });

  it('reports missing, unexpected, misshapen and doubled tensors', () => {
    const entries = release2025().filter(([name]) => name !== 'model.text.blocks.5.mlp.fc2.bias');
    entries.push(['model.text.extra', [3]], ['text.wte', [51200, 2048]]);
    const index = entries.findIndex(([name]) => name === 'model.vision.pos_emb');
    entries[index] = ['model.vision.pos_emb', [1, 728, 1152]];
    const resolution = resolveWeights(syntheticHeader(entries), expectedWeightsOf(REVISIONS['2025-06-21']));
    expect(resolution.missing).toEqual([{ canonical: 'model.text.blocks.5.mlp.fc2.bias', shape: [2048] }]);
    expect(resolution.unexpected).toEqual(['model.text.extra']);
    expect(resolution.wrongShape.map((item) => item.canonical)).toEqual(['model.vision.pos_emb']);
    expect(resolution.duplicates).toEqual([{ canonical: 'model.text.wte', fileNames: expect.arrayContaining(['model.text.wte', 'text.wte']) }]);
    let message = '';
    try {
      assertWeightsResolved(resolution, 'upload.safetensors');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('missing tensors (1):\n  model.text.blocks.5.mlp.fc2.bias [2048]');
    expect(message).toContain('unexpected tensors (1):\n  model.text.extra');
    expect(message).toContain('Pick the revision these weights belong to');
  });

  it('maps module-tree names, torch.compile infixes and transposed legacy Fourier features', () => {
    expect(canonicalWeightName('text.blocks.0.ln.weight')).toEqual({ canonical: 'model.text.blocks.0.ln.weight', transposed: false });
    expect(canonicalWeightName('model.text._orig_mod.blocks.0.ln.weight')).toEqual({ canonical: 'model.text.blocks.0.ln.weight', transposed: false });
    expect(canonicalWeightName('region_model.coordinate_features.weight')).toEqual({ canonical: 'model.region.coord_features', transposed: true });
    expect(canonicalWeightName('region_model.size_decoder.fc2.bias')).toEqual({ canonical: 'model.region.size_decoder.fc2.bias', transposed: false });
    expect(canonicalWeightName('lm_head.weight')).toBeUndefined();
    const header = syntheticHeader([['region_model.coordinate_features.weight', [128, 1]], ['region_model.size_features.weight', [256, 2]]]);
    const expected = new Map([['model.region.coord_features', [1, 128]], ['model.region.size_features', [2, 256]]]);
    const resolution = resolveWeights(header, expected);
    expect(resolution.ok).toBe(true);
    expect(resolution.weights.get('model.region.size_features')).toMatchObject({ shape: [2, 256], transposed: true });
  });

  it('names every canonical tensor as the release files do, and back (both layouts)', () => {
    // spec §3.2's table, by hand: the 2024 names of a text block, the head and the vision tower.
    expect(fileWeightName('model.text.blocks.3.attn.qkv.weight', 'legacy-2024').name).toBe('text_model.transformer.h.3.mixer.Wqkv.weight');
    expect(fileWeightName('model.text.post_ln.bias', 'legacy-2024').name).toBe('text_model.lm_head.ln.bias');
    expect(fileWeightName('model.vision.blocks.26.ln2.weight', 'legacy-2024').name).toBe('vision_encoder.encoder.model.visual.blocks.26.norm2.weight');
    expect(fileWeightName('model.region.size_features', 'legacy-2024')).toMatchObject({ name: 'region_model.size_features.weight', transposed: true });
    expect(fileWeightName('model.text.wte', 'hf-2025').name).toBe('model.text.wte');
    for (const revision of Object.values(REVISIONS)) {
      for (const naming of ['hf-2025', 'legacy-2024'] as const) {
        for (const canonical of expectedWeightsOf(revision).keys()) {
          const file = fileWeightName(canonical, naming);
          expect(canonicalWeightName(file.name)).toEqual({ canonical, transposed: file.transposed });
        }
      }
    }
    expect(() => fileWeightName('model.text.extra', 'legacy-2024')).toThrow(/no name in the 2024 file layout/);
  });

  it('resolves the 96 tensors of the tiny fixture (f32 and bf16) with its JSON config', () => {
    const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'moondream-tiny' });
    expect(revision.projectionInputDim).toBe(64);
    for (const file of ['model.safetensors', 'model.bf16.safetensors']) {
      const resolution = resolveWeights(weightsFile(file).header, expectedWeightsOf(revision));
      expect(resolution.ok).toBe(true);
      expect(resolution.weights.size).toBe(96);
    }
  });
});

describe('revision prompts', () => {
  it('builds the tiny fixture query prompt exactly as upstream fed it (prefix, question, doubled answer id)', () => {
    const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')));
    const ids = queryPromptIds(revision, new IdTokenizer(), '40 41 42 43');
    const golden = Array.from(goldenFile().int32('prefill_input_ids')).slice(17);
    expect(ids).toEqual(golden);
    const trainIds = Array.from(goldenFile().int32('train_input_ids'));
    expect(answerTargetIds(revision, new IdTokenizer(), '60 61 62 63 64')).toEqual(trainIds.slice(26));
  });

  it('builds the 2025-06-21 starmie prompt [1, 15381, 2] + ids(q) + [3, 3] (spec §8.2)', () => {
    const encoded: string[] = [];
    const fake = { encode: (text: string) => (encoded.push(text), [900, 901]) };
    expect(queryPromptIds(REVISIONS['2025-06-21'], fake, 'How many?')).toEqual([1, 15381, 2, 900, 901, 3, 3]);
    expect(encoded).toEqual(['How many?']);
  });

  it('builds the 2025-04-14 prompt with GPT-2 ids and a leading space, no doubling', () => {
    const encoded: string[] = [];
    const fake = { encode: (text: string) => (encoded.push(text), [7]) };
    expect(queryPromptIds(REVISIONS['2025-04-14'], fake, 'q')).toEqual([198, 198, 24361, 25, 7, 198, 198, 33706, 25]);
    expect(encoded).toEqual([' q']);
    expect(answerTargetIds(REVISIONS['2025-04-14'], fake, '3')).toEqual([7, 50256]);
  });

  it('builds the 2024-04-02 text prompt "\\n\\nQuestion: {q}\\n\\nAnswer:" and its answer " {a}" + EOS', () => {
    const encoded: string[] = [];
    const fake = { encode: (text: string) => (encoded.push(text), [1]) };
    queryPromptIds(REVISIONS['2024-04-02'], fake, 'How many cats?');
    answerTargetIds(REVISIONS['2024-04-02'], fake, '{"cat": 2}');
    expect(encoded).toEqual(['\n\nQuestion: How many cats?\n\nAnswer:', ' {"cat": 2}']);
    expect(REVISIONS['2024-04-02']).toMatchObject({ cropMode: 'single', maskMode: 'causal', projectionInputDim: 1152, bosId: 50256, eosId: 50256, weightNaming: 'legacy-2024' });
  });

  it('describes each preset as data', () => {
    expect(REVISIONS['2025-06-21']).toMatchObject({ cropMode: 'overlap', maskMode: 'prefix', projectionInputDim: 2304, doubleAnswerToken: true, suppressedTokens: [3], bosId: 0, eosId: 0 });
    expect(REVISIONS['2025-06-21'].sampling).toEqual({ temperature: 0.5, topP: 0.3, maxTokens: 768 });
    const { repo, revision, file } = REVISIONS['2025-06-21'].weights!;
    expect(hubFileUrl({ repo, revision }, file)).toBe('https://huggingface.co/vikhyatk/moondream2/resolve/2025-06-21/model.safetensors');
    expect(REVISIONS['2025-04-14'].config.tokenizer.templates.query.prefix).toEqual([198, 198, 24361, 25]);
    expect(() => getRevision('2023-01-01')).toThrow(/Known revisions: 2025-06-21, 2025-04-14, 2024-04-02/);
    expect(Object.isFrozen(REVISIONS['2024-04-02'].prompt)).toBe(true);
  });
});
