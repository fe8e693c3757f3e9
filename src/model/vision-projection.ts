// From per-crop ViT features to image embeddings (spec §4.4–§4.6): the local tiles' feature maps
// are stitched into one grid (buffer copies, geometry from crop-stitching.ts), average-pooled
// back to one crop's grid, and projected together with the global crop's features.
//
// The projection input [global ‖ local] (spec §4.6, global first) is never materialised:
// fc1·[g ‖ l] = fc1[:, :D]·g + fc1[:, D:]·l, so fc1 runs twice over column blocks of its weight,
// the second accumulating, and the bias is added once.
import type { Engine } from '../gpu/engine.ts';
import { adaptiveAvgPool2d } from '../gpu/ops/adaptive-pool.ts';
import { gelu } from '../gpu/ops/gelu.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from './config.ts';
import { stitchPlan } from './crop-stitching.ts';
import type { Tiling } from './image-crops.ts';
import type { VisionTrace } from './vision-encoder.ts';
import type { ModelWeights } from './weights.ts';
import { linearForward } from './weights-linear.ts';

/** Tile features (crops 1…n of [crops, grid², D]) → stitched grid [rows, cols, D] (spec §4.4). */
export function stitchTileFeatures(engine: Engine, features: Tensor, tiling: Tiling, grid: number, margin: number): Tensor {
  const width = features.shape.at(-1)!;
  const plan = stitchPlan(tiling, grid, margin);
  const tiles = tiling[0] * tiling[1];
  if (features.shape[0] !== 1 + tiles) {
    throw new Error(`stitchTileFeatures: tiling ${tiling.join('×')} needs ${1 + tiles} crops of features, got ${features}`);
  }
  const out = engine.empty([plan.rows, plan.cols, width], 'f32', 'vision.stitched');
  const cellBytes = width * 4;
  for (const p of plan.placements) {
    const crop = 1 + p.tile; // crop 0 is the global crop
    for (let y = p.rowStart; y < p.rowEnd; y++) {
      const from = ((crop * grid + y) * grid + p.colStart) * cellBytes;
      const to = ((p.outRow + y) * plan.cols + p.outCol + p.colStart) * cellBytes;
      engine.copy(features, out, (p.colEnd - p.colStart) * cellBytes, from, to);
    }
  }
  return out;
}

/** Features [crops, tokens, D] (after post_ln) → image embeddings [tokens, text dim]. */
export function projectImageFeatures(engine: Engine, weights: ModelWeights, features: Tensor, tiling: Tiling, trace?: VisionTrace): Tensor {
  const { revision } = weights;
  const { vision } = revision.config;
  const { visionGrid: grid, imageTokens: tokens } = deriveDimensions(revision.config);
  const width = vision.enc_dim;
  const fc1 = 'model.vision.proj_mlp.fc1';
  return engine.scope(() => {
    // Global crop: rows [0, tokens) of the features against fc1's first D input columns.
    const hidden = linearForward(engine, features, weights, fc1, { rows: tokens, weightColumnStart: 0 });
    if (revision.projectionInputDim === 2 * width) {
      const stitched = stitchTileFeatures(engine, features, tiling, grid, vision.overlap_margin);
      trace?.('vision_stitched', stitched);
      const pooled = adaptiveAvgPool2d(engine, stitched, grid, grid); // identity for a 1×1 tiling (spec §4.5)
      trace?.('vision_pooled', pooled);
      linearForward(engine, pooled, weights, fc1, { weightColumnStart: width, into: hidden, accumulate: true, withBias: false });
    } else if (revision.projectionInputDim !== width) {
      throw new Error(`Projection input width ${revision.projectionInputDim} is neither enc_dim ${width} nor 2·enc_dim.`);
    }
    const embeddings = linearForward(engine, gelu(engine, hidden), weights, 'model.vision.proj_mlp.fc2');
    trace?.('image_embeddings', embeddings);
    return embeddings;
  });
}
