// The vision encoder on the GPU (spec §4.3, §5): a SigLIP-shaped ViT run over every crop of an
// image in one batch, then (vision-projection.ts) stitching, pooling and the projection MLP.
//
// Layout: the residual stream x is [crops, tokens, enc_dim], crop-major. LayerNorm, the Linear
// layers and GELU act on all crops·tokens rows at once; attention runs per crop (no mask, spec
// §5), each crop's qkv computed from its block of rows and its output projected straight back
// into that block of x. Residual adds are matmuls that accumulate into x (c += a·Wᵀ + b).
import type { Engine } from '../gpu/engine.ts';
import { attention, splitQkv } from '../gpu/ops/attention.ts';
import { gelu } from '../gpu/ops/gelu.ts';
import { layerNorm } from '../gpu/ops/layer-norm.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from './config.ts';
import { cropGeometryOf, prepareCrops, type Tiling } from './image-crops.ts';
import { cropsToPatches } from './image-patches.ts';
import type { RgbImage } from './rgb-image.ts';
import { projectImageFeatures } from './vision-projection.ts';
import type { ModelWeights } from './weights.ts';
import { linearForward } from './weights-linear.ts';

/**
 * Sees intermediate tensors under the fixture's golden names ('vision_embed',
 * 'vision_block{i}_out', 'vision_crop_features', 'vision_stitched', 'vision_pooled',
 * 'image_embeddings'). Tensors that are updated in place later (the residual stream) must be
 * copied inside the hook; copies recorded there see the values of that moment.
 */
export type VisionTrace = (name: string, tensor: Tensor) => void;

/** ViT over patches [crops, tokens, patchDim] → features [crops, tokens, enc_dim] after post_ln. */
export function visionEncoder(engine: Engine, weights: ModelWeights, patches: Tensor, trace?: VisionTrace): Tensor {
  const { vision } = weights.revision.config;
  const { imageTokens: tokens, patchDim, visionHeadDim } = deriveDimensions(weights.revision.config);
  const width = vision.enc_dim;
  if (patches.dtype !== 'f32' || patches.shape.length !== 3 || patches.shape[1] !== tokens || patches.shape[2] !== patchDim) {
    throw new Error(`visionEncoder: expected f32 patches [crops, ${tokens}, ${patchDim}], got ${patches}`);
  }
  const crops = patches.shape[0];
  const x = engine.empty([crops, tokens, width], 'f32', 'vision.x');

  // x = patches·patch_embᵀ + b + pos_emb (spec §5): pos_emb is copied into every crop first and
  // the patch embedding accumulates onto it.
  const posEmb = weights.get('model.vision.pos_emb');
  for (let crop = 0; crop < crops; crop++) engine.copy(posEmb, x, posEmb.byteLength, 0, crop * posEmb.byteLength);
  linearForward(engine, patches, weights, 'model.vision.patch_emb', { into: x, accumulate: true });
  trace?.('vision_embed', x);

  for (let i = 0; i < vision.enc_n_layers; i++) {
    const block = `model.vision.blocks.${i}`;
    engine.scope(() => {
      // x = x + Attn(LN(x; ln1))
      const attentionInput = layerNorm(engine, x, weights.get(`${block}.ln1.weight`), weights.get(`${block}.ln1.bias`)).output;
      for (let crop = 0; crop < crops; crop++) {
        const qkv = linearForward(engine, attentionInput, weights, `${block}.attn.qkv`, { inputRowStart: crop * tokens, rows: tokens });
        const { q, k, v } = splitQkv(qkv, width);
        const { out } = attention(engine, q, k, v, { heads: vision.enc_n_heads, headDim: visionHeadDim, mask: 'none' });
        linearForward(engine, out, weights, `${block}.attn.proj`, { into: x, outputRowStart: crop * tokens, accumulate: true });
      }
      // x = x + MLP(LN(x; ln2)), MLP = fc2(gelu_tanh(fc1(·)))
      const mlpInput = layerNorm(engine, x, weights.get(`${block}.ln2.weight`), weights.get(`${block}.ln2.bias`)).output;
      const hidden = gelu(engine, linearForward(engine, mlpInput, weights, `${block}.mlp.fc1`));
      linearForward(engine, hidden, weights, `${block}.mlp.fc2`, { into: x, accumulate: true });
    });
    trace?.(`vision_block${i}_out`, x);
  }

  const features = engine.scope(() => layerNorm(engine, x, weights.get('model.vision.post_ln.weight'), weights.get('model.vision.post_ln.bias')).output);
  x.dispose();
  trace?.('vision_crop_features', features);
  return features;
}

export interface ImageEmbeddingsResult {
  /** [imageTokens, text dim]: the image's tokens for the text decoder (spec §4.6). */
  readonly embeddings: Tensor;
  readonly tiling: Tiling;
  readonly crops: number;
}

/**
 * ViT patches [crops, tokens, patchDim] (crop 0 global, then tiles row-major) → image embeddings:
 * encoder, [global ‖ stitched-and-pooled local] (or global alone for single-crop revisions),
 * projection MLP.
 */
export function embedPatches(engine: Engine, weights: ModelWeights, patches: Tensor, tiling: Tiling, trace?: VisionTrace): Tensor {
  return engine.scope(() => {
    const features = visionEncoder(engine, weights, patches, trace);
    return projectImageFeatures(engine, weights, features, tiling, trace);
  });
}

/** An RGB image → its image embeddings: crops (spec §4.1), patches (§4.2), then embedPatches. */
export function imageEmbeddings(engine: Engine, weights: ModelWeights, image: RgbImage, trace?: VisionTrace): ImageEmbeddingsResult {
  const { revision } = weights;
  const { vision } = revision.config;
  const { imageTokens, patchDim } = deriveDimensions(revision.config);
  const crops = prepareCrops(image, revision.cropMode, cropGeometryOf(vision));
  // spec §4.2: the bf16 release normalises pixels in bf16 arithmetic; matching it keeps our input
  // identical to upstream's for that checkpoint (f32 checkpoints, like the fixture, use f32).
  const patches = cropsToPatches(crops, vision.enc_patch_size, revision.weights?.dtype === 'BF16' ? 'bf16' : 'f32');
  const embeddings = engine.scope(() =>
    embedPatches(engine, weights, engine.upload(patches, [crops.count, imageTokens, patchDim], 'f32', 'vision.patches'), crops.tiling, trace),
  );
  return { embeddings, tiling: crops.tiling, crops: crops.count };
}
