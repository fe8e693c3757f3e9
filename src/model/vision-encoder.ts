// The vision encoder on the GPU (spec §4.3, §5): a SigLIP-shaped ViT run over every crop of an
// image at once, then (vision-projection.ts) stitching, pooling and the projection MLP. Written
// in the layer library, so it trains like the text decoder when given a tape.
//
// Layout: the residual stream x is [crops·tokens, enc_dim], crop-major. LayerNorm, the Linear
// layers and GELU act on every row at once; attention is one batched dispatch in which each crop
// attends only to its own tokens (no mask, spec §5). The residual adds ride on the attention
// output projection and fc2. Crops are encoded in groups small enough that no activation passes
// the device's storage binding limit.
import { apply, release, type Tape } from '../gpu/autograd.ts';
import type { Engine } from '../gpu/engine.ts';
import { concatRowsOp, sliceRowsOp } from '../gpu/ops/copy.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from './config.ts';
import { cropGeometryOf, prepareCrops, type Tiling } from './image-crops.ts';
import { cropsToPatches } from './image-patches.ts';
import { add, attention, layerNorm, linear, mlp } from './layers.ts';
import type { Revision } from './revisions.ts';
import type { RgbImage } from './rgb-image.ts';
import { projectImageFeatures } from './vision-projection.ts';
import type { VisionWeights } from './vision-weights.ts';

/**
 * Sees intermediate tensors under the fixture's golden names and shapes ('vision_embed',
 * 'vision_block{i}_out' [crops, tokens, enc_dim], 'vision_crop_features', 'vision_stitched'
 * [rows, cols, enc_dim], 'vision_pooled', 'image_embeddings'). The tensors are views valid only
 * during the call: copy what you keep.
 */
export type VisionTrace = (name: string, tensor: Tensor) => void;

/** The vision tower of a loaded model: its typed weights and the revision that shapes them. */
export interface VisionModel {
  readonly revision: Revision;
  readonly weights: VisionWeights;
}

/** Shows `tensor` to the trace under the golden's shape (a view: no copy). */
export function traceAs(engine: Engine, trace: VisionTrace | undefined, name: string, tensor: Tensor, shape: readonly number[]): void {
  trace?.(name, engine.view(tensor, shape));
}

/** ViT over the patches of `crops` crops [crops·tokens, patchDim] → their features after post_ln. */
function encodeCrops(engine: Engine, tape: Tape | null, model: VisionModel, patches: Tensor, crops: number, trace?: VisionTrace): Tensor {
  const { vision } = model.revision.config;
  const { imageTokens: tokens, visionHeadDim } = deriveDimensions(model.revision.config);
  const { weights } = model;
  const width = vision.enc_dim;
  const traced = (name: string, tensor: Tensor) => traceAs(engine, trace, name, tensor, [crops, tokens, width]);

  // x = patches·patch_embᵀ + b + pos_emb (spec §5), pos_emb broadcast over the crops.
  const embedded = linear(engine, tape, patches, weights.patchEmb);
  let x = add(engine, tape, embedded, weights.posEmb);
  release(tape, embedded);
  traced('vision_embed', x);
  const attentionOptions = { heads: vision.enc_n_heads, headDim: visionHeadDim, rotaryDim: 0, mask: 'none' as const, sequences: crops };
  weights.blocks.forEach((block, i) => {
    // x = x + Attn(LN(x; ln1)); x = x + MLP(LN(x; ln2)), MLP = fc2(gelu_tanh(fc1(·)))
    const attentionInput = layerNorm(engine, tape, x, block.ln1);
    const withAttention = attention(engine, tape, attentionInput, block.attn, { ...attentionOptions, residual: x });
    const mlpInput = layerNorm(engine, tape, withAttention, block.ln2);
    const next = mlp(engine, tape, mlpInput, block.mlp, { residual: withAttention });
    release(tape, attentionInput, withAttention, mlpInput, x);
    x = next;
    traced(`vision_block${i}_out`, x);
  });
  const features = layerNorm(engine, tape, x, weights.postLn);
  release(tape, x);
  return features;
}

/**
 * Crops that go through the encoder together: as many as keep its largest activation (qkv or
 * fc1's output, [crops·tokens, max(3·enc_dim, enc_ff_dim)] f32) within one storage binding.
 */
export function cropsPerPass(engine: Engine, revision: Revision): number {
  const { vision } = revision.config;
  const { imageTokens, patchDim } = deriveDimensions(revision.config);
  // The patches too: narrower than fc1 at full size, wider in a tiny model.
  const rowBytes = imageTokens * Math.max(3 * vision.enc_dim, vision.enc_ff_dim, patchDim) * 4;
  return Math.max(1, Math.floor(engine.limits.maxStorageBufferBindingSize / rowBytes));
}

/**
 * ViT over patches [crops·tokens, patchDim] (or [crops, tokens, patchDim]) → features
 * [crops·tokens, enc_dim] after post_ln. The patches may come as groups of at most
 * cropsPerPass crops each (an image whose patches would pass one binding, imageEmbeddings).
 */
export function visionEncoder(engine: Engine, tape: Tape | null, model: VisionModel, patches: Tensor | readonly Tensor[], trace?: VisionTrace): Tensor {
  if (Array.isArray(patches)) {
    if (patches.length === 1) return visionEncoder(engine, tape, model, patches[0], trace);
    const parts = patches.map((group) => visionEncoder(engine, tape, model, group));
    const features = apply(engine, tape, concatRowsOp, parts);
    release(tape, ...parts);
    return features;
  }
  return encodePatches(engine, tape, model, patches as Tensor, trace);
}

function encodePatches(engine: Engine, tape: Tape | null, model: VisionModel, patches: Tensor, trace?: VisionTrace): Tensor {
  const { imageTokens: tokens, patchDim } = deriveDimensions(model.revision.config);
  const crops = patches.size / (tokens * patchDim);
  if (patches.dtype !== 'f32' || !Number.isInteger(crops) || crops < 1 || patches.shape.at(-1) !== patchDim) {
    throw new Error(`visionEncoder: expected f32 patches [crops·${tokens}, ${patchDim}], got ${patches}`);
  }
  // A view of a 3-D upload is fine at inference; a tape must keep the tensor it saves alive.
  if (tape && patches.shape.length !== 2) throw new Error(`visionEncoder: with a tape, pass the patches as [crops·${tokens}, ${patchDim}], got ${patches}`);
  const rows = patches.shape.length === 2 ? patches : engine.view(patches, [crops * tokens, patchDim]);
  const perPass = cropsPerPass(engine, model.revision);
  if (crops <= perPass) return encodeCrops(engine, tape, model, rows, crops, trace);
  const parts: Tensor[] = [];
  for (let first = 0; first < crops; first += perPass) {
    const count = Math.min(perPass, crops - first);
    const group = apply(engine, tape, sliceRowsOp, [rows], { start: first * tokens, count: count * tokens });
    parts.push(encodeCrops(engine, tape, model, group, count));
    release(tape, group);
  }
  const features = apply(engine, tape, concatRowsOp, parts);
  release(tape, ...parts);
  return features;
}

/**
 * ViT patches (crop 0 global, then tiles row-major) → image embeddings [tokens, text dim]:
 * encoder, [global ‖ stitched-and-pooled local] (or global alone for single-crop revisions),
 * projection MLP.
 */
export function embedPatches(engine: Engine, tape: Tape | null, model: VisionModel, patches: Tensor | readonly Tensor[], tiling: Tiling, trace?: VisionTrace): Tensor {
  const features = visionEncoder(engine, tape, model, patches, trace);
  const { imageTokens } = deriveDimensions(model.revision.config);
  traceAs(engine, trace, 'vision_crop_features', features, [features.shape[0] / imageTokens, imageTokens, features.shape[1]]);
  const embeddings = projectImageFeatures(engine, tape, model, features, tiling, trace);
  release(tape, features);
  return embeddings;
}

export interface ImageEmbeddingsResult {
  /** [imageTokens, text dim]: the image's tokens for the text decoder (spec §4.6). */
  readonly embeddings: Tensor;
  readonly tiling: Tiling;
  readonly crops: number;
}

/** The patches of an image: crops (spec §4.1) → patches [crops·tokens, patchDim] (§4.2) on the host. */
export function imagePatches(revision: Revision, image: RgbImage): { patches: Float32Array; tiling: Tiling; crops: number } {
  const { vision } = revision.config;
  const crops = prepareCrops(image, revision.cropMode, cropGeometryOf(vision));
  // spec §4.2: the bf16 release normalises pixels in bf16 arithmetic; matching it keeps our input
  // identical to upstream's for that checkpoint (f32 checkpoints, like the fixture, use f32).
  const patches = cropsToPatches(crops, vision.enc_patch_size, revision.weights?.dtype === 'BF16' ? 'bf16' : 'f32');
  return { patches, tiling: crops.tiling, crops: crops.count };
}

/** An RGB image → its image embeddings (inference; with a tape, the vision tower trains). */
export function imageEmbeddings(engine: Engine, model: VisionModel, image: RgbImage, tape: Tape | null = null, trace?: VisionTrace): ImageEmbeddingsResult {
  const { imageTokens, patchDim } = deriveDimensions(model.revision.config);
  const { patches, tiling, crops } = imagePatches(model.revision, image);
  // Uploaded in groups the encoder takes at once, so no upload passes a binding either.
  const perPass = cropsPerPass(engine, model.revision);
  const cropValues = imageTokens * patchDim;
  const uploads: Tensor[] = [];
  for (let first = 0; first < crops; first += perPass) {
    const count = Math.min(perPass, crops - first);
    uploads.push(engine.upload(patches.subarray(first * cropValues, (first + count) * cropValues), [count * imageTokens, patchDim], 'f32', 'vision.patches'));
  }
  const embeddings = embedPatches(engine, tape, model, uploads, tiling, trace);
  release(tape, ...uploads);
  return { embeddings, tiling, crops };
}
