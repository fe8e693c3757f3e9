// The text decoder's tensors (spec §3.1, §6), picked by canonical name from the uploaded weights.
// Matrices may be f32 or packed f16 (frozen inference); LayerNorm parameters and biases are f32.
import type { Tensor } from '../gpu/tensor.ts';
import type { MoondreamConfig } from './config.ts';

export interface LinearWeights {
  /** [out, in], f32 or packed f16. */
  weight: Tensor;
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
  /** [vocab, dim] token embeddings. */
  wte: Tensor;
  blocks: TextBlockWeights[];
  postLn: LayerNormWeights;
  lmHead: LinearWeights;
}

/** The decoder's tensors from a map keyed by canonical name (`model.text.blocks.0.ln.weight`; the `model.` prefix may be absent). */
export function textWeightsFrom(map: ReadonlyMap<string, Tensor>, config: MoondreamConfig): TextWeights {
  const { text } = config;
  const get = (name: string, shape: readonly number[]): Tensor => {
    const tensor = map.get(name) ?? map.get(name.replace(/^model\./, ''));
    if (!tensor) throw new Error(`The weights have no tensor '${name}'; is this a Moondream2 text model of the configured size?`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((dim, i) => dim !== shape[i])) {
      throw new Error(`Weight '${name}' has shape [${tensor.shape.join(', ')}], the config expects [${shape.join(', ')}]; check the revision and config.`);
    }
    return tensor;
  };
  const linear = (name: string, outputs: number, inputs: number): LinearWeights => ({
    weight: get(`${name}.weight`, [outputs, inputs]),
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
    wte: get('model.text.wte', [text.vocab_size, text.dim]),
    blocks,
    postLn: layerNorm('model.text.post_ln'),
    lmHead: linear('model.text.lm_head', text.vocab_size, text.dim),
  };
}

/** Every text parameter with its canonical name, in spec §3.1 order (for full fine-tuning). */
export function namedTextParameters(weights: TextWeights): [string, Tensor][] {
  const out: [string, Tensor][] = [['model.text.wte', weights.wte]];
  const pair = (name: string, layer: LinearWeights | LayerNormWeights) => {
    out.push([`${name}.weight`, layer.weight], [`${name}.bias`, layer.bias]);
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
