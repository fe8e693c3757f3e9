// From per-crop ViT features to image embeddings (spec §4.4–§4.6): the local tiles' feature maps
// are stitched into one grid (a gather of feature rows, geometry from crop-stitching.ts),
// average-pooled back to one crop's grid, put beside the global crop's features and projected by
// proj_mlp. Every step is differentiable, so the projection and the encoder can train.
import { apply, release, type Tape } from '../gpu/autograd.ts';
import type { Engine } from '../gpu/engine.ts';
import { adaptiveAvgPool2dOp } from '../gpu/ops/adaptive-pool.ts';
import { concatColumnsOp, sliceRowsOp } from '../gpu/ops/copy.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { deriveDimensions } from './config.ts';
import { stitchPlan, stitchSourceRows } from './crop-stitching.ts';
import type { Tiling } from './image-crops.ts';
import { gather, mlp } from './layers.ts';
import { traceAs, type VisionModel, type VisionTrace } from './vision-encoder.ts';

/**
 * Features [crops·tokens, enc_dim] (after post_ln; crop 0 global, then tiles row-major) →
 * projection input [tokens, projectionInputDim]: [global ‖ pooled local] (spec §4.6, global
 * first), or the global crop alone for single-crop revisions.
 */
export function projectionInput(engine: Engine, tape: Tape | null, model: VisionModel, features: Tensor, tiling: Tiling, trace?: VisionTrace): Tensor {
  const { revision } = model;
  const { vision } = revision.config;
  const { visionGrid: grid, imageTokens: tokens } = deriveDimensions(revision.config);
  const width = vision.enc_dim;
  const global = apply(engine, tape, sliceRowsOp, [features], { start: 0, count: tokens });
  if (revision.projectionInputDim === width) return global;
  if (revision.projectionInputDim !== 2 * width) {
    throw new Error(`Projection input width ${revision.projectionInputDim} is neither enc_dim ${width} nor 2·enc_dim.`);
  }
  const tiles = tiling[0] * tiling[1];
  if (features.shape[0] !== (1 + tiles) * tokens) {
    throw new Error(`projectionInput: tiling ${tiling.join('×')} needs ${1 + tiles} crops of features, got ${features}`);
  }
  const plan = stitchPlan(tiling, grid, vision.overlap_margin);
  const sourceRows = engine.upload(stitchSourceRows(plan, grid), [plan.rows * plan.cols], 'i32', 'vision.stitchRows');
  const stitched = gather(engine, tape, features, sourceRows);
  traceAs(engine, trace, 'vision_stitched', stitched, [plan.rows, plan.cols, width]);
  // spec §4.5: back to one crop's grid (the identity for a 1×1 tiling).
  const pooled = apply(engine, tape, adaptiveAvgPool2dOp, [stitched], { grid: [plan.rows, plan.cols], outHeight: grid, outWidth: grid });
  traceAs(engine, trace, 'vision_pooled', pooled, [grid, grid, width]);
  const input = apply(engine, tape, concatColumnsOp, [global, pooled]);
  release(tape, sourceRows, stitched, pooled, global);
  return input;
}

/** Features [crops·tokens, enc_dim] (after post_ln) → image embeddings [tokens, text dim]. */
export function projectImageFeatures(engine: Engine, tape: Tape | null, model: VisionModel, features: Tensor, tiling: Tiling, trace?: VisionTrace): Tensor {
  const input = projectionInput(engine, tape, model, features, tiling, trace);
  const embeddings = mlp(engine, tape, input, model.weights.projMlp);
  release(tape, input);
  trace?.('image_embeddings', embeddings);
  return embeddings;
}
