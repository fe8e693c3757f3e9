// The layer library both towers are written in (as upstream moondream/torch/layers.py): plain
// functions over typed weights, each taking a Tape while training and null at inference. The
// vision encoder, the projection and the text decoder call only these.
//
// Lifetime: a layer releases what it made on the way (release(): freed at once at inference,
// kept until backward when the tape saved it); its caller owns the returned tensor.
import { apply, release, type Tape } from '../gpu/autograd.ts';
import { cachedSelfAttention, linear as linearLayer, selfAttention, type CachePlacement, type LayerCache, type SelfAttentionOptions } from '../gpu/autograd-ops.ts';
import type { Engine } from '../gpu/engine.ts';
import type { LoraAdapter } from '../gpu/lora.ts';
import { crossEntropyOp } from '../gpu/ops/cross-entropy.ts';
import { addOp } from '../gpu/ops/elementwise.ts';
import { embeddingOp } from '../gpu/ops/embedding.ts';
import { layerNormOp } from '../gpu/ops/layer-norm.ts';
import type { LinearWeight } from '../gpu/ops/matmul-linear.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { SplitWeight } from './weights.ts';

/** A matrix held whole, or split into row blocks (over the device's binding size). Both carry the whole shape and dtype. */
export type Matrix = Tensor | SplitWeight;

export function isSplit(matrix: Matrix): matrix is SplitWeight {
  return 'parts' in matrix;
}

/** The weight as the Linear op takes it: the tensor, or its row blocks in order. */
export function linearWeightOf(matrix: Matrix): LinearWeight {
  return isSplit(matrix) ? matrix.parts.map((part) => part.tensor) : matrix;
}

export interface LinearWeights {
  /** [out, in], f32 or packed f16, whole or split by rows. */
  weight: Matrix;
  /** [out], f32. */
  bias: Tensor;
}

export interface LayerNormWeights {
  weight: Tensor;
  bias: Tensor;
}

/** spec §6.1 / §5: qkv (fused, [3·dim, dim]) and the output projection. */
export interface AttentionWeights {
  qkv: LinearWeights;
  proj: LinearWeights;
}

/** fc2(gelu_tanh(fc1(x))). */
export interface MlpWeights {
  fc1: LinearWeights;
  fc2: LinearWeights;
}

/** x·Wᵀ + b, plus the residual (added in the matmul) and the LoRA update when given; gelu of it with `gelu`. */
export function linear(engine: Engine, tape: Tape | null, x: Tensor, layer: LinearWeights, options: { lora?: LoraAdapter; residual?: Tensor; gelu?: boolean } = {}): Tensor {
  return linearLayer(engine, tape, x, linearWeightOf(layer.weight), layer.bias, options);
}

/** LayerNorm over the last dimension (eps 1e-5, spec §5–§6). */
export function layerNorm(engine: Engine, tape: Tape | null, x: Tensor, norm: LayerNormWeights, eps = 1e-5): Tensor {
  return apply(engine, tape, layerNormOp, [x, norm.weight, norm.bias], { eps });
}

/** a + b (b of a's shape, or broadcast over a's rows). */
export function add(engine: Engine, tape: Tape | null, a: Tensor, b: Tensor): Tensor {
  return apply(engine, tape, addOp, [a, b]);
}

/** Rows of table [V, D] picked by ids [T] (i32): token embeddings, or rows gathered from any matrix. */
export function gather(engine: Engine, tape: Tape | null, table: Tensor, ids: Tensor): Tensor {
  return apply(engine, tape, embeddingOp, [table, ids]);
}

/**
 * Cross-entropy of logits [T, V] against targets [T] (i32, −100 = unlabelled): the mean over
 * labelled rows, or the sum weighted by rowWeights [T]. Must be the tape's root.
 */
export function crossEntropy(engine: Engine, tape: Tape | null, logits: Tensor, targets: Tensor, rowWeights?: Tensor): Tensor {
  return apply(engine, tape, crossEntropyOp, [logits, targets, rowWeights]);
}

/** fc2(gelu_tanh(fc1(x))) (+ residual). */
export function mlp(
  engine: Engine,
  tape: Tape | null,
  x: Tensor,
  weights: MlpWeights,
  options: { lora?: { fc1?: LoraAdapter; fc2?: LoraAdapter }; residual?: Tensor } = {},
): Tensor {
  // GELU rides on fc1's matmul (its epilogue): no elementwise pass, no buffer for fc1's raw output at inference.
  const activated = linear(engine, tape, x, weights.fc1, { lora: options.lora?.fc1, gelu: true });
  const out = linear(engine, tape, activated, weights.fc2, { lora: options.lora?.fc2, residual: options.residual });
  release(tape, activated);
  return out;
}

export interface AttentionLayerOptions extends SelfAttentionOptions {
  lora?: { qkv?: LoraAdapter; proj?: LoraAdapter };
  residual?: Tensor;
  /** Inference only: write K/V at positionOffset (one sequence) or where `placement` says (several) and attend to the cache. */
  cache?: LayerCache;
  placement?: CachePlacement;
}

/** proj(selfAttention(qkv(x))) (+ residual): multi-head attention on x [T, dim] (spec §5, §6.1). */
export function attention(engine: Engine, tape: Tape | null, x: Tensor, weights: AttentionWeights, options: AttentionLayerOptions): Tensor {
  const { lora, residual, cache, placement, ...attentionOptions } = options;
  const qkv = linear(engine, tape, x, weights.qkv, { lora: lora?.qkv });
  let attended: Tensor;
  if (cache) {
    if (tape) throw new Error('attention: a KV cache is for inference; run training forwards without one.');
    attended = cachedSelfAttention(engine, qkv, attentionOptions, cache, placement);
  } else {
    attended = selfAttention(engine, tape, qkv, attentionOptions);
  }
  const out = linear(engine, tape, attended, weights.proj, { lora: lora?.proj, residual });
  release(tape, qkv, attended);
  return out;
}
