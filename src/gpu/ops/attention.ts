// Fused multi-head attention: softmax(scale · Q Kᵀ + mask) V per head, flash-attention style
// (online softmax, no T×T buffer), with a backward pass that recomputes the scores from the
// saved row logsumexp. Used by the vision encoder (mask 'none', spec §5) and the text decoder
// (causal or prefix-bidirectional, spec §6.1 and §7), for prefill and for decode against a
// KV cache (Tq = 1, queryOffset = position of the new token).
//
// Inputs: Q [Tq, heads·headDim] and K, V [≥kvLength, heads·headDim] as separate tensors, or as
// column views of one fused qkv buffer (splitQkv) so that the output of the qkv matmul is read
// in place without copies. Outputs are always dense: out [Tq, heads·headDim] (heads concatenated,
// ready for the output projection), logsumexp [heads, Tq], and the gradients gradQ [Tq, ·],
// gradK and gradV [kvLength, ·].
//
// A batch of independent sequences of equal length (`sequences` > 1: the crops of an image in
// the vision encoder, padded text sequences in training) stacks them by rows: Q, out and gradQ
// hold sequences·Tq rows, K, V, gradK and gradV sequences·Tk, logsumexp [heads, sequences·Tq];
// sequence s attends only to its own keys (one more grid dimension, no mask memory).
import type { Engine } from '../engine.ts';
import type { Tensor } from '../tensor.ts';
import type { AttentionMask } from './attention.reference.ts';
import { attentionDecodeWgsl } from './attention-decode.wgsl.ts';
import {
  ATTENTION_ROWS_PER_WORKGROUP,
  attentionForwardWgsl,
  attentionGradKeyValueWgsl,
  attentionGradQueryWgsl,
} from './attention.wgsl.ts';

export type { AttentionMask } from './attention.reference.ts';
export { attentionAllowed, attentionBackwardReference, attentionReference } from './attention.reference.ts';

/** Columns [columnOffset, columnOffset + heads·headDim) of every row of a 2-D f32 tensor. */
export interface ColumnView {
  tensor: Tensor;
  columnOffset: number;
}

export type AttentionOperand = Tensor | ColumnView;

/**
 * Up to this many query rows, the forward pass uses the decode kernel (a workgroup per query row
 * and head, keys split across its invocations); beyond, one invocation per query row.
 */
export const DECODE_MAX_QUERIES = 8;

export interface AttentionOptions {
  heads: number;
  headDim: number;
  mask: AttentionMask;
  /** Score scale; default 1/√headDim. */
  scale?: number;
  /** Key/value rows in use (a KV cache may hold more); default: all rows of K. */
  kvLength?: number;
  /** Absolute position of query row 0 (decode: the new token's position); default 0. */
  queryOffset?: number;
  /** Independent sequences stacked by rows in Q and in K/V; default 1. */
  sequences?: number;
  /**
   * Inference against per-sequence caches: u32 [sequences], sequence s's query rows sit at
   * positions offsets[s] + i and attend to its first offsets[s] + Tq key rows (queryOffset and
   * kvLength are then unused). The caller keeps offsets[s] + Tq within each sequence's K rows.
   */
  sequenceOffsets?: Tensor;
}

/** Q, K and V as views of a fused [T, 3·dim] qkv tensor (spec §6.1: Q, K, V column blocks in that order). */
export function splitQkv(qkv: Tensor, dim: number): { q: ColumnView; k: ColumnView; v: ColumnView } {
  if (qkv.shape.length !== 2 || qkv.shape[1] !== 3 * dim) {
    throw new Error(`splitQkv: expected a [T, ${3 * dim}] qkv tensor, got ${qkv}`);
  }
  return { q: { tensor: qkv, columnOffset: 0 }, k: { tensor: qkv, columnOffset: dim }, v: { tensor: qkv, columnOffset: 2 * dim } };
}

/** Forward: out [Tq, heads·headDim] and logsumexp [heads, Tq] (keep it for attentionBackward). */
export function attention(
  engine: Engine,
  q: AttentionOperand,
  k: AttentionOperand,
  v: AttentionOperand,
  options: AttentionOptions,
): { out: Tensor; logsumexp: Tensor } {
  const plan = planAttention(q, k, v, options);
  const out = engine.empty([plan.queryRows, plan.width], 'f32', 'attention.out');
  const logsumexp = engine.empty([options.heads, plan.queryRows], 'f32', 'attention.logsumexp');
  const decode = plan.queryCount <= DECODE_MAX_QUERIES;
  const offsets = options.sequenceOffsets;
  if (offsets && (offsets.dtype !== 'u32' || offsets.size !== plan.sequences)) {
    throw new Error(`attention: sequenceOffsets must be u32 [${plan.sequences}] (one per sequence), got ${offsets}`);
  }
  const perSequence = offsets !== undefined;
  engine.dispatch(
    engine.pipeline(decode ? attentionDecodeWgsl(options.headDim, perSequence) : attentionForwardWgsl(options.headDim, perSequence)),
    offsets ? [plan.q.tensor, plan.k.tensor, plan.v.tensor, out, logsumexp, offsets] : [plan.q.tensor, plan.k.tensor, plan.v.tensor, out, logsumexp],
    [decode ? plan.queryCount : Math.ceil(plan.queryCount / ATTENTION_ROWS_PER_WORKGROUP), options.heads, plan.sequences],
    { params: plan.params, label: decode ? 'attention.decode' : 'attention' },
  );
  return { out, logsumexp };
}

/** Backward: gradients of the loss with respect to Q, K and V, given dLoss/dOut. */
export function attentionBackward(
  engine: Engine,
  gradOut: Tensor,
  q: AttentionOperand,
  k: AttentionOperand,
  v: AttentionOperand,
  out: Tensor,
  logsumexp: Tensor,
  options: AttentionOptions,
): { gradQ: Tensor; gradK: Tensor; gradV: Tensor } {
  const plan = planAttention(q, k, v, options);
  const dense = [plan.queryRows, plan.width];
  for (const [name, tensor] of [['gradOut', gradOut], ['out', out]] as const) {
    if (tensor.dtype !== 'f32' || !sameShape(tensor.shape, dense)) {
      throw new Error(`attentionBackward: ${name} must be f32 [${dense.join(', ')}], got ${tensor}`);
    }
  }
  if (logsumexp.dtype !== 'f32' || !sameShape(logsumexp.shape, [options.heads, plan.queryRows])) {
    throw new Error(`attentionBackward: logsumexp must be the f32 [${options.heads}, ${plan.queryRows}] tensor attention() returned, got ${logsumexp}`);
  }
  if (plan.sequences > 1 && plan.keyCount !== plan.keySequenceRows) {
    throw new Error('attentionBackward: a batch of sequences needs kvLength equal to the rows of each sequence (gradK and gradV cover every key row).');
  }
  const gradQ = engine.empty(dense, 'f32', 'attention.gradQ');
  const gradK = engine.empty([plan.sequences * plan.keyCount, plan.width], 'f32', 'attention.gradK');
  const gradV = engine.empty([plan.sequences * plan.keyCount, plan.width], 'f32', 'attention.gradV');
  const rowDot = engine.empty([options.heads, plan.queryRows], 'f32', 'attention.rowDot');
  // Pass 1 writes rowDot (Σ dO·O per row), which pass 2 reads: same encoder, so in order.
  engine.dispatch(
    engine.pipeline(attentionGradQueryWgsl(options.headDim)),
    [plan.q.tensor, plan.k.tensor, plan.v.tensor, out, gradOut, logsumexp, gradQ, rowDot],
    [Math.ceil(plan.queryCount / ATTENTION_ROWS_PER_WORKGROUP), options.heads, plan.sequences],
    { params: plan.params, label: 'attention.gradQ' },
  );
  engine.dispatch(
    engine.pipeline(attentionGradKeyValueWgsl(options.headDim)),
    [plan.q.tensor, plan.k.tensor, plan.v.tensor, gradOut, logsumexp, rowDot, gradK, gradV],
    [Math.ceil(plan.keyCount / ATTENTION_ROWS_PER_WORKGROUP), options.heads, plan.sequences],
    { params: plan.params, label: 'attention.gradKV' },
  );
  rowDot.dispose();
  return { gradQ, gradK, gradV };
}

interface AttentionPlan {
  q: ColumnView;
  k: ColumnView;
  v: ColumnView;
  /** Query rows per sequence. */
  queryCount: number;
  /** Keys each sequence attends over (kvLength). */
  keyCount: number;
  /** Rows of Q (all sequences). */
  queryRows: number;
  sequences: number;
  /** Rows of K and V per sequence. */
  keySequenceRows: number;
  width: number;
  params: ArrayBuffer;
}

const MASK_MODE = { none: 0, causal: 1, prefix: 2 } as const;

function planAttention(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, options: AttentionOptions): AttentionPlan {
  const { heads, headDim, mask } = options;
  if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(headDim) || headDim < 4 || headDim % 4 !== 0) {
    throw new Error(`attention: heads must be a positive integer and headDim a multiple of 4 (the kernels move vec4s), got ${heads} and ${headDim}`);
  }
  const width = heads * headDim;
  const queryView = asView(q, width, 'q');
  const keyView = asView(k, width, 'k');
  const valueView = asView(v, width, 'v');
  const sequences = options.sequences ?? 1;
  const queryRows = queryView.tensor.shape[0];
  const allKeyRows = keyView.tensor.shape[0];
  if (!Number.isInteger(sequences) || sequences < 1 || queryRows % sequences !== 0 || allKeyRows % sequences !== 0) {
    throw new Error(`attention: ${sequences} sequences must divide the rows of Q (${queryRows}) and of K (${allKeyRows})`);
  }
  if (valueView.tensor.shape[0] !== allKeyRows) {
    throw new Error(`attention: K and V must have the same number of rows, got ${keyView.tensor} and ${valueView.tensor}`);
  }
  const keyRows = allKeyRows / sequences;
  const keyCount = options.kvLength ?? keyRows;
  if (!Number.isInteger(keyCount) || keyCount < 1 || keyCount > keyRows) {
    throw new Error(`attention: kvLength ${options.kvLength} must be an integer in [1, ${keyRows}] (the rows of K and V per sequence)`);
  }
  const queryCount = queryRows / sequences;
  if (queryCount < 1) throw new Error('attention: Q has no rows');
  const queryOffset = options.queryOffset ?? 0;
  if (!Number.isInteger(queryOffset) || queryOffset < 0) {
    throw new Error(`attention: queryOffset must be a non-negative integer, got ${queryOffset}`);
  }
  const prefix = typeof mask === 'object' ? mask.prefix : 0;
  if (typeof mask === 'object' && (!Number.isInteger(prefix) || prefix < 0)) {
    throw new Error(`attention: mask prefix must be a non-negative integer, got ${prefix}`);
  }
  const scale = options.scale ?? 1 / Math.sqrt(headDim);

  const params = new ArrayBuffer(64);
  const words = new Uint32Array(params);
  words.set([queryCount, keyCount, queryOffset, typeof mask === 'object' ? MASK_MODE.prefix : MASK_MODE[mask], prefix]);
  new Float32Array(params, 20, 1)[0] = scale;
  words.set([heads, ...strideAndOffset(queryView), ...strideAndOffset(keyView), ...strideAndOffset(valueView), sequences, keyRows], 6);
  return { q: queryView, k: keyView, v: valueView, queryCount, keyCount, queryRows, sequences, keySequenceRows: keyRows, width, params };
}

function asView(operand: AttentionOperand, width: number, name: string): ColumnView {
  const view = 'tensor' in operand ? operand : { tensor: operand, columnOffset: 0 };
  const { tensor, columnOffset } = view;
  if (tensor.dtype !== 'f32' || tensor.shape.length !== 2) {
    throw new Error(`attention: ${name} must be a 2-D f32 tensor, got ${tensor}`);
  }
  if (tensor.shape[1] % 4 !== 0 || columnOffset % 4 !== 0) {
    throw new Error(`attention: ${name} needs a row length and column offset that are multiples of 4 (vec4 loads), got ${tensor} at column ${columnOffset}`);
  }
  if (!Number.isInteger(columnOffset) || columnOffset < 0 || columnOffset + width > tensor.shape[1]) {
    throw new Error(
      `attention: ${name} columns [${columnOffset}, ${columnOffset + width}) do not fit ${tensor} (heads·headDim = ${width})`,
    );
  }
  return view;
}

/** Row stride and column offset in vec4s. */
function strideAndOffset(view: ColumnView): [number, number] {
  return [view.tensor.shape[1] / 4, view.columnOffset / 4];
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((dim, i) => dim === b[i]);
}
