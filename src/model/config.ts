// Moondream configuration: the upstream `config.py` dataclasses as one frozen, typed object.
// Field names are upstream's (snake_case) so a config.json reads straight across. The HF
// `config.json` of the 2025 revisions carries `"config": {}`, i.e. every value is the default
// below (spec §2).

export interface TextConfig {
  readonly dim: number;
  readonly ff_dim: number;
  readonly n_layers: number;
  readonly vocab_size: number;
  readonly max_context: number;
  readonly n_heads: number;
  readonly n_kv_heads: number;
  /** BOS + image tokens: the bidirectional block of the prefix mask (spec §7). */
  readonly prefix_attn: number;
  /** int4 group size; null = unquantised weights (the only form moontune loads). */
  readonly group_size: number | null;
}

export interface VisionConfig {
  readonly enc_dim: number;
  readonly enc_patch_size: number;
  /** Number of ViT blocks; upstream also reuses it as the pooled grid side (spec §2.2 note). */
  readonly enc_n_layers: number;
  readonly enc_ff_dim: number;
  readonly enc_n_heads: number;
  readonly proj_out_dim: number;
  readonly crop_size: number;
  readonly in_channels: number;
  /** Local tiles at most; the global crop is not counted. */
  readonly max_crops: number;
  /** Overlap margin in patches (spec §4.1). */
  readonly overlap_margin: number;
  readonly proj_inner_dim: number;
}

export interface RegionConfig {
  readonly dim: number;
  readonly coord_feat_dim: number;
  readonly coord_out_dim: number;
  readonly size_feat_dim: number;
  readonly size_out_dim: number;
  readonly inner_dim: number;
  readonly group_size: number | null;
}

export interface PrefixSuffixTemplate {
  readonly prefix: readonly number[];
  readonly suffix: readonly number[];
}

export interface TokenTemplates {
  readonly caption: { readonly short: readonly number[]; readonly normal: readonly number[]; readonly long: readonly number[] };
  readonly query: PrefixSuffixTemplate;
  readonly detect: PrefixSuffixTemplate;
  readonly point: PrefixSuffixTemplate;
}

export interface TokenizerIds {
  readonly bos_id: number;
  readonly eos_id: number;
  readonly answer_id: number;
  readonly thinking_id: number;
  readonly coord_id: number;
  readonly size_id: number;
  readonly start_ground_points_id: number;
  readonly end_ground_id: number;
  readonly templates: TokenTemplates;
}

export interface MoondreamConfig {
  readonly text: TextConfig;
  readonly vision: VisionConfig;
  readonly region: RegionConfig;
  readonly tokenizer: TokenizerIds;
}

/** Full-size Moondream2 (revision 2025-06-21), spec §2. */
export const DEFAULT_CONFIG: MoondreamConfig = deepFreeze({
  text: {
    dim: 2048,
    ff_dim: 8192,
    n_layers: 24,
    vocab_size: 51200,
    max_context: 2048,
    n_heads: 32,
    n_kv_heads: 32,
    prefix_attn: 730,
    group_size: null,
  },
  vision: {
    enc_dim: 1152,
    enc_patch_size: 14,
    enc_n_layers: 27,
    enc_ff_dim: 4304,
    enc_n_heads: 16,
    proj_out_dim: 2048,
    crop_size: 378,
    in_channels: 3,
    max_crops: 12,
    overlap_margin: 4,
    proj_inner_dim: 8192,
  },
  region: {
    dim: 2048,
    coord_feat_dim: 256,
    coord_out_dim: 1024,
    size_feat_dim: 512,
    size_out_dim: 2048,
    inner_dim: 8192,
    group_size: null,
  },
  tokenizer: {
    bos_id: 0,
    eos_id: 0,
    answer_id: 3,
    thinking_id: 4,
    coord_id: 5,
    size_id: 6,
    start_ground_points_id: 7,
    end_ground_id: 9,
    templates: {
      caption: { short: [1, 32708, 2, 12492, 3], normal: [1, 32708, 2, 6382, 3], long: [1, 32708, 2, 4059, 3] },
      query: { prefix: [1, 15381, 2], suffix: [3] },
      detect: { prefix: [1, 7235, 476, 2], suffix: [3] },
      point: { prefix: [1, 2581, 2], suffix: [3] },
    },
  },
});

/** Numbers that follow from a config (spec §2, §4, §6.2). */
export interface DerivedDimensions {
  readonly textHeadDim: number;
  /** Rotary dims per head: dim / (2·n_heads) (32 full size, partial rotary factor 0.5). */
  readonly rotaryDim: number;
  readonly visionHeadDim: number;
  /** Patches per crop side: crop_size / enc_patch_size (27 full size). */
  readonly visionGrid: number;
  /** Image tokens handed to the text model: visionGrid² (729 full size). */
  readonly imageTokens: number;
  /** Length of one flattened patch: in_channels·patch² (588). */
  readonly patchDim: number;
}

export function deriveDimensions(config: MoondreamConfig): DerivedDimensions {
  const { text, vision } = config;
  const visionGrid = vision.crop_size / vision.enc_patch_size;
  return {
    textHeadDim: text.dim / text.n_heads,
    rotaryDim: text.dim / (2 * text.n_heads),
    visionHeadDim: vision.enc_dim / vision.enc_n_heads,
    visionGrid,
    imageTokens: visionGrid * visionGrid,
    patchDim: vision.in_channels * vision.enc_patch_size * vision.enc_patch_size,
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses a Moondream config: either the sections themselves (`{text, vision, region, tokenizer}`,
 * as in the tiny fixture) or an HF config.json wrapping them in `"config"`. Missing sections and
 * fields take the full-size defaults (as upstream's `from_dict`); unknown fields and bad values are
 * errors naming the field. Extra top-level keys (`derived`, `model_type`, …) are ignored.
 */
export function parseConfig(json: unknown): MoondreamConfig {
  if (!isPlainObject(json)) throw new ConfigError('Model config must be a JSON object (the contents of config.json).');
  const root = isPlainObject(json.config) ? json.config : json;
  const config: MoondreamConfig = {
    text: parseSection(root, 'text', DEFAULT_CONFIG.text),
    vision: parseSection(root, 'vision', DEFAULT_CONFIG.vision),
    region: parseSection(root, 'region', DEFAULT_CONFIG.region),
    tokenizer: parseTokenizer(root.tokenizer),
  };
  validateConsistency(config);
  return deepFreeze(config);
}

function parseSection<T extends object>(root: Record<string, unknown>, section: string, defaults: T): T {
  const raw = root[section];
  if (raw === undefined) return { ...defaults };
  if (!isPlainObject(raw)) throw new ConfigError(`config.${section} must be an object.`);
  const result = { ...defaults } as Record<string, unknown>;
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in defaults)) {
      throw new ConfigError(`config.${section}.${key} is not a known field (known: ${Object.keys(defaults).join(', ')}).`);
    }
    if (key === 'group_size') {
      if (value !== null) {
        throw new ConfigError(
          `config.${section}.group_size is ${JSON.stringify(value)}: int4-quantised weights are not supported; ` +
            'use an unquantised (bf16/f16/f32) release.',
        );
      }
      result[key] = null;
      continue;
    }
    result[key] = positiveInteger(value, `config.${section}.${key}`);
  }
  return result as T;
}

function parseTokenizer(raw: unknown): TokenizerIds {
  const defaults = DEFAULT_CONFIG.tokenizer;
  if (raw === undefined) return defaults;
  if (!isPlainObject(raw)) throw new ConfigError('config.tokenizer must be an object.');
  const result: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'templates') {
      result.templates = parseTemplates(value);
    } else if (key in defaults) {
      result[key] = tokenId(value, `config.tokenizer.${key}`);
    } else {
      throw new ConfigError(`config.tokenizer.${key} is not a known field.`);
    }
  }
  return result as unknown as TokenizerIds;
}

function parseTemplates(raw: unknown): TokenTemplates {
  const defaults = DEFAULT_CONFIG.tokenizer.templates;
  if (!isPlainObject(raw)) throw new ConfigError('config.tokenizer.templates must be an object.');
  const section = (name: keyof TokenTemplates, keys: readonly string[]) => {
    const value = raw[name];
    if (value === undefined) return defaults[name];
    if (!isPlainObject(value)) throw new ConfigError(`config.tokenizer.templates.${name} must be an object.`);
    const out: Record<string, number[]> = {};
    for (const key of keys) out[key] = idList(value[key], `config.tokenizer.templates.${name}.${key}`);
    return out;
  };
  for (const key of Object.keys(raw)) {
    if (!(key in defaults)) throw new ConfigError(`config.tokenizer.templates.${key} is not a known template.`);
  }
  return {
    caption: section('caption', ['short', 'normal', 'long']),
    query: section('query', ['prefix', 'suffix']),
    detect: section('detect', ['prefix', 'suffix']),
    point: section('point', ['prefix', 'suffix']),
  } as TokenTemplates;
}

function validateConsistency(config: MoondreamConfig): void {
  const { text, vision, region, tokenizer } = config;
  const fail = (message: string) => {
    throw new ConfigError(message);
  };
  if (text.dim % text.n_heads !== 0) fail(`config.text.dim (${text.dim}) must be divisible by text.n_heads (${text.n_heads}).`);
  // spec §6.2: rotary dims = dim/(2·n_heads), rotated in (x_j, x_{j+rot/2}) pairs.
  if ((text.dim / text.n_heads) % 4 !== 0) fail(`config.text head dim (${text.dim / text.n_heads}) must be a multiple of 4 for partial rotary.`);
  if (text.n_heads % text.n_kv_heads !== 0) fail(`config.text.n_heads (${text.n_heads}) must be a multiple of text.n_kv_heads (${text.n_kv_heads}).`);
  if (vision.enc_dim % vision.enc_n_heads !== 0) fail(`config.vision.enc_dim (${vision.enc_dim}) must be divisible by vision.enc_n_heads (${vision.enc_n_heads}).`);
  if (vision.crop_size % vision.enc_patch_size !== 0) {
    fail(`config.vision.crop_size (${vision.crop_size}) must be a multiple of vision.enc_patch_size (${vision.enc_patch_size}).`);
  }
  const grid = vision.crop_size / vision.enc_patch_size;
  // Upstream reshapes and pools local features to enc_n_layers × enc_n_layers (spec §2.2 note).
  if (vision.enc_n_layers !== grid) {
    fail(`config.vision.enc_n_layers (${vision.enc_n_layers}) must equal crop_size / enc_patch_size (${grid}): upstream uses it as the feature-grid side.`);
  }
  if (2 * vision.overlap_margin >= grid) fail(`config.vision.overlap_margin (${vision.overlap_margin}) leaves no crop window in a ${grid}-patch crop.`);
  if (text.prefix_attn !== 1 + grid * grid) fail(`config.text.prefix_attn (${text.prefix_attn}) must be 1 (BOS) + ${grid}² image tokens = ${1 + grid * grid}.`);
  if (text.prefix_attn >= text.max_context) fail(`config.text.max_context (${text.max_context}) must exceed text.prefix_attn (${text.prefix_attn}).`);
  if (vision.proj_out_dim !== text.dim) fail(`config.vision.proj_out_dim (${vision.proj_out_dim}) must equal text.dim (${text.dim}).`);
  if (region.dim !== text.dim) fail(`config.region.dim (${region.dim}) must equal text.dim (${text.dim}).`);
  if (region.coord_feat_dim % 2 !== 0 || region.size_feat_dim % 4 !== 0) {
    fail('config.region.coord_feat_dim must be even and size_feat_dim a multiple of 4 (cos ‖ sin of the Fourier features).');
  }
  if (region.size_out_dim % 2 !== 0) fail(`config.region.size_out_dim (${region.size_out_dim}) must be even (width bins then height bins).`);
  const ids = [tokenizer.bos_id, tokenizer.eos_id, tokenizer.answer_id, tokenizer.thinking_id, tokenizer.coord_id, tokenizer.size_id];
  const templates = tokenizer.templates;
  const all = [
    ...ids,
    ...templates.caption.short, ...templates.caption.normal, ...templates.caption.long,
    ...templates.query.prefix, ...templates.query.suffix,
    ...templates.detect.prefix, ...templates.detect.suffix,
    ...templates.point.prefix, ...templates.point.suffix,
  ];
  const outOfRange = all.find((id) => id >= text.vocab_size);
  if (outOfRange !== undefined) fail(`config.tokenizer uses token id ${outOfRange}, beyond text.vocab_size (${text.vocab_size}).`);
}

function positiveInteger(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${field} must be a positive integer, got ${JSON.stringify(value)}.`);
  }
  return value;
}

function tokenId(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(`${field} must be a token id (a non-negative integer), got ${JSON.stringify(value)}.`);
  }
  return value;
}

function idList(value: unknown, field: string): number[] {
  if (!Array.isArray(value)) throw new ConfigError(`${field} must be a list of token ids, got ${JSON.stringify(value)}.`);
  return value.map((id, index) => tokenId(id, `${field}[${index}]`));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
