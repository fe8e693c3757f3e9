// The two composite differentiable ops, whose backward spans several kernels: a Linear layer
// with its optional LoRA update, residual and GELU, and multi-head self-attention on a fused qkv
// (partial rotary, masks, a batch of sequences). Single-kernel ops declare their backward in
// their own file (ops/*.ts); model code reaches all of them through model/layers.ts.
import { apply, type DifferentiableOp, type Tape } from './autograd.ts';
import type { Engine } from './engine.ts';
import type { LoraAdapter } from './lora.ts';
import { attention, attentionBackward, type AttentionMask } from './ops/attention.ts';
import { copyColumns } from './ops/copy.ts';
import { copy, sumToRow } from './ops/elementwise.ts';
import { geluBackward } from './ops/gelu.ts';
import { matmul } from './ops/matmul.ts';
import { linear as linearForward, linearBackward, linearOutputShape, type LinearWeight } from './ops/matmul-linear.ts';
import { rotary, rotaryBackward } from './ops/rotary.ts';
import type { Tensor } from './tensor.ts';

/** linearOp's arguments: LoRA's scale, and whether GELU follows (an MLP's fc1) and its input is kept for the backward. */
export interface LinearArgs {
  loraScale: number;
  gelu?: { keepPreActivation: boolean };
}

/**
 * y = residual + x·Wᵀ + b + scale·(x·Aᵀ)·Bᵀ, or gelu of it (applied by the last matmul as it
 * stores, so no elementwise pass). Inputs [x, residual, bias, loraA, loraB, ...W's row chunks]
 * (absent ones undefined). The backward reads x, the LoRA hidden h = x·Aᵀ and, with GELU, the
 * value before it (intermediates); the weights are alive anyway (frozen or trained).
 */
export const linearOp: DifferentiableOp<LinearArgs> = {
  name: 'linear',
  saves: { inputs: [0] },
  forward(engine, [x, residual, bias, loraA, loraB, ...chunks], { loraScale, gelu }) {
    const preActivation = gelu?.keepPreActivation ? engine.empty(linearOutputShape(x!, chunks as Tensor[]), 'f32', 'linear.preActivation') : undefined;
    const epilogue = gelu ? { preActivation } : undefined;
    const lora = loraA && loraB;
    const y = linearForward(engine, x!, chunks as Tensor[], bias, residual, lora ? undefined : epilogue);
    const kept = preActivation ? [preActivation] : [];
    if (!lora) return { output: y, intermediates: kept };
    const hidden = matmul(engine, x!, loraA, { transposeB: true });
    matmul(engine, hidden, loraB, { transposeB: true, alpha: loraScale, accumulateInto: y, gelu: epilogue });
    return { output: y, intermediates: [hidden, ...kept] };
  },
  backward(engine, gradOutput, { inputs: [x, , bias, loraA, loraB, ...chunks], intermediates, args: { loraScale, gelu }, needsGradient }) {
    const [needX, needResidual, needBias, needA, needB] = needsGradient;
    const needWeights = needsGradient.slice(5).some(Boolean);
    const hidden = loraA ? intermediates[0] : undefined;
    // Through GELU first: g = gradOutput · gelu'(pre-activation).
    const gradY = gelu ? geluBackward(engine, gradOutput, intermediates.at(-1)!) : gradOutput;
    // dH = scale·g·B [T, r], shared by dX and dA.
    const gradHidden = loraA && (needX || needA) ? matmul(engine, gradY, loraB!, { alpha: loraScale }) : undefined;
    let gradX: Tensor | undefined;
    let gradWeights: Tensor[] = [];
    if (needX || needWeights) {
      // linearBackward always computes gradX; it is dropped when only the weights train.
      const grads = linearBackward(engine, gradY, x!, chunks as Tensor[], { weightGradient: needWeights });
      if (needX) {
        gradX = grads.gradX;
        if (gradHidden) matmul(engine, gradHidden, loraA!, { accumulateInto: gradX });
      } else {
        grads.gradX.dispose();
      }
      gradWeights = (grads.gradWeight as Tensor[] | undefined) ?? [];
    }
    const grads = [
      gradX,
      needResidual ? copy(engine, gradY) : undefined,
      bias && needBias ? sumToRow(engine, gradY) : undefined,
      // dA = dHᵀ·x [r, in]; dB = scale·gᵀ·h [out, r].
      needA ? matmul(engine, gradHidden!, x!, { transposeA: true }) : undefined,
      needB ? matmul(engine, gradY, hidden!, { transposeA: true, alpha: loraScale }) : undefined,
      ...gradWeights,
    ];
    gradHidden?.dispose();
    if (gradY !== gradOutput) gradY.dispose();
    return grads;
  },
};

/** Linear through linearOp: y = x·Wᵀ + b (+ residual) (+ LoRA), or gelu of it with `gelu`. */
export function linear(
  engine: Engine,
  tape: Tape | null,
  x: Tensor,
  weight: LinearWeight,
  bias?: Tensor,
  options: { lora?: LoraAdapter; residual?: Tensor; gelu?: boolean } = {},
): Tensor {
  const { lora, residual } = options;
  const chunks: readonly Tensor[] = Array.isArray(weight) ? weight : [weight as Tensor];
  const inputs = [x, residual, bias, lora?.a, lora?.b, ...chunks];
  // The value before GELU is kept only when the tape will run this op's backward.
  const gelu = options.gelu ? { keepPreActivation: tape !== null && inputs.some((input) => tape.requiresGrad(input)) } : undefined;
  return apply(engine, tape, linearOp, inputs, { loraScale: lora?.scale ?? 0, ...(gelu ? { gelu } : {}) });
}

export interface SelfAttentionOptions {
  heads: number;
  headDim: number;
  /** Rotated dims per head (spec §6.2); 0 = no rotary embedding (the vision encoder, spec §5). */
  rotaryDim: number;
  mask: AttentionMask;
  /** Absolute position of row 0 (spec §6.2 RoPE positions); default 0. */
  positionOffset?: number;
  /** Independent sequences of equal length stacked by rows (the crops of an image); default 1. */
  sequences?: number;
}

/** A KV cache slot for one layer: K (after RoPE) and V rows [maxContext, dim]. */
export interface LayerCache {
  keys: Tensor;
  values: Tensor;
}

/** The rotary options of a self-attention over `rows` rows (every sequence starts at positionOffset). */
function ropeOptions(options: SelfAttentionOptions, rows: number) {
  const { heads, headDim, rotaryDim, positionOffset = 0, sequences = 1 } = options;
  return { heads, headDim, rotaryDim, positionOffset, sequenceRows: rows / sequences };
}

function queryAndKey(engine: Engine, qkv: Tensor, options: SelfAttentionOptions): { q: Tensor; k: Tensor } {
  const dim = options.heads * options.headDim;
  const rope = ropeOptions(options, qkv.shape[0]);
  return { q: rotary(engine, { tensor: qkv, columnOffset: 0 }, rope), k: rotary(engine, { tensor: qkv, columnOffset: dim }, rope) };
}

function attentionOptions(options: SelfAttentionOptions, rows: number) {
  const { heads, headDim, mask, positionOffset = 0, sequences = 1 } = options;
  return { heads, headDim, mask, queryOffset: positionOffset, kvLength: positionOffset + rows / sequences, sequences };
}

/**
 * Multi-head self-attention on a fused qkv [T, 3·dim] (spec §6.1): RoPE on Q and K (§6.2) unless
 * rotaryDim is 0, masked softmax(Q·Kᵀ/√headDim)·V. Output: the concatenated heads [T, dim].
 * Inputs [qkv]; the backward reads qkv (for V), the rotated Q and K and the row logsumexp.
 */
export const selfAttentionOp: DifferentiableOp<SelfAttentionOptions> = {
  name: 'selfAttention',
  saves: { inputs: [0], output: true },
  forward(engine, [qkv], options) {
    const dim = options.heads * options.headDim;
    const rows = qkv!.shape[0];
    const v = { tensor: qkv!, columnOffset: 2 * dim };
    if (options.rotaryDim === 0) {
      const { out, logsumexp } = attention(engine, { tensor: qkv!, columnOffset: 0 }, { tensor: qkv!, columnOffset: dim }, v, attentionOptions(options, rows));
      return { output: out, intermediates: [logsumexp] };
    }
    const { q, k } = queryAndKey(engine, qkv!, options);
    const { out, logsumexp } = attention(engine, q, k, v, attentionOptions(options, rows));
    return { output: out, intermediates: [logsumexp, q, k] };
  },
  backward(engine, gradOut, { inputs: [qkv], output, intermediates: [logsumexp, rotatedQ, rotatedK], args: options }) {
    const { heads, headDim, rotaryDim } = options;
    const dim = heads * headDim;
    const rows = qkv!.shape[0];
    const q = rotatedQ ?? { tensor: qkv!, columnOffset: 0 };
    const k = rotatedK ?? { tensor: qkv!, columnOffset: dim };
    const grads = attentionBackward(engine, gradOut, q, k, { tensor: qkv!, columnOffset: 2 * dim }, output, logsumexp, attentionOptions(options, rows));
    const rope = ropeOptions(options, rows);
    const gradQ = rotaryDim === 0 ? grads.gradQ : rotaryBackward(engine, grads.gradQ, rope);
    const gradK = rotaryDim === 0 ? grads.gradK : rotaryBackward(engine, grads.gradK, rope);
    const gradQkv = engine.empty([rows, 3 * dim], 'f32', 'selfAttention.gradQkv');
    copyColumns(engine, { tensor: gradQ, column: 0 }, { tensor: gradQkv, column: 0 }, dim);
    copyColumns(engine, { tensor: gradK, column: 0 }, { tensor: gradQkv, column: dim }, dim);
    copyColumns(engine, { tensor: grads.gradV, column: 0 }, { tensor: gradQkv, column: 2 * dim }, dim);
    for (const tensor of new Set([grads.gradQ, grads.gradK, grads.gradV, gradQ, gradK])) tensor.dispose();
    return [gradQkv];
  },
};

/** Self-attention through selfAttentionOp. */
export function selfAttention(engine: Engine, tape: Tape | null, qkv: Tensor, options: SelfAttentionOptions): Tensor {
  return apply(engine, tape, selfAttentionOp, [qkv], options);
}

/**
 * Where a batch's new rows go in a cache of several sequences (each sequence owns `keyRows` rows
 * of K and V): computed once per forward and shared by every layer.
 */
export interface CachePlacement {
  /** u32 [sequences]: each sequence's length before these rows (its first new position). */
  offsets: Tensor;
  /** u32 [rows]: each new row's position, offsets[s] + i (its rotary angle). */
  positions: Tensor;
  /** u32 [rows]: each new row's row in K and V, s·keyRows + offsets[s] + i. */
  rowMap: Tensor;
}

/**
 * Inference against a KV cache: the new rows' K (after RoPE) and V go into the cache at their
 * positions, and the queries attend to every cached row of their sequence up to their own. One
 * sequence: at positionOffset. Several (options.sequences, equal rows each): where `placement`
 * says, each at its own length.
 */
export function cachedSelfAttention(engine: Engine, qkv: Tensor, options: SelfAttentionOptions, cache: LayerCache, placement?: CachePlacement): Tensor {
  const dim = options.heads * options.headDim;
  const rows = qkv.shape[0];
  if (placement) {
    const { heads, headDim, rotaryDim, mask, sequences = 1 } = options;
    const rope = { heads, headDim, rotaryDim, positions: placement.positions };
    const q = rotary(engine, { tensor: qkv, columnOffset: 0 }, rope);
    const k = rotary(engine, { tensor: qkv, columnOffset: dim }, rope);
    copyColumns(engine, { tensor: k, column: 0 }, { tensor: cache.keys, column: 0, rowMap: placement.rowMap }, dim);
    copyColumns(engine, { tensor: qkv, column: 2 * dim }, { tensor: cache.values, column: 0, rowMap: placement.rowMap }, dim);
    const { out, logsumexp } = attention(engine, q, cache.keys, cache.values, { heads, headDim, mask, sequences, sequenceOffsets: placement.offsets });
    for (const tensor of [q, k, logsumexp]) tensor.dispose();
    return out;
  }
  const positionOffset = options.positionOffset ?? 0;
  const { q, k } = queryAndKey(engine, qkv, options);
  engine.copy(k, cache.keys, k.byteLength, 0, positionOffset * dim * 4);
  copyColumns(engine, { tensor: qkv, column: 2 * dim }, { tensor: cache.values, column: 0, row: positionOffset }, dim);
  const { out, logsumexp } = attention(engine, q, cache.keys, cache.values, attentionOptions({ ...options, sequences: 1 }, rows));
  for (const tensor of [q, k, logsumexp]) tensor.dispose();
  return out;
}
