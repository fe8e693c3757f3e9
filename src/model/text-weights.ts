// The text decoder's tensors (spec §3.1, §6), picked by canonical name from the uploaded weights.
// Matrices may be f32 or packed f16 (frozen inference); LayerNorm parameters and biases are f32.
// A matrix over the device's storage binding size arrives split by rows (weights.ts SplitWeight):
// at full size wte and lm_head [51200, 2048] are 200 MB in f16, past the 128 MiB some devices
// allow. Split matrices serve inference and LoRA training; full fine-tuning needs whole tensors.
import type { Tensor } from '../gpu/tensor.ts';
import type { MoondreamConfig } from './config.ts';
import { isSplit, type AttentionWeights, type LayerNormWeights, type LinearWeights, type Matrix, type MlpWeights } from './layers.ts';
import { weightPicker } from './weight-picker.ts';

export interface TextBlockWeights {
  ln: LayerNormWeights;
  attn: AttentionWeights;
  mlp: MlpWeights;
}

export interface TextWeights {
  /** [vocab, dim] token embeddings, whole or split by rows (token ids). */
  wte: Matrix;
  blocks: TextBlockWeights[];
  postLn: LayerNormWeights;
  lmHead: LinearWeights;
}

/**
 * The decoder's tensors from a map keyed by canonical name (`model.text.blocks.0.ln.weight`; the
 * `model.` prefix may be absent), e.g. ModelWeights.byName(). Only matrices may be split.
 */
export function textWeightsFrom(map: ReadonlyMap<string, Matrix>, config: MoondreamConfig): TextWeights {
  const { text } = config;
  const { matrix, linear, layerNorm } = weightPicker(map, 'text decoder');
  const blocks: TextBlockWeights[] = [];
  for (let i = 0; i < text.n_layers; i++) {
    const block = `model.text.blocks.${i}`;
    blocks.push({
      ln: layerNorm(`${block}.ln`, text.dim),
      attn: { qkv: linear(`${block}.attn.qkv`, 3 * text.dim, text.dim), proj: linear(`${block}.attn.proj`, text.dim, text.dim) },
      mlp: { fc1: linear(`${block}.mlp.fc1`, text.ff_dim, text.dim), fc2: linear(`${block}.mlp.fc2`, text.dim, text.ff_dim) },
    });
  }
  return {
    wte: matrix('model.text.wte', [text.vocab_size, text.dim]),
    blocks,
    postLn: layerNorm('model.text.post_ln', text.dim),
    lmHead: linear('model.text.lm_head', text.vocab_size, text.dim),
  };
}

/**
 * Every text parameter with its canonical name, in spec §3.1 order (for full fine-tuning, which
 * trains each as one tensor: a split matrix is an error that says what to do instead).
 */
export function namedTextParameters(weights: TextWeights): [string, Tensor][] {
  const whole = (name: string, value: Matrix): Tensor => {
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
    pair(`${name}.attn.qkv`, block.attn.qkv);
    pair(`${name}.attn.proj`, block.attn.proj);
    pair(`${name}.mlp.fc1`, block.mlp.fc1);
    pair(`${name}.mlp.fc2`, block.mlp.fc2);
  });
  pair('model.text.post_ln', weights.postLn);
  pair('model.text.lm_head', weights.lmHead);
  return out;
}
