// Whole-model inference benchmark: image encode (vision encoder + prefix prefill), prompt
// prefill (~60 tokens after the image prefix) and decode tokens/s, on random weights of the
// model's real shapes. The tiny configuration (the golden fixture's) runs everywhere; `full`
// adds full-size Moondream2 (2025-06-21 shapes, f16 matrices) for machines with a real GPU.
// Also prints what the model holds on the GPU, the 8 GB inference budget and the training budget
// (train/training-budget.ts) of both full-size revisions.
import type { BenchRow } from '../../gpu/bench/bench-row.ts';
import type { Engine } from '../../gpu/engine.ts';
import { DEFAULT_CONFIG, parseConfig, type MoondreamConfig } from '../config.ts';
import { Moondream } from '../moondream.ts';
import { expectedWeightsOf, getRevision, revisionFromConfig, type Revision } from '../revisions.ts';
import { rgbImage, type RgbImage } from '../rgb-image.ts';
import { IdTokenizer } from '../tokenizer.ts';
import { storageDtype, type WeightPrecision } from '../weights.ts';
import { randomWeights } from '../weights-random.ts';
import { formatTrainingBudget, trainingBudget } from '../../train/training-budget.ts';

/** The golden fixture's configuration (test/fixtures/moondream-tiny/config.json). */
export const TINY_CONFIG: MoondreamConfig = parseConfig({
  text: { dim: 64, ff_dim: 256, n_layers: 2, vocab_size: 512, max_context: 256, n_heads: 4, n_kv_heads: 4, prefix_attn: 17, group_size: null },
  vision: { enc_dim: 32, enc_patch_size: 14, enc_n_layers: 4, enc_ff_dim: 64, enc_n_heads: 2, proj_out_dim: 64, crop_size: 56, in_channels: 3, max_crops: 8, overlap_margin: 1, proj_inner_dim: 128 },
  region: { dim: 64, coord_feat_dim: 16, coord_out_dim: 32, size_feat_dim: 16, size_out_dim: 64, inner_dim: 64, group_size: null },
  tokenizer: {
    ...DEFAULT_CONFIG.tokenizer,
    templates: {
      caption: { short: [1, 20, 2, 21, 3], normal: [1, 20, 2, 22, 3], long: [1, 20, 2, 23, 3] },
      query: { prefix: [1, 15, 2], suffix: [3] },
      detect: { prefix: [1, 16, 17, 2], suffix: [3] },
      point: { prefix: [1, 18, 2], suffix: [3] },
    },
  },
});

const GIB = 2 ** 30;
const BUDGET_BYTES = 8 * 10 ** 9; // an "8 GB" card

export interface ModelBenchOptions {
  readonly full: boolean;
  readonly log?: (line: string) => void;
}

export interface MemoryBudget {
  readonly weightBytes: number;
  readonly kvCacheBytes: number;
  /** Largest transient buffers of one image encode (vision MLP over every crop) and the logits. */
  readonly activationBytes: number;
  readonly totalBytes: number;
}

/**
 * GPU memory for inference: weights as stored under `precision`, the f32 KV cache of
 * max_context positions (kv-cache.ts), and the peak activations of an encode with max_crops + 1
 * crops (fc1 output, attention input and the residual stream, all f32).
 */
export function inferenceBudget(revision: Revision, precision: WeightPrecision): MemoryBudget {
  const { text, vision } = revision.config;
  let weightBytes = 0;
  for (const [canonical, shape] of expectedWeightsOf(revision)) {
    const count = shape.reduce((product, dim) => product * dim, 1);
    weightBytes += Math.ceil((count * (storageDtype({ canonical, shape }, precision) === 'f16' ? 2 : 4)) / 4) * 4;
  }
  const kvCacheBytes = 2 * text.n_layers * text.max_context * text.dim * 4;
  const crops = vision.max_crops + 1;
  const tokens = (vision.crop_size / vision.enc_patch_size) ** 2;
  const activationBytes = crops * tokens * (vision.enc_ff_dim + 3 * vision.enc_dim) * 4 + text.vocab_size * 4;
  return { weightBytes, kvCacheBytes, activationBytes, totalBytes: weightBytes + kvCacheBytes + activationBytes };
}

export function formatBudget(name: string, budget: MemoryBudget): string {
  const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;
  const fits = budget.totalBytes <= BUDGET_BYTES;
  return (
    `${name} inference memory: weights ${gib(budget.weightBytes)} + KV cache ${gib(budget.kvCacheBytes)} + activations ≈${gib(budget.activationBytes)}` +
    ` = ${gib(budget.totalBytes)}: ${fits ? 'fits' : 'does NOT fit'} an 8 GB GPU (${gib(BUDGET_BYTES)})`
  );
}

/**
 * The training budget of both full-size revisions for a LoRA step (rank 16 on every layer) on a
 * counting sample (729 image tokens + BOS + ~60 prompt tokens + a 30-token answer), at batch 1
 * and 4, with stored and recomputed activations.
 */
function trainingBudgetLines(): string[] {
  const lines: string[] = [];
  for (const id of ['2025-06-21', '2024-04-02'] as const) {
    for (const batchSize of [1, 4]) {
      for (const recompute of [false, true]) {
        const budget = trainingBudget(getRevision(id), { batchSize, sequenceLength: 820, answerTokens: 30, training: { lora: { rank: 16 } }, precision: 'f16', recompute });
        lines.push(formatTrainingBudget(`${id}, LoRA r16, batch ${batchSize} × 820 positions, ${recompute ? 'recomputed' : 'stored'} activations,`, budget));
      }
    }
  }
  return lines;
}

/** Multiply–adds of the text decoder's matrices per token (qkv, proj, fc1, fc2 per layer, lm_head). */
function textFlopsPerToken(config: MoondreamConfig): number {
  const { dim, ff_dim: ff, n_layers: layers } = config.text;
  return 2 * layers * (3 * dim * dim + dim * dim + 2 * dim * ff);
}

/** A smooth synthetic picture (gradients), big enough to be tiled into several crops. */
function syntheticImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const index = (y * width + x) * 3;
      data[index] = (255 * x) / width;
      data[index + 1] = (255 * y) / height;
      data[index + 2] = 128 + 100 * Math.sin(x / 9) * Math.cos(y / 7);
    }
  }
  return rgbImage(width, height, data);
}

async function benchOne(engine: Engine, name: string, base: Revision, precision: WeightPrecision, image: RgbImage, decodeTokens: number, log: (line: string) => void): Promise<BenchRow[]> {
  // EOS −1: random weights would stop decoding at a random point; the benchmark decodes a fixed count.
  const revision: Revision = { ...base, eosId: -1 };
  const loadStarted = performance.now();
  const weights = randomWeights(engine, revision, { precision });
  await engine.sync();
  const model = new Moondream(engine, revision, weights, new IdTokenizer(revision.config.text.vocab_size));
  log(`  ${name}: random ${precision} weights uploaded in ${(performance.now() - loadStarted).toFixed(0)} ms; the model holds ${(model.gpuBytes / 2 ** 20).toFixed(1)} MiB of GPU memory (weights ${(weights.gpuBytes / 2 ** 20).toFixed(1)} MiB + KV cache)`);
  try {
    // ~60 prompt tokens: query prefix + 56 question ids + suffix + doubled answer id.
    const question = Array.from({ length: 56 }, (_, i) => 20 + (i % 200)).join(' ');
    // Warm-up on another image object: compiles every pipeline, so the timed runs measure work only.
    await model.query(syntheticImage(image.width, image.height), question, { temperature: 0, maxTokens: 2 });
    const encodeStarted = performance.now();
    const encoded = await model.encodeImage(image);
    const encodeMs = performance.now() - encodeStarted;
    const result = await model.query(encoded, question, { temperature: 0, maxTokens: decodeTokens });
    const { prefillMs, decodeMs, promptTokens } = result.timings;
    // generate.ts feeds every emitted token once (the first token comes from the prefill's logits).
    const decodedSteps = result.tokens.length;
    const perToken = textFlopsPerToken(revision.config);
    return [
      { name: `${name} image encode (${encoded.crops} crops + ${1 + revision.config.vision.crop_size ** 2 / revision.config.vision.enc_patch_size ** 2}-position prefill)`, ms: encodeMs },
      { name: `${name} prefill ${promptTokens} tokens`, ms: prefillMs, gflops: (perToken * promptTokens) / prefillMs / 1e6, note: `${((promptTokens * 1000) / prefillMs).toFixed(1)} tokens/s` },
      { name: `${name} decode (per token, ${decodedSteps} steps)`, ms: decodeMs / decodedSteps, gflops: (perToken * decodedSteps) / decodeMs / 1e6, note: `${((decodedSteps * 1000) / decodeMs).toFixed(2)} tokens/s` },
    ];
  } finally {
    model.dispose();
  }
}

/** Benchmark rows for the tiny model, and with `full` the full-size one. */
export async function benchModel(engine: Engine, options: ModelBenchOptions): Promise<BenchRow[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  const full = getRevision('2025-06-21');
  log(formatBudget('full-size Moondream2 (f16 weights, 2048-position KV cache)', inferenceBudget(full, 'f16')));
  for (const line of trainingBudgetLines()) log(line);
  const rows = await benchOne(engine, 'model tiny', revisionFromConfig(TINY_CONFIG, { id: 'tiny' }), 'f32', syntheticImage(150, 100), 8, log);
  if (options.full) rows.push(...(await benchOne(engine, 'model full', full, 'f16', syntheticImage(640, 480), 32, log)));
  return rows;
}
