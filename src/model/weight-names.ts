// Weight names: every checkpoint layout maps onto one canonical set of names, the HF 2025
// release names (`model.vision.*`, `model.text.*`, `model.region.*`, spec §3.1). This file knows
// the canonical tensors and their shapes for a config, maps file names onto them (spec §3.2), and
// checks a safetensors header against what a revision expects.
import { deriveDimensions, type MoondreamConfig } from './config.ts';
import type { SafetensorsHeader, TensorInfo } from './safetensors.ts';

export interface ExpectedWeightsOptions {
  /** Width of the projection's first layer input: 2·enc_dim (global ‖ local) or enc_dim (2024). */
  readonly projectionInputDim: number;
  /** Whether the region head (detect/point) is part of the checkpoint. */
  readonly hasRegionHead: boolean;
}

/** Canonical name → expected shape, in the order of spec §3.1. */
export function expectedWeights(config: MoondreamConfig, options: ExpectedWeightsOptions): Map<string, readonly number[]> {
  const { text, vision, region } = config;
  const { patchDim, imageTokens, textHeadDim } = deriveDimensions(config);
  const shapes = new Map<string, readonly number[]>();
  const linear = (name: string, outputs: number, inputs: number) => {
    shapes.set(`${name}.weight`, [outputs, inputs]);
    shapes.set(`${name}.bias`, [outputs]);
  };
  const layerNorm = (name: string, width: number) => {
    shapes.set(`${name}.weight`, [width]);
    shapes.set(`${name}.bias`, [width]);
  };

  linear('model.vision.patch_emb', vision.enc_dim, patchDim);
  shapes.set('model.vision.pos_emb', [1, imageTokens, vision.enc_dim]);
  for (let i = 0; i < vision.enc_n_layers; i++) {
    const block = `model.vision.blocks.${i}`;
    layerNorm(`${block}.ln1`, vision.enc_dim);
    linear(`${block}.attn.qkv`, 3 * vision.enc_dim, vision.enc_dim);
    linear(`${block}.attn.proj`, vision.enc_dim, vision.enc_dim);
    layerNorm(`${block}.ln2`, vision.enc_dim);
    linear(`${block}.mlp.fc1`, vision.enc_ff_dim, vision.enc_dim);
    linear(`${block}.mlp.fc2`, vision.enc_dim, vision.enc_ff_dim);
  }
  layerNorm('model.vision.post_ln', vision.enc_dim);
  linear('model.vision.proj_mlp.fc1', vision.proj_inner_dim, options.projectionInputDim);
  linear('model.vision.proj_mlp.fc2', vision.proj_out_dim, vision.proj_inner_dim);

  shapes.set('model.text.wte', [text.vocab_size, text.dim]);
  const qkvRows = (text.n_heads + 2 * text.n_kv_heads) * textHeadDim;
  for (let i = 0; i < text.n_layers; i++) {
    const block = `model.text.blocks.${i}`;
    layerNorm(`${block}.ln`, text.dim);
    linear(`${block}.attn.qkv`, qkvRows, text.dim);
    linear(`${block}.attn.proj`, text.dim, text.dim);
    linear(`${block}.mlp.fc1`, text.ff_dim, text.dim);
    linear(`${block}.mlp.fc2`, text.dim, text.ff_dim);
  }
  layerNorm('model.text.post_ln', text.dim);
  linear('model.text.lm_head', text.vocab_size, text.dim);

  if (options.hasRegionHead) {
    // spec §9: Fourier features [in, feat/2]; cos ‖ sin doubles them.
    shapes.set('model.region.coord_features', [1, region.coord_feat_dim / 2]);
    linear('model.region.coord_encoder', region.dim, region.coord_feat_dim);
    linear('model.region.coord_decoder.fc1', region.inner_dim, region.dim);
    linear('model.region.coord_decoder.fc2', region.coord_out_dim, region.inner_dim);
    shapes.set('model.region.size_features', [2, region.size_feat_dim / 2]);
    linear('model.region.size_encoder', region.dim, region.size_feat_dim);
    linear('model.region.size_decoder.fc1', region.inner_dim, region.dim);
    linear('model.region.size_decoder.fc2', region.size_out_dim, region.inner_dim);
  }
  return shapes;
}

export interface CanonicalName {
  readonly canonical: string;
  /** The file stores the matrix transposed (legacy Fourier features, spec §3.2). */
  readonly transposed: boolean;
}

// spec §3.2: legacy (HF 2024 / training checkpoint) names → module-tree names.
const LEGACY_RULES: readonly [RegExp, string, boolean?][] = [
  [/^vision_encoder\.encoder\.model\.visual\.patch_embed\.linear\.(weight|bias)$/, 'vision.patch_emb.$1'],
  [/^vision_encoder\.encoder\.model\.visual\.pos_embed$/, 'vision.pos_emb'],
  [/^vision_encoder\.encoder\.model\.visual\.blocks\.(\d+)\.norm1\.(weight|bias)$/, 'vision.blocks.$1.ln1.$2'],
  [/^vision_encoder\.encoder\.model\.visual\.blocks\.(\d+)\.norm2\.(weight|bias)$/, 'vision.blocks.$1.ln2.$2'],
  [/^vision_encoder\.encoder\.model\.visual\.blocks\.(\d+)\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)$/, 'vision.blocks.$1.$2.$3'],
  [/^vision_encoder\.encoder\.model\.visual\.norm\.(weight|bias)$/, 'vision.post_ln.$1'],
  [/^vision_encoder\.projection\.mlp\.(fc1|fc2)\.(weight|bias)$/, 'vision.proj_mlp.$1.$2'],
  [/^text_model\.transformer\.embd\.wte\.weight$/, 'text.wte'],
  [/^text_model\.transformer\.h\.(\d+)\.ln\.(weight|bias)$/, 'text.blocks.$1.ln.$2'],
  [/^text_model\.transformer\.h\.(\d+)\.mixer\.Wqkv\.(weight|bias)$/, 'text.blocks.$1.attn.qkv.$2'],
  [/^text_model\.transformer\.h\.(\d+)\.mixer\.out_proj\.(weight|bias)$/, 'text.blocks.$1.attn.proj.$2'],
  [/^text_model\.transformer\.h\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$/, 'text.blocks.$1.mlp.$2.$3'],
  [/^text_model\.lm_head\.ln\.(weight|bias)$/, 'text.post_ln.$1'],
  [/^text_model\.lm_head\.linear\.(weight|bias)$/, 'text.lm_head.$1'],
  [/^region_model\.coordinate_features\.weight$/, 'region.coord_features', true],
  [/^region_model\.size_features\.weight$/, 'region.size_features', true],
  [/^region_model\.coordinate_encoder\.(weight|bias)$/, 'region.coord_encoder.$1'],
  [/^region_model\.size_encoder\.(weight|bias)$/, 'region.size_encoder.$1'],
  [/^region_model\.coordinate_decoder\.(fc1|fc2)\.(weight|bias)$/, 'region.coord_decoder.$1.$2'],
  [/^region_model\.size_decoder\.(fc1|fc2)\.(weight|bias)$/, 'region.size_decoder.$1.$2'],
];

// The other way (canonical → the 2024 release's names), for files written in that layout: the
// random checkpoints of the full-size smoke run. Kept beside LEGACY_RULES; a test checks that
// every name of every revision goes there and back.
const V = 'vision_encoder.encoder.model.visual';
const LEGACY_FILE_NAMES: readonly [RegExp, string][] = [
  [/^model\.vision\.patch_emb\.(weight|bias)$/, `${V}.patch_embed.linear.$1`],
  [/^model\.vision\.pos_emb$/, `${V}.pos_embed`],
  [/^model\.vision\.blocks\.(\d+)\.ln1\.(weight|bias)$/, `${V}.blocks.$1.norm1.$2`],
  [/^model\.vision\.blocks\.(\d+)\.ln2\.(weight|bias)$/, `${V}.blocks.$1.norm2.$2`],
  [/^model\.vision\.blocks\.(\d+)\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)$/, `${V}.blocks.$1.$2.$3`],
  [/^model\.vision\.post_ln\.(weight|bias)$/, `${V}.norm.$1`],
  [/^model\.vision\.proj_mlp\.(fc1|fc2)\.(weight|bias)$/, 'vision_encoder.projection.mlp.$1.$2'],
  [/^model\.text\.wte$/, 'text_model.transformer.embd.wte.weight'],
  [/^model\.text\.blocks\.(\d+)\.ln\.(weight|bias)$/, 'text_model.transformer.h.$1.ln.$2'],
  [/^model\.text\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/, 'text_model.transformer.h.$1.mixer.Wqkv.$2'],
  [/^model\.text\.blocks\.(\d+)\.attn\.proj\.(weight|bias)$/, 'text_model.transformer.h.$1.mixer.out_proj.$2'],
  [/^model\.text\.blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$/, 'text_model.transformer.h.$1.mlp.$2.$3'],
  [/^model\.text\.post_ln\.(weight|bias)$/, 'text_model.lm_head.ln.$1'],
  [/^model\.text\.lm_head\.(weight|bias)$/, 'text_model.lm_head.linear.$1'],
  [/^model\.region\.coord_features$/, 'region_model.coordinate_features.weight'],
  [/^model\.region\.size_features$/, 'region_model.size_features.weight'],
  [/^model\.region\.coord_encoder\.(weight|bias)$/, 'region_model.coordinate_encoder.$1'],
  [/^model\.region\.size_encoder\.(weight|bias)$/, 'region_model.size_encoder.$1'],
  [/^model\.region\.coord_decoder\.(fc1|fc2)\.(weight|bias)$/, 'region_model.coordinate_decoder.$1.$2'],
  [/^model\.region\.size_decoder\.(fc1|fc2)\.(weight|bias)$/, 'region_model.size_decoder.$1.$2'],
];

/**
 * The name a canonical tensor has in a release's file: HF 2025 files use the canonical names;
 * 2024 files the legacy names of spec §3.2, with the Fourier feature tables stored transposed.
 */
export function fileWeightName(canonical: string, naming: 'hf-2025' | 'legacy-2024'): CanonicalName & { readonly name: string } {
  if (naming === 'hf-2025') return { name: canonical, canonical, transposed: false };
  for (const [pattern, replacement] of LEGACY_FILE_NAMES) {
    if (pattern.test(canonical)) return { name: canonical.replace(pattern, replacement), canonical, transposed: canonical.endsWith('_features') };
  }
  throw new Error(`${canonical} has no name in the 2024 file layout.`);
}

/**
 * Maps a tensor name from any supported layout to its canonical name: HF 2025 names as they are,
 * module-tree names (`vision.*`, as the fine-tuning script saves them) with `model.` added, and
 * the legacy names of spec §3.2. A `._orig_mod` infix (torch.compile) is dropped. Returns
 * undefined for names that belong to no known layout.
 */
export function canonicalWeightName(fileName: string): CanonicalName | undefined {
  const name = fileName.replaceAll('._orig_mod', '').replace(/^_orig_mod\./, '');
  if (/^model\.(vision|text|region)\./.test(name)) return { canonical: name, transposed: false };
  if (/^(vision|text|region)\./.test(name)) return { canonical: `model.${name}`, transposed: false };
  for (const [pattern, replacement, transposed] of LEGACY_RULES) {
    if (pattern.test(name)) return { canonical: `model.${name.replace(pattern, replacement)}`, transposed: transposed ?? false };
  }
  return undefined;
}

export interface ResolvedWeight {
  readonly canonical: string;
  readonly info: TensorInfo;
  /** Canonical shape (after the transpose, if any). */
  readonly shape: readonly number[];
  readonly transposed: boolean;
}

export interface WeightResolution {
  readonly weights: ReadonlyMap<string, ResolvedWeight>;
  readonly missing: readonly { canonical: string; shape: readonly number[] }[];
  /** File tensors that map to no expected canonical tensor. */
  readonly unexpected: readonly string[];
  readonly wrongShape: readonly { canonical: string; fileName: string; expected: readonly number[]; actual: readonly number[] }[];
  /** Two file tensors mapping onto one canonical name. */
  readonly duplicates: readonly { canonical: string; fileNames: readonly string[] }[];
  readonly ok: boolean;
}

/** Matches a header's tensors against the expected canonical tensors. */
export function resolveWeights(header: SafetensorsHeader, expected: ReadonlyMap<string, readonly number[]>): WeightResolution {
  const weights = new Map<string, ResolvedWeight>();
  const unexpected: string[] = [];
  const wrongShape: WeightResolution['wrongShape'][number][] = [];
  const fileNamesOf = new Map<string, string[]>();
  for (const info of header.tensors) {
    const mapped = canonicalWeightName(info.name);
    const expectedShape = mapped && expected.get(mapped.canonical);
    if (!mapped || !expectedShape) {
      unexpected.push(info.name);
      continue;
    }
    fileNamesOf.set(mapped.canonical, [...(fileNamesOf.get(mapped.canonical) ?? []), info.name]);
    const shape = mapped.transposed ? [...info.shape].reverse() : info.shape;
    if (!sameShape(shape, expectedShape)) {
      wrongShape.push({ canonical: mapped.canonical, fileName: info.name, expected: expectedShape, actual: info.shape });
      continue;
    }
    weights.set(mapped.canonical, { canonical: mapped.canonical, info, shape, transposed: mapped.transposed });
  }
  const duplicates = [...fileNamesOf].filter(([, names]) => names.length > 1).map(([canonical, fileNames]) => ({ canonical, fileNames }));
  const missing = [...expected]
    .filter(([canonical]) => !fileNamesOf.has(canonical))
    .map(([canonical, shape]) => ({ canonical, shape }));
  return {
    weights,
    missing,
    unexpected,
    wrongShape,
    duplicates,
    ok: missing.length === 0 && unexpected.length === 0 && wrongShape.length === 0 && duplicates.length === 0,
  };
}

/** Throws an error listing what is wrong (at most `limit` lines per kind) unless the resolution is ok. */
export function assertWeightsResolved(resolution: WeightResolution, source: string, limit = 5): void {
  if (resolution.ok) return;
  const lines: string[] = [];
  const list = <T>(title: string, items: readonly T[], show: (item: T) => string) => {
    if (items.length === 0) return;
    lines.push(`${title} (${items.length}):`, ...items.slice(0, limit).map((item) => `  ${show(item)}`));
    if (items.length > limit) lines.push(`  … and ${items.length - limit} more`);
  };
  list('missing tensors', resolution.missing, (item) => `${item.canonical} [${item.shape.join(', ')}]`);
  list('tensors with the wrong shape', resolution.wrongShape, (item) => `${item.fileName}: [${item.actual.join(', ')}], expected [${item.expected.join(', ')}]`);
  list('unexpected tensors', resolution.unexpected, (name) => name);
  list('tensors given twice', resolution.duplicates, (item) => `${item.canonical} ← ${item.fileNames.join(', ')}`);
  throw new Error(
    `The weights in ${source} do not match the selected model revision:\n${lines.join('\n')}\n` +
      'Pick the revision these weights belong to, or download the weights of the selected revision.',
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, index) => dim === b[index]);
}
