// Differentiable wrappers of the engine ops. Each takes `tape` first (null = inference: nothing
// recorded, nothing saved) and plain tensors, runs the forward op, and, when an input requires
// a gradient, records the backward: which tensors it saves and which gradients it hands back.
// Gradients are computed only for inputs that require them (frozen weights get none).
import type { Engine } from './engine.ts';
import type { Tape } from './autograd.ts';
import { copyColumns } from './autograd-kernels.ts';
import type { LoraAdapter } from './lora.ts';
import { attention as attentionOp, attentionBackward, type AttentionMask } from './ops/attention.ts';
import { crossEntropy as crossEntropyOp } from './ops/cross-entropy.ts';
import { add as addOp, copy, sumToRow } from './ops/elementwise.ts';
import { embedding as embeddingOp, embeddingBackward } from './ops/embedding.ts';
import { gelu as geluOp, geluBackward } from './ops/gelu.ts';
import { layerNorm as layerNormOp, layerNormBackward } from './ops/layer-norm.ts';
import { matmul } from './ops/matmul.ts';
import { linear as linearOp, linearBackward, type LinearWeight } from './ops/matmul-linear.ts';
import { rotary, rotaryBackward } from './ops/rotary.ts';
import type { Tensor } from './tensor.ts';

/**
 * y = x·Wᵀ + b (+ LoRA: scale·(x·Aᵀ)·Bᵀ), x [T, in], W [out, in] f32 or packed f16, whole or in
 * row chunks (weights over the per-binding limit, see matmul-linear.ts).
 */
export function linear(engine: Engine, tape: Tape | null, x: Tensor, weight: LinearWeight, bias?: Tensor, lora?: LoraAdapter): Tensor {
  const y = linearOp(engine, x, weight, bias);
  let hidden: Tensor | undefined;
  if (lora) {
    // h = x·Aᵀ [T, r]; y += scale·h·Bᵀ.
    hidden = matmul(engine, x, lora.a, { transposeB: true });
    matmul(engine, hidden, lora.b, { transposeB: true, alpha: lora.scale, accumulateInto: y });
  }
  const chunks: readonly Tensor[] = Array.isArray(weight) ? weight : [weight as Tensor];
  const recorded = tape?.record([x, ...chunks, bias, lora?.a, lora?.b], [y], ([gradY]) => {
    const g = gradY!;
    // dH = scale·g·B [T, r], shared by dX and dA.
    const gradHidden = lora && (tape.requiresGrad(x) || tape.requiresGrad(lora.a)) ? matmul(engine, g, lora.b, { alpha: lora.scale }) : undefined;
    const weightGradient = chunks.some((chunk) => tape.requiresGrad(chunk));
    if (tape.requiresGrad(x) || weightGradient) {
      const grads = linearBackward(engine, g, x, weight, { weightGradient });
      if (lora && tape.requiresGrad(x)) matmul(engine, gradHidden!, lora.a, { accumulateInto: grads.gradX });
      tape.accumulate(x, grads.gradX);
      const gradWeights = grads.gradWeight === undefined ? [] : Array.isArray(grads.gradWeight) ? grads.gradWeight : [grads.gradWeight];
      gradWeights.forEach((grad, i) => tape.accumulate(chunks[i], grad));
    }
    if (bias && tape.requiresGrad(bias)) tape.accumulate(bias, sumToRow(engine, g));
    // dB = scale·gᵀ·h [out, r]; dA = dHᵀ·x [r, in].
    if (lora && tape.requiresGrad(lora.b)) tape.accumulate(lora.b, matmul(engine, g, hidden!, { transposeA: true, alpha: lora.scale }));
    if (lora && tape.requiresGrad(lora.a)) tape.accumulate(lora.a, matmul(engine, gradHidden!, x, { transposeA: true }));
    gradHidden?.dispose();
  });
  if (recorded) {
    tape!.save(x);
    if (hidden) tape!.save(hidden);
  }
  if (hidden) tape ? tape.release(hidden) : hidden.dispose();
  return y;
}

/** LayerNorm over the last dimension with affine weight and bias (f32). */
export function layerNorm(engine: Engine, tape: Tape | null, x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  const { output, mean, rstd } = layerNormOp(engine, x, weight, bias, eps);
  const recorded = tape?.record([x, weight, bias], [output], ([gradY]) => {
    const grads = layerNormBackward(engine, gradY!, x, weight, mean, rstd);
    tape.accumulate(x, grads.gradX);
    tape.accumulate(weight, grads.gradWeight);
    tape.accumulate(bias, grads.gradBias);
  });
  if (recorded) {
    for (const tensor of [x, mean, rstd]) tape!.save(tensor);
    tape!.release(mean);
    tape!.release(rstd);
  } else {
    mean.dispose();
    rstd.dispose();
  }
  return output;
}

/** GELU, tanh approximation (spec §6.1). */
export function gelu(engine: Engine, tape: Tape | null, x: Tensor): Tensor {
  const y = geluOp(engine, x);
  if (tape?.record([x], [y], ([gradY]) => tape.accumulate(x, geluBackward(engine, gradY!, x)))) tape.save(x);
  return y;
}

/** a + b (same shape). */
export function add(engine: Engine, tape: Tape | null, a: Tensor, b: Tensor): Tensor {
  const y = addOp(engine, a, b);
  tape?.record([a, b], [y], ([gradY]) => {
    if (tape.requiresGrad(a)) tape.accumulate(a, copy(engine, gradY!));
    if (tape.requiresGrad(b)) tape.accumulate(b, copy(engine, gradY!));
  });
  return y;
}

/** Rows of table [V, D] picked by ids [T] (i32): token embeddings, or gathering rows of a tensor. */
export function embedding(engine: Engine, tape: Tape | null, table: Tensor, ids: Tensor): Tensor {
  const y = embeddingOp(engine, table, ids);
  tape?.record([table], [y], ([gradY]) => {
    // embeddingBackward starts from engine.zeros(), whose clearBuffer is recorded on the command
    // encoder and is invalid while a compute pass is open: flush first so none is.
    engine.flush();
    tape.accumulate(table, embeddingBackward(engine, gradY!, ids, table.shape[0]));
  });
  return y;
}

export interface SelfAttentionOptions {
  heads: number;
  headDim: number;
  rotaryDim: number;
  mask: AttentionMask;
  /** Absolute position of row 0 (spec §6.2 RoPE positions); default 0. */
  positionOffset?: number;
}

/** A KV cache slot for one layer: K (after RoPE) and V rows [maxContext, dim]. */
export interface LayerCache {
  keys: Tensor;
  values: Tensor;
}

/**
 * Multi-head self-attention on a fused qkv [T, 3·dim] (spec §6.1): RoPE on Q and K (§6.2),
 * masked softmax(Q·Kᵀ/√headDim)·V. Returns the concatenated heads [T, dim].
 * With a cache (inference only), the new K/V rows are written at positionOffset and the queries
 * attend to every cached row up to positionOffset + T.
 */
export function selfAttention(engine: Engine, tape: Tape | null, qkv: Tensor, options: SelfAttentionOptions, cache?: LayerCache): Tensor {
  const { heads, headDim, rotaryDim, mask, positionOffset = 0 } = options;
  const dim = heads * headDim;
  const rows = qkv.shape[0];
  const rope = { heads, headDim, rotaryDim, positionOffset };
  const q = rotary(engine, { tensor: qkv, columnOffset: 0 }, rope);
  const k = rotary(engine, { tensor: qkv, columnOffset: dim }, rope);
  const attentionOptions = { heads, headDim, mask, queryOffset: positionOffset, kvLength: positionOffset + rows };
  if (cache) {
    if (tape) throw new Error('selfAttention: a KV cache is for inference; run training forwards without one.');
    engine.copy(k, cache.keys, k.byteLength, 0, positionOffset * dim * 4);
    copyColumns(engine, { tensor: qkv, column: 2 * dim }, { tensor: cache.values, column: 0, row: positionOffset }, dim);
    const { out, logsumexp } = attentionOp(engine, q, cache.keys, cache.values, attentionOptions);
    q.dispose();
    k.dispose();
    logsumexp.dispose();
    return out;
  }
  const v = { tensor: qkv, columnOffset: 2 * dim };
  const { out, logsumexp } = attentionOp(engine, q, k, v, attentionOptions);
  const recorded = tape?.record([qkv], [out], ([gradOut]) => {
    const grads = attentionBackward(engine, gradOut!, q, k, v, out, logsumexp, attentionOptions);
    const gradQkv = engine.empty([rows, 3 * dim], 'f32', 'selfAttention.gradQkv');
    const gradQ = rotaryBackward(engine, grads.gradQ, rope);
    const gradK = rotaryBackward(engine, grads.gradK, rope);
    copyColumns(engine, { tensor: gradQ, column: 0 }, { tensor: gradQkv, column: 0 }, dim);
    copyColumns(engine, { tensor: gradK, column: 0 }, { tensor: gradQkv, column: dim }, dim);
    copyColumns(engine, { tensor: grads.gradV, column: 0 }, { tensor: gradQkv, column: 2 * dim }, dim);
    for (const tensor of [grads.gradQ, grads.gradK, grads.gradV, gradQ, gradK]) tensor.dispose();
    tape.accumulate(qkv, gradQkv);
  });
  if (recorded) {
    for (const tensor of [qkv, q, k, out, logsumexp]) tape!.save(tensor);
    for (const tensor of [q, k, logsumexp]) tape!.release(tensor);
  } else {
    q.dispose();
    k.dispose();
    logsumexp.dispose();
  }
  return out;
}

/**
 * Mean cross-entropy of logits [T, V] against targets [T] (i32, −100 = unlabelled). The
 * returned loss [1] must be the root of tape.backward(): its fused gradient assumes dLoss = 1.
 */
export function crossEntropy(engine: Engine, tape: Tape | null, logits: Tensor, targets: Tensor): Tensor {
  const { loss, gradLogits } = crossEntropyOp(engine, logits, targets);
  const recorded = tape?.record([logits], [loss], () => {
    if (!tape.isRoot(loss)) throw new Error('crossEntropy: the loss must be what tape.backward() starts from.');
    tape.accumulate(logits, gradLogits);
  });
  if (recorded) {
    tape!.save(gradLogits);
    tape!.release(gradLogits);
  } else {
    gradLogits.dispose();
  }
  return loss;
}
