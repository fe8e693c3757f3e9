// CPU reference of the text decoder (spec §6–§7): Phi-style parallel blocks with one shared
// LayerNorm, partial rotary embedding, a KV cache, the prefix or causal mask, and the LM head.
import { deriveDimensions } from '../config.ts';
import type { Revision } from '../revisions.ts';
import { addInPlace, attention, layerNorm, linear, mlp, splitColumns, type Matrix } from './layers.ts';
import type { ReferenceWeights } from './weights.ts';

const ROPE_THETA = 10000; // spec §2.1

/** Rotates the first `rotaryDim` dims of every head in place, pairs (x_j, x_{j+rotaryDim/2}) (spec §6.2). */
export function applyRotary(x: Matrix, rows: number, heads: number, headDim: number, rotaryDim: number, firstPosition: number): void {
  const half = rotaryDim / 2;
  for (let r = 0; r < rows; r++) {
    const position = firstPosition + r;
    for (let j = 0; j < half; j++) {
      const angle = position * ROPE_THETA ** (-(2 * j) / rotaryDim);
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = r * heads * headDim + h * headDim;
        const a = x[base + j];
        const b = x[base + j + half];
        x[base + j] = a * cos - b * sin;
        x[base + j + half] = a * sin + b * cos;
      }
    }
  }
}

/** Called with the residual stream of the rows just fed, after each block. */
export type TextTraceHook = (block: number, hidden: Matrix) => void;

/** The decoder with its KV cache; feed rows in position order. */
export class TextDecoderReference {
  private readonly keys: Float64Array[] = [];
  private readonly values: Float64Array[] = [];
  private length = 0;
  private readonly dim: number;
  private readonly heads: number;
  private readonly headDim: number;
  private readonly rotaryDim: number;

  constructor(private readonly revision: Revision, private readonly weights: ReferenceWeights) {
    const { text } = revision.config;
    if (text.n_kv_heads !== text.n_heads) throw new Error('The CPU reference supports n_kv_heads = n_heads only (every Moondream2 release).');
    this.dim = text.dim;
    this.heads = text.n_heads;
    ({ textHeadDim: this.headDim, rotaryDim: this.rotaryDim } = deriveDimensions(revision.config));
    // The cache grows with the sequence: a full-size max_context cache would be 1.5 GB of float64.
    for (let i = 0; i < text.n_layers; i++) {
      this.keys.push(new Float64Array(0));
      this.values.push(new Float64Array(0));
    }
  }

  private ensureCapacity(positions: number): void {
    if (this.keys[0].length >= positions * this.dim) return;
    const capacity = Math.min(Math.max(positions, 2 * this.keys[0].length / this.dim, 64), this.revision.config.text.max_context);
    const grow = (old: Float64Array) => {
      const next = new Float64Array(capacity * this.dim);
      next.set(old);
      return next;
    };
    for (let i = 0; i < this.keys.length; i++) {
      this.keys[i] = grow(this.keys[i]);
      this.values[i] = grow(this.values[i]);
    }
  }

  /** Positions filled so far (the next row's position). */
  get position(): number {
    return this.length;
  }

  /** Input embeddings of token ids: rows of wte (spec §6.1). */
  embed(ids: readonly number[]): Matrix {
    const wte = this.weights.get('model.text.wte');
    const out = new Float64Array(ids.length * this.dim);
    ids.forEach((id, row) => {
      if (id < 0 || id >= this.revision.config.text.vocab_size) throw new Error(`Token id ${id} is outside the vocabulary.`);
      for (let i = 0; i < this.dim; i++) out[row * this.dim + i] = wte[id * this.dim + i];
    });
    return out;
  }

  /** Runs `rows` embeddings at the next positions; returns the final hidden states (before post_ln). */
  forward(embeddings: Matrix, trace?: TextTraceHook): Matrix {
    const { text } = this.revision.config;
    const rows = embeddings.length / this.dim;
    const start = this.length;
    if (start + rows > text.max_context) throw new Error(`Sequence of ${start + rows} positions exceeds max_context ${text.max_context}.`);
    const prefix = text.prefix_attn;
    const prefixMask = this.revision.maskMode === 'prefix';
    // spec §7: BOS + image attend bidirectionally among themselves; everything else is causal.
    const allowed = (row: number, key: number) => {
      const i = start + row;
      return key <= i || (prefixMask && i < prefix && key < prefix);
    };
    this.ensureCapacity(start + rows);
    const x = embeddings.slice();
    for (let layer = 0; layer < text.n_layers; layer++) {
      const block = `model.text.blocks.${layer}`;
      const a = layerNorm(x, rows, this.dim, this.weights.layerNorm(`${block}.ln`));
      const [q, k, v] = splitColumns(linear(a, rows, this.dim, this.weights.linear(`${block}.attn.qkv`)), rows, this.dim, 3);
      applyRotary(q, rows, this.heads, this.headDim, this.rotaryDim, start);
      applyRotary(k, rows, this.heads, this.headDim, this.rotaryDim, start);
      this.keys[layer].set(k, start * this.dim);
      this.values[layer].set(v, start * this.dim);
      // Keys exist for positions < start + rows only: a prefix row sees later prefix rows just when
      // they are fed in the same call, which is how the BOS + image prefix is always fed (spec §8.1).
      const keyRows = start + rows;
      const attended = attention(q, this.keys[layer].subarray(0, keyRows * this.dim), this.values[layer].subarray(0, keyRows * this.dim), rows, keyRows, this.heads, this.headDim, allowed);
      const attnOut = linear(attended, rows, this.dim, this.weights.linear(`${block}.attn.proj`));
      const mlpOut = mlp(a, rows, this.dim, this.weights.linear(`${block}.mlp.fc1`), this.weights.linear(`${block}.mlp.fc2`));
      addInPlace(addInPlace(x, attnOut), mlpOut);
      trace?.(layer, x);
    }
    this.length += rows;
    return x;
  }

  /** lm_head(post_ln(hidden)) for each row (spec §6.3). */
  logits(hidden: Matrix): Matrix {
    const rows = hidden.length / this.dim;
    const normed = layerNorm(hidden, rows, this.dim, this.weights.layerNorm('model.text.post_ln'));
    return linear(normed, rows, this.dim, this.weights.linear('model.text.lm_head'));
  }

  /** Forgets everything after `position` (reuse the image prefix for another prompt). */
  truncate(position: number): void {
    if (position < 0 || position > this.length) throw new Error(`Cannot truncate to ${position}: ${this.length} positions are filled.`);
    this.length = position;
  }
}
