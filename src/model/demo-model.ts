// The shipped demo model (public/demo-model/): a tiny Moondream with a byte-level BPE tokenizer
// whose merges are learned from the demo dataset's questions and answers and the pre-training
// captions, its config, and its seeded initial weights, which src/train/demo-pretraining.ts trains
// (`npm run demo:pretrain` writes the files).
//
// Token ids: 0 is `<|endoftext|>` (BOS = EOS, as the 2025 releases), 1…31 are control tokens
// (the prompt templates of config.tokenizer use them, as the tiny fixture's config does), then the
// 256 byte tokens, then one token per learned merge.
import type { NamedTensor } from './safetensors-writer.ts';
import type { MoondreamConfig } from './config.ts';
import { expectedWeights } from './weight-names.ts';

export const END_OF_TEXT = '<|endoftext|>';
/** Ids below this are special tokens (EOS + control tokens). */
export const SPECIAL_TOKEN_COUNT = 32;
const BYTE_TOKEN_COUNT = 256;

/** Names of the control ids the config's templates use; the rest are `<|reserved_N|>`. */
const CONTROL_NAMES: Readonly<Record<number, string>> = {
  1: '<|prompt|>',
  2: '<|prompt_end|>',
  3: '<|answer|>',
  4: '<|thinking|>',
  5: '<|coord|>',
  6: '<|size|>',
  7: '<|start_ground_points|>',
  8: '<|start_ground_text|>',
  9: '<|end_ground|>',
  15: '<|query|>',
  16: '<|detect|>',
  17: '<|detect_all|>',
  18: '<|point|>',
  20: '<|caption|>',
  21: '<|short|>',
  22: '<|normal|>',
  23: '<|long|>',
};

/** The tokenizer section of config.json: control ids laid out as the tiny fixture's (spec §10). */
export const DEMO_TOKENIZER_IDS: MoondreamConfig['tokenizer'] = {
  bos_id: 0,
  eos_id: 0,
  answer_id: 3,
  thinking_id: 4,
  coord_id: 5,
  size_id: 6,
  start_ground_points_id: 7,
  end_ground_id: 9,
  templates: {
    caption: { short: [1, 20, 2, 21, 3], normal: [1, 20, 2, 22, 3], long: [1, 20, 2, 23, 3] },
    query: { prefix: [1, 15, 2], suffix: [3] },
    detect: { prefix: [1, 16, 17, 2], suffix: [3] },
    point: { prefix: [1, 18, 2], suffix: [3] },
  },
};

/** GPT-2's byte → printable character table (bytes_to_unicode), which ByteLevel BPE vocabularies use. */
export function byteCharacters(): string[] {
  const chars: string[] = [];
  let next = 256;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) || (byte >= 174 && byte <= 255);
    chars.push(String.fromCodePoint(printable ? byte : next++));
  }
  return chars;
}

/** The GPT-2 pre-tokenizer split (ByteLevel `use_regex: true`): merges never cross these pieces. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * Learns up to `maxMerges` BPE merges from `texts`: each step merges the most frequent adjacent
 * pair over all pre-tokenized pieces (ties broken by the pair's text, so the result depends only on
 * the texts). Stops early once no pair occurs twice.
 */
export function learnMerges(texts: readonly string[], maxMerges: number): [string, string][] {
  const chars = byteCharacters();
  const encoder = new TextEncoder();
  const pieceCounts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of text.match(GPT2_SPLIT) ?? []) {
      const mapped = Array.from(encoder.encode(piece), (byte) => chars[byte]).join('\u0000');
      pieceCounts.set(mapped, (pieceCounts.get(mapped) ?? 0) + 1);
    }
  }
  const pieces = [...pieceCounts].map(([symbols, count]) => ({ symbols: symbols.split('\u0000'), count }));
  const merges: [string, string][] = [];
  while (merges.length < maxMerges) {
    const pairCounts = new Map<string, number>();
    for (const { symbols, count } of pieces) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined) break;
    const [left, right] = best.split('\u0000') as [string, string];
    merges.push([left, right]);
    for (const piece of pieces) {
      const merged: string[] = [];
      for (let i = 0; i < piece.symbols.length; i++) {
        if (i + 1 < piece.symbols.length && piece.symbols[i] === left && piece.symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(piece.symbols[i]);
      }
      piece.symbols = merged;
    }
  }
  return merges;
}

/** The tokenizer.json (Hugging Face tokenizers format) for the special tokens, bytes and merges. */
export function demoTokenizerJson(merges: readonly [string, string][]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  const addedTokens: Record<string, unknown>[] = [];
  for (let id = 0; id < SPECIAL_TOKEN_COUNT; id++) {
    const content = id === 0 ? END_OF_TEXT : (CONTROL_NAMES[id] ?? `<|reserved_${id}|>`);
    vocab[content] = id;
    addedTokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  byteCharacters().forEach((char, byte) => (vocab[char] = SPECIAL_TOKEN_COUNT + byte));
  merges.forEach(([left, right], index) => {
    if (vocab[left + right] !== undefined) throw new Error(`Merge ${left} ${right} makes a token that already exists.`);
    vocab[left + right] = SPECIAL_TOKEN_COUNT + BYTE_TOKEN_COUNT + index;
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges.map(([left, right]) => `${left} ${right}`),
    },
  };
}

/** Tokens in the tokenizer for `merges`: specials + bytes + one per merge. */
export function demoVocabularySize(mergeCount: number): number {
  return SPECIAL_TOKEN_COUNT + BYTE_TOKEN_COUNT + mergeCount;
}

/**
 * The demo model's config. Chosen for what learns on a CPU within the pre-training budget
 * (public/demo-model/README.md has the figures): 64 px crops of 16 px patches, so a 4×4 grid and
 * 4 vision layers (spec §2.2 note) and 16 image tokens; one tile (max_crops 1), since the demo
 * images are at most 96 px; a 2-layer 64-wide decoder; the vocabulary rounded up to 64.
 * `visionWidth` (a multiple of 16; default 64, the shipped model's) widens the vision tower for
 * pre-training trials: heads of 16 and an MLP twice as wide, as at 64.
 */
export function demoConfig(vocabularySize: number, visionWidth = 64): MoondreamConfig {
  if (!Number.isInteger(visionWidth) || visionWidth < 16 || visionWidth % 16 !== 0) throw new Error(`The demo model's vision width must be a multiple of 16, got ${visionWidth}.`);
  const textDim = 64;
  return {
    text: { dim: textDim, ff_dim: 256, n_layers: 2, vocab_size: Math.ceil(vocabularySize / 64) * 64, max_context: 96, n_heads: 4, n_kv_heads: 4, prefix_attn: 17, group_size: null },
    vision: { enc_dim: visionWidth, enc_patch_size: 16, enc_n_layers: 4, enc_ff_dim: 2 * visionWidth, enc_n_heads: visionWidth / 16, proj_out_dim: textDim, crop_size: 64, in_channels: 3, max_crops: 1, overlap_margin: 1, proj_inner_dim: 128 },
    region: { dim: textDim, coord_feat_dim: 16, coord_out_dim: 32, size_feat_dim: 16, size_out_dim: 64, inner_dim: 64, group_size: null },
    tokenizer: DEMO_TOKENIZER_IDS,
  };
}

/**
 * Init for training from scratch: matrices N(0, 1/fan_in) (the output projections of every
 * residual branch further scaled by 1/sqrt(2·layers), as GPT-2 does), biases 0, LayerNorm 1 and 0;
 * token and position embeddings at the scale of the projected image tokens they sit beside.
 */
export const DEMO_INIT = {
  linear_weight_std: '1/sqrt(fan_in)',
  residual_projection_scale: '1/sqrt(2*n_layers)',
  bias: 0,
  layernorm_weight: 1,
  layernorm_bias: 0,
  wte_std: 0.5,
  pos_emb_std: 0.5,
  fourier_features_std: 1.0,
} as const;

/** One N(0, 1) draw from uniform [0, 1) numbers (Box–Muller, cosine branch). */
export function standardNormal(nextFloat: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - nextFloat())) * Math.cos(2 * Math.PI * nextFloat());
}

/**
 * Seeded initial weights for `config` in HF 2025 naming and spec §3.1 order. `nextFloat` returns
 * uniform [0, 1) values (e.g. Xoshiro128.nextFloat); normals come from Box–Muller.
 */
export function demoWeights(config: MoondreamConfig, nextFloat: () => number): NamedTensor[] {
  const normal = () => standardNormal(nextFloat);
  const shapes = expectedWeights(config, { projectionInputDim: 2 * config.vision.enc_dim, hasRegionHead: true });
  const tensors: NamedTensor[] = [];
  for (const [name, shape] of shapes) {
    const count = shape.reduce((product, dim) => product * dim, 1);
    const isLayerNorm = /\.(ln\d?|post_ln)\.(weight|bias)$/.test(name);
    const layers = name.startsWith('model.vision.blocks.') ? config.vision.enc_n_layers : config.text.n_layers;
    const residualScale = /blocks\.\d+\.(attn\.proj|mlp\.fc2)\.weight$/.test(name) ? 1 / Math.sqrt(2 * layers) : 1;
    let sample: () => number;
    if (isLayerNorm) sample = name.endsWith('.weight') ? () => 1 : () => 0;
    else if (name.endsWith('.bias')) sample = () => 0;
    else if (name.endsWith('_features')) sample = () => DEMO_INIT.fourier_features_std * normal();
    else if (name.endsWith('.wte')) sample = () => DEMO_INIT.wte_std * normal();
    else if (name.endsWith('.pos_emb')) sample = () => DEMO_INIT.pos_emb_std * normal();
    else {
      const std = residualScale / Math.sqrt(shape[shape.length - 1]);
      sample = () => std * normal();
    }
    tensors.push({ name, shape, values: Float32Array.from({ length: count }, sample) });
  }
  return tensors;
}
