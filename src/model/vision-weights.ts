// The vision encoder's and projection's tensors (spec §3.1, §4.6, §5), picked by canonical name
// from the uploaded weights and checked against the config's shapes.
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from './config.ts';
import { isSplit, type AttentionWeights, type LayerNormWeights, type LinearWeights, type Matrix, type MlpWeights } from './layers.ts';
import type { Revision } from './revisions.ts';
import { weightPicker } from './weight-picker.ts';

export interface VisionBlockWeights {
  ln1: LayerNormWeights;
  attn: AttentionWeights;
  ln2: LayerNormWeights;
  mlp: MlpWeights;
}

export interface VisionWeights {
  /** [enc_dim, patchDim]: the patch embedding, a Linear over flattened patches. */
  patchEmb: LinearWeights;
  /** [1, imageTokens, enc_dim], added to every crop. */
  posEmb: Tensor;
  blocks: VisionBlockWeights[];
  postLn: LayerNormWeights;
  /** proj_mlp: fc1 [proj_inner_dim, projectionInputDim], fc2 [proj_out_dim, proj_inner_dim] (spec §4.6). */
  projMlp: MlpWeights;
}

/** The vision tensors from a map keyed by canonical name (ModelWeights.byName()). */
export function visionWeightsFrom(map: ReadonlyMap<string, Matrix>, revision: Revision): VisionWeights {
  const { vision } = revision.config;
  const { patchDim, imageTokens } = deriveDimensions(revision.config);
  const { whole, linear, layerNorm } = weightPicker(map, 'vision encoder');
  const width = vision.enc_dim;
  const blocks: VisionBlockWeights[] = [];
  for (let i = 0; i < vision.enc_n_layers; i++) {
    const block = `model.vision.blocks.${i}`;
    blocks.push({
      ln1: layerNorm(`${block}.ln1`, width),
      attn: { qkv: linear(`${block}.attn.qkv`, 3 * width, width), proj: linear(`${block}.attn.proj`, width, width) },
      ln2: layerNorm(`${block}.ln2`, width),
      mlp: { fc1: linear(`${block}.mlp.fc1`, vision.enc_ff_dim, width), fc2: linear(`${block}.mlp.fc2`, width, vision.enc_ff_dim) },
    });
  }
  return {
    patchEmb: linear('model.vision.patch_emb', width, patchDim),
    posEmb: whole('model.vision.pos_emb', [1, imageTokens, width]),
    blocks,
    postLn: layerNorm('model.vision.post_ln', width),
    projMlp: {
      fc1: linear('model.vision.proj_mlp.fc1', vision.proj_inner_dim, revision.projectionInputDim),
      fc2: linear('model.vision.proj_mlp.fc2', vision.proj_out_dim, vision.proj_inner_dim),
    },
  };
}

/**
 * Every vision and projection parameter with its canonical name, in spec §3.1 order (training
 * the vision tower trains each as one f32 tensor; a split or packed one is an error that says why).
 */
export function namedVisionParameters(weights: VisionWeights): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  const add = (name: string, tensor: Matrix) => {
    if (isSplit(tensor)) throw new Error(`Training the vision encoder needs ${name} as one tensor, but it is split into ${tensor.parts.length} row blocks; use a GPU with a larger maxStorageBufferBindingSize.`);
    out.push([name, tensor]);
  };
  const pair = (name: string, layer: LinearWeights | LayerNormWeights) => {
    add(`${name}.weight`, layer.weight);
    add(`${name}.bias`, layer.bias);
  };
  pair('model.vision.patch_emb', weights.patchEmb);
  add('model.vision.pos_emb', weights.posEmb);
  weights.blocks.forEach((block, i) => {
    const name = `model.vision.blocks.${i}`;
    pair(`${name}.ln1`, block.ln1);
    pair(`${name}.attn.qkv`, block.attn.qkv);
    pair(`${name}.attn.proj`, block.attn.proj);
    pair(`${name}.ln2`, block.ln2);
    pair(`${name}.mlp.fc1`, block.mlp.fc1);
    pair(`${name}.mlp.fc2`, block.mlp.fc2);
  });
  pair('model.vision.post_ln', weights.postLn);
  pair('model.vision.proj_mlp.fc1', weights.projMlp.fc1);
  pair('model.vision.proj_mlp.fc2', weights.projMlp.fc2);
  return out;
}
