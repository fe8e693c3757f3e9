import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, deriveDimensions, parseConfig } from '../../../src/model/config.ts';
import { fixtureJson } from '../../helpers/fixture-files.ts';

describe('parseConfig', () => {
  it('reads the tiny fixture config; derived numbers agree with the fixture\'s own "derived" section', () => {
    const json = fixtureJson('config.json') as { derived: Record<string, number> };
    const config = parseConfig(json);
    expect(config.text).toEqual({ dim: 64, ff_dim: 256, n_layers: 2, vocab_size: 512, max_context: 256, n_heads: 4, n_kv_heads: 4, prefix_attn: 17, group_size: null });
    expect(config.vision.max_crops).toBe(8);
    expect(config.vision.overlap_margin).toBe(1);
    expect(config.tokenizer.templates.query).toEqual({ prefix: [1, 15, 2], suffix: [3] });
    expect(config.tokenizer.templates.caption.long).toEqual([1, 20, 2, 23, 3]);
    const derived = deriveDimensions(config);
    expect(derived.textHeadDim).toBe(json.derived.text_head_dim);
    expect(derived.rotaryDim).toBe(json.derived.text_rotary_dim);
    expect(derived.visionGrid).toBe(json.derived.vision_grid);
    expect(derived.visionHeadDim).toBe(json.derived.vision_head_dim);
    expect(derived.patchDim).toBe(json.derived.patch_dim);
    expect(derived.imageTokens).toBe(json.derived.n_image_tokens);
  });

  it('gives the full-size defaults of spec §2 for an HF config.json with "config": {}', () => {
    const config = parseConfig({ architectures: ['HfMoondream'], model_type: 'moondream1', config: {} });
    expect(config).toEqual(DEFAULT_CONFIG);
    const derived = deriveDimensions(config);
    expect(derived).toEqual({ textHeadDim: 64, rotaryDim: 32, visionHeadDim: 72, visionGrid: 27, imageTokens: 729, patchDim: 588 });
    expect(config.text.prefix_attn).toBe(730);
    expect(config.vision.max_crops).toBe(12);
  });

  it('returns a deeply frozen object', () => {
    const config = parseConfig(fixtureJson('config.json'));
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.tokenizer.templates.query.prefix)).toBe(true);
    expect(() => ((config.text as { dim: number }).dim = 1)).toThrow(TypeError);
    expect(Object.isFrozen(DEFAULT_CONFIG.vision)).toBe(true);
  });

  const bad: [string, unknown, RegExp][] = [
    ['a non-object', 42, /must be a JSON object/],
    ['a string field', { text: { dim: '64' } }, /config\.text\.dim must be a positive integer, got "64"/],
    ['a negative field', { vision: { max_crops: -1 } }, /config\.vision\.max_crops must be a positive integer/],
    ['an unknown field', { text: { hidden: 3 } }, /config\.text\.hidden is not a known field/],
    ['int4 weights', { text: { group_size: 128 } }, /group_size is 128: int4-quantised weights are not supported/],
    ['heads that do not divide dim', { text: { n_heads: 30 } }, /config\.text\.dim \(2048\) must be divisible by text\.n_heads \(30\)/],
    ['enc_n_layers unequal to the grid side', { vision: { enc_n_layers: 26 } }, /enc_n_layers \(26\) must equal crop_size \/ enc_patch_size \(27\)/],
    ['a wrong prefix length', { text: { prefix_attn: 729 } }, /prefix_attn \(729\) must be 1 \(BOS\) \+ 27² image tokens = 730/],
    ['a crop size off the patch grid', { vision: { crop_size: 380 } }, /crop_size \(380\) must be a multiple/],
    ['a template that is not a list', { tokenizer: { templates: { query: { prefix: 5, suffix: [3] } } } }, /templates\.query\.prefix must be a list of token ids/],
    ['a token id beyond the vocabulary', { text: { vocab_size: 1000 } }, /token id \d+, beyond text\.vocab_size \(1000\)/],
    ['a bad token id', { tokenizer: { eos_id: -1 } }, /config\.tokenizer\.eos_id must be a token id/],
  ];
  for (const [what, json, message] of bad) {
    it(`rejects ${what}, naming the field`, () => {
      expect(() => parseConfig(json)).toThrow(ConfigError);
      expect(() => parseConfig(json)).toThrow(message);
    });
  }
});
