// GPU memory of a training step, as a formula of the model's shapes (beside the inference
// budget, model/bench/model-bench.ts): the weights and the model's KV cache, what is trained (the parameters, the step's
// gradient sums, AdamW's two moments, the tape's gradients), the activations the backward pass
// keeps, and the step's largest transient buffers. The activation terms follow what each op of
// a decoder block saves (layers.ts, autograd-ops.ts) for B sequences of T positions, each buffer
// rounded up to the buffer pool's size class as the pool allocates it; with recomputation only
// each block's input is kept and one block's activations exist at a time (autograd.ts
// recomputed). The vision tower is frozen here (its features come from the cache).
import { sizeClass } from '../gpu/buffer-pool.ts';
import { LORA_TARGETS, type LoraTarget } from '../gpu/lora.ts';
import { deriveDimensions } from '../model/config.ts';
import { expectedWeightsOf, type Revision } from '../model/revisions.ts';
import { storageDtype, type WeightPrecision } from '../model/weights.ts';

export interface TrainingShape {
  /** Sequences per forward (the micro-batch). */
  batchSize: number;
  /** Positions per sequence: BOS + image tokens + prompt + answer (the padded length). */
  sequenceLength: number;
  /** Labelled positions per sequence (answer tokens and EOS). */
  answerTokens: number;
  /** LoRA adapters of this rank on these layers of every block, or every text weight (full fine-tuning). */
  training: { lora: { rank: number; targets?: readonly LoraTarget[] } } | { fullFineTune: true };
  /** How the frozen weights are stored (full fine-tuning keeps the text weights in f32). */
  precision: WeightPrecision;
  /** Keep only block inputs and recompute each block on the backward pass. */
  recompute: boolean;
}

export interface TrainingBudget {
  /** Every weight of the model as stored (text weights in f32 when they train). */
  weightBytes: number;
  /** The loaded model's KV cache (max_context positions, f32), allocated with the model. */
  kvCacheBytes: number;
  /** The trained tensors, the step's gradient sums and AdamW's two moments (4 copies). */
  optimizerBytes: number;
  /** The tape's gradients of the trained tensors during the backward pass. */
  gradientBytes: number;
  /** What the backward pass keeps from the forward (all blocks, or block inputs with recompute). */
  storedActivationBytes: number;
  /** The largest buffers alive on top of those at once: one block's activations with recompute, the backward's temporaries. */
  transientBytes: number;
  /** The step's own buffers: stored activations + transients + the tape's gradients (what the buffer pool's peak measures). */
  stepBytes: number;
  totalBytes: number;
}

const F32 = 4;
const pooled = (...floats: number[]) => floats.reduce((sum, count) => sum + (count > 0 ? sizeClass(count * F32) : 0), 0);

/** Trainable parameters of a LoRA run: r·(in + out) per adapted layer of every block. */
function loraParameterCount(revision: Revision, rank: number, targets: readonly LoraTarget[]): number {
  const { dim, ff_dim: ff, n_layers: layers } = revision.config.text;
  const shapes: Record<LoraTarget, [number, number]> = { 'attn.qkv': [3 * dim, dim], 'attn.proj': [dim, dim], 'mlp.fc1': [ff, dim], 'mlp.fc2': [dim, ff] };
  return layers * targets.reduce((sum, target) => sum + rank * (shapes[target][0] + shapes[target][1]), 0);
}

export function trainingBudget(revision: Revision, shape: TrainingShape): TrainingBudget {
  const { text } = revision.config;
  const { dim: D, ff_dim: F, n_heads: H, n_layers: layers, vocab_size: V } = text;
  const full = 'fullFineTune' in shape.training;
  const lora = 'lora' in shape.training ? shape.training.lora : undefined;
  const rank = lora?.rank ?? 0;
  const targets = lora?.targets ?? LORA_TARGETS;
  const adapted = (target: LoraTarget) => (lora && targets.includes(target) ? rank : 0);

  let weightBytes = 0;
  let textParameters = 0;
  let textParameterBytes = 0;
  for (const [canonical, dims] of expectedWeightsOf(revision)) {
    const count = dims.reduce((product, size) => product * size, 1);
    const trained = full && canonical.startsWith('model.text.');
    if (trained) {
      textParameters += count;
      textParameterBytes += sizeClass(count * F32);
    }
    weightBytes += trained ? count * F32 : Math.ceil((count * (storageDtype({ canonical, shape: dims }, shape.precision) === 'f16' ? 2 : 4)) / 4) * 4;
  }
  const parameters = full ? textParameters : loraParameterCount(revision, rank, targets);
  // Tensors are allocated one per parameter tensor; the LoRA ones are small, so their rounding is ignored.
  const gradientBytes = full ? textParameterBytes : parameters * F32;
  const optimizerBytes = (full ? 3 * textParameterBytes : 3 * parameters * F32) + (full ? 0 : parameters * F32);

  const R = shape.batchSize * shape.sequenceLength;
  const L = shape.batchSize * shape.answerTokens;
  const { rotaryDim } = deriveDimensions(revision.config);
  // One block's saved tensors, its input apart (layers.ts / autograd-ops.ts): LayerNorm's mean
  // and rstd, its output a (read by qkv and fc1), each adapted layer's x·Aᵀ, qkv, the rotated Q
  // and K, attention's output and row logsumexp, fc1's output and GELU's.
  const blockActivations = pooled(
    R, R, R * D,
    R * adapted('attn.qkv'), R * adapted('attn.proj'), R * adapted('mlp.fc1'), R * adapted('mlp.fc2'),
    3 * R * D, rotaryDim > 0 ? R * D : 0, rotaryDim > 0 ? R * D : 0, R * D, R * H,
    R * F, R * F,
  );
  const blockInput = pooled(R * D);
  // Block 0's input is the embedded batch, made before the decoder runs; each later block's input is kept.
  const inputs = layers * blockInput;
  // The head: the labelled rows gathered, post_ln's statistics and output, the loss gradient
  // cross-entropy computes in its forward (L × vocab).
  const head = pooled(L * D, L, L, L * D, L * V);
  const storedActivationBytes = inputs + head + (shape.recompute ? 0 : layers * blockActivations);
  // The backward's largest temporaries at once: through attention, the output's gradient and
  // the residual stream's, dQ, dK and dV, rotary's dQ and dK, and the assembled dqkv; through the
  // head, the logits beside the loss gradient (L × vocab).
  const attentionBackward = pooled(R * D, R * D, R * D, R * D, R * D, R * D, R * D, 3 * R * D);
  // With recomputation, the block being recomputed adds its activations and its output again.
  const transientBytes = Math.max(attentionBackward, pooled(L * V)) + (shape.recompute ? blockActivations + blockInput : 0);
  const stepBytes = storedActivationBytes + transientBytes + gradientBytes;
  const kvCacheBytes = 2 * layers * text.max_context * D * F32;
  return {
    weightBytes,
    kvCacheBytes,
    optimizerBytes,
    gradientBytes,
    storedActivationBytes,
    transientBytes,
    stepBytes,
    totalBytes: weightBytes + kvCacheBytes + optimizerBytes + stepBytes,
  };
}

/** An 8 GB card with ~1.5 GB left to the browser and the page: what a training step may use by default. */
export const DEFAULT_TRAINING_MEMORY_BYTES = 6.5e9;

/** Recompute when the stored activations would take the budget past `limitBytes`. */
export function needsRecompute(revision: Revision, shape: Omit<TrainingShape, 'recompute'>, limitBytes = DEFAULT_TRAINING_MEMORY_BYTES): boolean {
  return trainingBudget(revision, { ...shape, recompute: false }).totalBytes > limitBytes;
}

export function formatTrainingBudget(name: string, budget: TrainingBudget, limitBytes = DEFAULT_TRAINING_MEMORY_BYTES): string {
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  return (
    `${name} training memory: weights ${gib(budget.weightBytes)} + KV cache ${gib(budget.kvCacheBytes)} + parameters, gradients and AdamW ${gib(budget.optimizerBytes + budget.gradientBytes)}` +
    ` + activations ${gib(budget.storedActivationBytes)} + transients ${gib(budget.transientBytes)} = ${gib(budget.totalBytes)}` +
    `: ${budget.totalBytes <= limitBytes ? 'fits' : 'does NOT fit'} ${gib(limitBytes)} (an 8 GB GPU less room for the browser)`
  );
}
