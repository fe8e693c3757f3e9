// CPU reference of the vision side (spec §4–§5): ViT over every crop, stitching and pooling of the
// local tiles, projection to text space.
import { deriveDimensions } from '../config.ts';
import { adaptiveAvgPool, stitchFeatures, stitchPlan } from '../crop-stitching.ts';
import { cropGeometryOf, prepareCrops, type Tiling } from '../image-crops.ts';
import { cropsToPatches } from '../image-patches.ts';
import type { Revision } from '../revisions.ts';
import type { RgbImage } from '../rgb-image.ts';
import { addInPlace, attention, layerNorm, linear, mlp, splitColumns, type Matrix } from './layers.ts';
import type { ReferenceWeights } from './weights.ts';

/** Called with the residual stream of one crop: stage 'embed' (before block 0) or 'block' i. */
export type VisionTraceHook = (crop: number, stage: 'embed' | 'block', block: number, x: Matrix) => void;

/** ViT over one crop's patches [tokens, patchDim] → features [tokens, enc_dim] after post_ln (spec §5). */
export function visionEncoderCrop(patches: Float64Array, revision: Revision, weights: ReferenceWeights, trace?: (stage: 'embed' | 'block', block: number, x: Matrix) => void): Matrix {
  const { vision } = revision.config;
  const { imageTokens: tokens, patchDim, visionHeadDim } = deriveDimensions(revision.config);
  const width = vision.enc_dim;
  const x = linear(patches, tokens, patchDim, weights.linear('model.vision.patch_emb'));
  addInPlace(x, Float64Array.from(weights.get('model.vision.pos_emb')));
  trace?.('embed', -1, x);
  for (let i = 0; i < vision.enc_n_layers; i++) {
    const block = `model.vision.blocks.${i}`;
    const qkv = linear(layerNorm(x, tokens, width, weights.layerNorm(`${block}.ln1`)), tokens, width, weights.linear(`${block}.attn.qkv`));
    const [q, k, v] = splitColumns(qkv, tokens, width, 3);
    const attended = attention(q, k, v, tokens, tokens, vision.enc_n_heads, visionHeadDim, () => true);
    addInPlace(x, linear(attended, tokens, width, weights.linear(`${block}.attn.proj`)));
    addInPlace(x, mlp(layerNorm(x, tokens, width, weights.layerNorm(`${block}.ln2`)), tokens, width, weights.linear(`${block}.mlp.fc1`), weights.linear(`${block}.mlp.fc2`)));
    trace?.('block', i, x);
  }
  return layerNorm(x, tokens, width, weights.layerNorm('model.vision.post_ln'));
}

/**
 * Crop features [crops, tokens, enc_dim] (crop 0 global) → projection input [tokens, projectionInputDim]:
 * [global ‖ pooled local] for overlap crops (spec §4.4–§4.6), the lone crop's features for 'single'.
 */
export function projectionInput(features: Matrix, crops: number, tiling: Tiling, revision: Revision): Matrix {
  const { vision } = revision.config;
  const { visionGrid: grid, imageTokens: tokens } = deriveDimensions(revision.config);
  const width = vision.enc_dim;
  if (revision.projectionInputDim === width) return features.slice(0, tokens * width);
  if (crops !== 1 + tiling[0] * tiling[1]) throw new Error(`Expected ${1 + tiling[0] * tiling[1]} crops for tiling ${tiling.join('×')}, got ${crops}.`);
  const plan = stitchPlan(tiling, grid, vision.overlap_margin);
  const stitched = stitchFeatures(features.subarray(tokens * width), plan, grid, width);
  const pooled = adaptiveAvgPool(stitched, plan.rows, plan.cols, width, grid);
  const out = new Float64Array(tokens * 2 * width);
  for (let t = 0; t < tokens; t++) {
    out.set(features.subarray(t * width, (t + 1) * width), t * 2 * width);
    out.set(pooled.subarray(t * width, (t + 1) * width), t * 2 * width + width);
  }
  return out;
}

/** proj_mlp: fc2(gelu_tanh(fc1(x))) → image embeddings [tokens, text dim] (spec §4.6). */
export function projectToText(input: Matrix, revision: Revision, weights: ReferenceWeights): Matrix {
  const { imageTokens } = deriveDimensions(revision.config);
  return mlp(input, imageTokens, revision.projectionInputDim, weights.linear('model.vision.proj_mlp.fc1'), weights.linear('model.vision.proj_mlp.fc2'));
}

export interface EncodedImageReference {
  readonly tiling: Tiling;
  readonly cropFeatures: Matrix;
  readonly projectionInput: Matrix;
  /** [imageTokens, text dim] */
  readonly embeddings: Matrix;
}

/** Image → image embeddings, the whole vision side on the CPU. */
export function encodeImageReference(image: RgbImage, revision: Revision, weights: ReferenceWeights, trace?: VisionTraceHook): EncodedImageReference {
  const { vision } = revision.config;
  const { imageTokens, patchDim } = deriveDimensions(revision.config);
  const crops = prepareCrops(image, revision.cropMode, cropGeometryOf(vision));
  const patches = cropsToPatches(crops, vision.enc_patch_size);
  const cropFeatures = new Float64Array(crops.count * imageTokens * vision.enc_dim);
  for (let n = 0; n < crops.count; n++) {
    const cropPatches = Float64Array.from(patches.subarray(n * imageTokens * patchDim, (n + 1) * imageTokens * patchDim));
    const features = visionEncoderCrop(cropPatches, revision, weights, trace && ((stage, block, x) => trace(n, stage, block, x)));
    cropFeatures.set(features, n * imageTokens * vision.enc_dim);
  }
  const input = projectionInput(cropFeatures, crops.count, crops.tiling, revision);
  return { tiling: crops.tiling, cropFeatures, projectionInput: input, embeddings: projectToText(input, revision, weights) };
}
