// The text decoder's tensors (spec §3.1, §6), picked by canonical name from the uploaded weights.
// Matrices may be f32 or packed f16 (frozen inference); LayerNorm parameters and biases are f32.
// A matrix over the device's storage binding size arrives split by rows (weights.ts SplitWeight):
// at full size wte and lm_head [51200, 2048] are 200 MB in f16, past the 128 MiB some devices
// allow. Split matrices serve inference and LoRA training; full fine-tuning needs whole tensors.
import type { LinearWeight } from '../gpu/ops/matmul-linear.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { MoondreamConfig } from './config.ts';
import type { SplitWeight } from './weights.ts';

/** A matrix held whole, or split into row blocks. Both carry the whole shape and the dtype. */
export type TextMatrix = Tensor | SplitWeight;

export function isSplit(matrix: TextMatrix): matrix is SplitWeight {
  return 'parts' in matrix;
}

/** A Linear weight as matmul-linear.ts's linear() takes it: the tensor, or its row blocks in order. */
export function linearWeightOf(matrix: TextMatrix): LinearWeight {
  return isSplit(matrix) ? matrix.parts.map((part) => part.tensor) : matrix;
}

export interface LinearWeights {
  /** [out, in], f32 or packed f16, whole or split by rows. */
  weight: TextMatrix;
  /** [out], f32. */
  bias: Tensor;
}

export interface LayerNormWeights {
  weight: Tensor;
  bias: Tensor;
}

export interface TextBlockWeights {
  ln: LayerNormWeights;
  qkv: LinearWeights;
  proj: LinearWeights;
  fc1: LinearWeights;
  fc2: LinearWeights;
}

export interface TextWeights {
  /** [vocab, dim] token embeddings, whole or split by rows (token ids). */
  wte: TextMatrix;
  blocks: TextBlockWeights[];
  postLn: LayerNormWeights;
  lmHead: LinearWeights;
}

/**
 * The decoder's tensors from a map keyed by canonical name (`model.text.blocks.0.ln.weight`; the
 * `model.` prefix may be absent), e.g. ModelWeights.byName(). Only matrices may be split.
 */
export function textWeightsFrom(map: ReadonlyMap<string, TextMatrix>, config: MoondreamConfig): TextWeights {
  const { text } = config;
  const matrix = (name: string, shape: readonly number[]): TextMatrix => {
    const found = map.get(name) ?? map.get(name.replace(/^model\./, ''));
    if (!found) throw new Error(`The weights have no tensor '${name}'; is this a Moondream2 text model of the configured size?`);
    if (found.shape.length !== shape.length || found.shape.some((dim, i) => dim !== shape[i])) {
      throw new Error(`Weight '${name}' has shape [${found.shape.join(', ')}], the config expects [${shape.join(', ')}]; check the revision and config.`);
    }
    return found;
  };
  const get = (name: string, shape: readonly number[]): Tensor => {
    const found = matrix(name, shape);
    // Vectors are a few KB; only a device with an absurdly small binding limit would split them.
    if (isSplit(found)) throw new Error(`Weight '${name}' is split into ${found.parts.length} row blocks, but the text decoder needs it whole; use a GPU with a larger maxStorageBufferBindingSize.`);
    return found;
  };
  const linear = (name: string, outputs: number, inputs: number): LinearWeights => ({
    weight: matrix(`${name}.weight`, [outputs, inputs]),
    bias: get(`${name}.bias`, [outputs]),
  });
  const layerNorm = (name: string): LayerNormWeights => ({ weight: get(`${name}.weight`, [text.dim]), bias: get(`${name}.bias`, [text.dim]) });
  const blocks: TextBlockWeights[] = [];
  for (let i = 0; i < text.n_layers; i++) {
    const block = `model.text.blocks.${i}`;
    blocks.push({
      ln: layerNorm(`${block}.ln`),
      qkv: linear(`${block}.attn.qkv`, 3 * text.dim, text.dim),
      proj: linear(`${block}.attn.proj`, text.dim, text.dim),
      fc1: linear(`${block}.mlp.fc1`, text.ff_dim, text.dim),
      fc2: linear(`${block}.mlp.fc2`, text.dim, text.ff_dim),
    });
  }
  return {
    wte: matrix('model.text.wte', [text.vocab_size, text.dim]),
    blocks,
    postLn: layerNorm('model.text.post_ln'),
    lmHead: linear('model.text.lm_head', text.vocab_size, text.dim),
  };
}

/**
 * Every text parameter with its canonical name, in spec §3.1 order (for full fine-tuning, which
 * trains each as one tensor: a split matrix is an error that says what to do instead).
 */
export function namedTextParameters(weights: TextWeights): [string, Tensor][] {
  const whole = (name: string, value: TextMatrix): Tensor => {
    if (!isSplit(value)) return value;
    throw new Error(
      `Full fine-tuning trains every text weight as one tensor, but ${name} is split into ${value.parts.length} row blocks because it exceeds this GPU's storage binding size. ` +
        'Train LoRA adapters instead, or use a GPU with a larger maxStorageBufferBindingSize.',
    );
  };
  const out: [string, Tensor][] = [['model.text.wte', whole('model.text.wte', weights.wte)]];
  const pair = (name: string, layer: LinearWeights | LayerNormWeights) => {
    out.push([`${name}.weight`, whole(`${name}.weight`, layer.weight)], [`${name}.bias`, layer.bias]);
  };
  weights.blocks.forEach((block, i) => {
    const name = `model.text.blocks.${i}`;
    pair(`${name}.ln`, block.ln);
    pair(`${name}.attn.qkv`, block.qkv);
    pair(`${name}.attn.proj`, block.proj);
    pair(`${name}.mlp.fc1`, block.fc1);
    pair(`${name}.mlp.fc2`, block.fc2);
  });
  pair('model.text.post_ln', weights.postLn);
  pair('model.text.lm_head', weights.lmHead);
  return out;
}
