// A revision is data: which config, which weight layout, how images are cropped, how the text
// mask looks, how prompts are built, which tokenizer, how answers are sampled (spec §1.2).
// Code that runs the model reads these fields instead of branching on revision ids.
import { DEFAULT_CONFIG, deepFreeze, type MoondreamConfig } from './config.ts';
import { expectedWeights } from './weight-names.ts';

/** 'overlap': global crop + overlapping tiles, stitched and pooled (2025); 'single': one 378² bicubic resize (2024-04-02). */
export type CropMode = 'overlap' | 'single';
/** 'prefix': BOS + image tokens attend bidirectionally (2025, spec §7); 'causal': plain causal (2024). */
export type MaskMode = 'prefix' | 'causal';

/**
 * How a question becomes the tokens after the image (spec §8.2, §10.2, §12).
 * - 'ids': prefix ids + encode(question) + suffix ids (+ the answer id again when doubled);
 * - 'text': encode(template with `{question}` replaced).
 */
export type PromptTemplate =
  | {
      readonly kind: 'ids';
      readonly queryPrefix: readonly number[];
      readonly querySuffix: readonly number[];
      /** Encode `" " + question` instead of the question (2025-03-27 … 2025-04-14). */
      readonly questionLeadingSpace: boolean;
    }
  | { readonly kind: 'text'; readonly query: string };

/** Where the tokenizer comes from. */
export type TokenizerSource =
  | { readonly kind: 'hub'; readonly repo: string; readonly revision: string; readonly file: string }
  /** Whitespace-separated decimal ids (the tiny fixture has no tokenizer file). */
  | { readonly kind: 'ids' };

export interface SamplingDefaults {
  /** 0 = greedy. */
  readonly temperature: number;
  readonly topP: number;
  readonly maxTokens: number;
}

export interface WeightsSource {
  readonly repo: string;
  readonly revision: string;
  readonly file: string;
  /** The dtype the release stores (spec §3.3); the loader converts whatever it finds. */
  readonly dtype: 'BF16' | 'F16' | 'F32';
}

export interface Revision {
  readonly id: string;
  readonly description: string;
  readonly config: MoondreamConfig;
  /** Undefined for configs without a published checkpoint (the tiny fixture). */
  readonly weights: WeightsSource | undefined;
  /** Layout of the tensor names in the file; both map to the canonical HF 2025 names. */
  readonly weightNaming: 'hf-2025' | 'legacy-2024';
  readonly hasRegionHead: boolean;
  readonly cropMode: CropMode;
  readonly maskMode: MaskMode;
  /** Input width of proj_mlp.fc1: 2·enc_dim (global ‖ pooled local) or enc_dim. */
  readonly projectionInputDim: number;
  readonly prompt: PromptTemplate;
  /** Feed the answer id a second time after the query suffix (spec §8.2, kestrel `answer_prefix [3, 3]`). */
  readonly doubleAnswerToken: boolean;
  /** Logits set to −∞ on every decode step after the first (spec §8.5: the answer id). */
  readonly suppressedTokens: readonly number[];
  /** Answers in training data start with a space (2024 notebook, spec §11.3). */
  readonly answerLeadingSpace: boolean;
  readonly bosId: number;
  readonly eosId: number;
  readonly tokenizer: TokenizerSource;
  readonly sampling: SamplingDefaults;
}

const MOONDREAM2 = 'vikhyatk/moondream2';
const GPT2_EOS = 50256;

/** The GPT-2 / CodeGen id templates of 2025-01-09 … 2025-04-14 (spec §10.2, config_md2.json). */
const GPT2_ERA_CONFIG: MoondreamConfig = deepFreeze({
  ...DEFAULT_CONFIG,
  tokenizer: {
    ...DEFAULT_CONFIG.tokenizer,
    bos_id: GPT2_EOS,
    eos_id: GPT2_EOS,
    templates: {
      caption: { short: [198, 198, 16438, 8305, 25], normal: [198, 198, 24334, 1159, 25], long: [198, 198, 14617, 8305, 25] },
      query: { prefix: [198, 198, 24361, 25], suffix: [198, 198, 33706, 25] },
      detect: { prefix: [198, 198, 47504, 25], suffix: [628] },
      point: { prefix: [198, 198, 12727, 25], suffix: [628] },
    },
  },
});

export const REVISIONS: Readonly<Record<string, Revision>> = deepFreeze({
  '2025-06-21': {
    id: '2025-06-21',
    description: 'Moondream2 2025-06-21 (latest): starmie-v1 tokenizer, bf16 weights',
    config: DEFAULT_CONFIG,
    weights: { repo: MOONDREAM2, revision: '2025-06-21', file: 'model.safetensors', dtype: 'BF16' },
    weightNaming: 'hf-2025',
    hasRegionHead: true,
    cropMode: 'overlap',
    maskMode: 'prefix',
    projectionInputDim: 2 * DEFAULT_CONFIG.vision.enc_dim,
    prompt: {
      kind: 'ids',
      queryPrefix: DEFAULT_CONFIG.tokenizer.templates.query.prefix,
      querySuffix: DEFAULT_CONFIG.tokenizer.templates.query.suffix,
      questionLeadingSpace: false,
    },
    doubleAnswerToken: true,
    suppressedTokens: [DEFAULT_CONFIG.tokenizer.answer_id],
    answerLeadingSpace: false,
    bosId: 0,
    eosId: 0,
    tokenizer: { kind: 'hub', repo: 'moondream/starmie-v1', revision: 'main', file: 'tokenizer.json' },
    sampling: { temperature: 0.5, topP: 0.3, maxTokens: 768 },
  },
  '2025-04-14': {
    id: '2025-04-14',
    description: 'Moondream2 2025-04-14: GPT-2 tokenizer with id templates, fp16 weights',
    config: GPT2_ERA_CONFIG,
    weights: { repo: MOONDREAM2, revision: '2025-04-14', file: 'model.safetensors', dtype: 'F16' },
    weightNaming: 'hf-2025',
    hasRegionHead: true,
    cropMode: 'overlap',
    maskMode: 'prefix',
    projectionInputDim: 2 * DEFAULT_CONFIG.vision.enc_dim,
    prompt: {
      kind: 'ids',
      queryPrefix: GPT2_ERA_CONFIG.tokenizer.templates.query.prefix,
      querySuffix: GPT2_ERA_CONFIG.tokenizer.templates.query.suffix,
      questionLeadingSpace: true, // since 2025-03-27 (spec §1.2)
    },
    doubleAnswerToken: false,
    suppressedTokens: [],
    answerLeadingSpace: true,
    bosId: GPT2_EOS,
    eosId: GPT2_EOS,
    tokenizer: { kind: 'hub', repo: MOONDREAM2, revision: '2025-04-14', file: 'tokenizer.json' },
    sampling: { temperature: 0.5, topP: 0.3, maxTokens: 768 },
  },
  '2024-04-02': {
    id: '2024-04-02',
    description: 'Moondream2 2024-04-02 (the original counting guide): one 378² crop, causal mask, fp16',
    config: GPT2_ERA_CONFIG,
    weights: { repo: MOONDREAM2, revision: '2024-04-02', file: 'model.safetensors', dtype: 'F16' },
    weightNaming: 'legacy-2024',
    hasRegionHead: false,
    cropMode: 'single',
    maskMode: 'causal',
    projectionInputDim: DEFAULT_CONFIG.vision.enc_dim,
    prompt: { kind: 'text', query: '\n\nQuestion: {question}\n\nAnswer:' },
    doubleAnswerToken: false,
    suppressedTokens: [],
    answerLeadingSpace: true,
    bosId: GPT2_EOS,
    eosId: GPT2_EOS,
    tokenizer: { kind: 'hub', repo: MOONDREAM2, revision: '2024-04-02', file: 'tokenizer.json' },
    // spec §12: HF generate, greedy, max_new_tokens 512 in answer_question at this revision.
    sampling: { temperature: 0, topP: 1, maxTokens: 512 },
  },
} satisfies Record<string, Revision>);

export const DEFAULT_REVISION_ID = '2025-06-21';

export function getRevision(id: string): Revision {
  const revision = REVISIONS[id];
  if (!revision) throw new Error(`Unknown Moondream2 revision '${id}'. Known revisions: ${Object.keys(REVISIONS).join(', ')}.`);
  return revision;
}

/**
 * A revision for a model described by a JSON config (the tiny fixture, the shipped demo model):
 * latest-era behaviour (overlap crops, prefix mask, id templates with the doubled answer id)
 * driven by the config's own token ids.
 */
export function revisionFromConfig(
  config: MoondreamConfig,
  options: { id?: string; description?: string; tokenizer?: TokenizerSource; weights?: WeightsSource; sampling?: SamplingDefaults } = {},
): Revision {
  const { tokenizer } = config;
  return deepFreeze({
    id: options.id ?? 'custom',
    description: options.description ?? 'Moondream model from a JSON config',
    config,
    weights: options.weights,
    weightNaming: 'hf-2025',
    hasRegionHead: true,
    cropMode: 'overlap',
    maskMode: 'prefix',
    projectionInputDim: 2 * config.vision.enc_dim,
    prompt: { kind: 'ids', queryPrefix: tokenizer.templates.query.prefix, querySuffix: tokenizer.templates.query.suffix, questionLeadingSpace: false },
    doubleAnswerToken: true,
    suppressedTokens: [tokenizer.answer_id],
    answerLeadingSpace: false,
    bosId: tokenizer.bos_id,
    eosId: tokenizer.eos_id,
    tokenizer: options.tokenizer ?? { kind: 'ids' },
    sampling: options.sampling ?? { temperature: 0, topP: 1, maxTokens: 64 },
  });
}

/** The canonical tensors (name → shape) a checkpoint of this revision must contain. */
export function expectedWeightsOf(revision: Revision): Map<string, readonly number[]> {
  return expectedWeights(revision.config, { projectionInputDim: revision.projectionInputDim, hasRegionHead: revision.hasRegionHead });
}

/** Minimal encoder interface the prompt builder needs (see tokenizer.ts). */
export interface PromptEncoder {
  encode(text: string): number[];
}

/**
 * The token ids that follow BOS and the image embeddings for a question (spec §8.2 for the id
 * templates, §12 for the 2024 text prompt), ending where the answer begins.
 */
export function queryPromptIds(revision: Revision, tokenizer: PromptEncoder, question: string): number[] {
  const { prompt } = revision;
  if (prompt.kind === 'text') return tokenizer.encode(prompt.query.replace('{question}', question));
  const ids = [...prompt.queryPrefix, ...tokenizer.encode(prompt.questionLeadingSpace ? ` ${question}` : question), ...prompt.querySuffix];
  if (revision.doubleAnswerToken) ids.push(revision.config.tokenizer.answer_id);
  return ids;
}

/** Answer ids as training targets: encode(answer) + EOS (spec §11.1 / §11.3). */
export function answerTargetIds(revision: Revision, tokenizer: PromptEncoder, answer: string): number[] {
  return [...tokenizer.encode(revision.answerLeadingSpace ? ` ${answer}` : answer), revision.eosId];
}
