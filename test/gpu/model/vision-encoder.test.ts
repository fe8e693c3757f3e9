import { describe, expect, it } from 'vitest';
import type { Engine } from '../../../src/gpu/engine.ts';
import { copy } from '../../../src/gpu/ops/elementwise.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { parseConfig } from '../../../src/model/config.ts';
import { singleCrop } from '../../../src/model/image-crops.ts';
import { cropsToPatches } from '../../../src/model/image-patches.ts';
import { projectToText, visionEncoderCrop } from '../../../src/model/reference/vision.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { revisionFromConfig, type Revision } from '../../../src/model/revisions.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { bytesToStream } from '../../../src/model/safetensors-stream.ts';
import { embedPatches, imageEmbeddings, type VisionModel, type VisionTrace } from '../../../src/model/vision-encoder.ts';
import { visionWeightsFrom } from '../../../src/model/vision-weights.ts';
import { loadWeights, type ModelWeights } from '../../../src/model/weights.ts';
import { fixtureBytes, fixtureImage, fixtureJson, goldenFile, weightsFile } from '../../helpers/fixture-files.ts';
import { buildSafetensors } from '../../helpers/safetensors-builder.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { maxAbsDifference } from '../../helpers/compare.ts';

const revision = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'moondream-tiny' });
const TILING = [2, 3] as const;

// The fixture README expects a float32 implementation to agree with the upstream float32 run to
// about 1e-4 absolute: values are O(1), and the GPU sums in a different order (tiled matmul,
// online softmax) than torch's CPU kernels, so each op differs by a few f32 ulps.
const TOLERANCE = 1e-4;


async function load(engine: Engine, file: string, precision: 'f32' | 'f16' = 'f32', rev: Revision = revision): Promise<ModelWeights> {
  return loadWeights(engine, bytesToStream(fixtureBytes(file)), rev, { precision });
}

/** The vision tower of loaded weights. */
function tower(weights: ModelWeights, rev: Revision = revision): VisionModel {
  return { revision: rev, weights: visionWeightsFrom(weights.byName(), rev) };
}

/** A trace hook that keeps a copy of every tensor it sees. */
function recorder(engine: Engine): { trace: VisionTrace; seen: Map<string, Tensor> } {
  const seen = new Map<string, Tensor>();
  return { seen, trace: (name, tensor) => seen.set(name, engine.keep(copy(engine, tensor))) };
}

describe('vision encoder', () => {
  it('matches every golden stage from the fixture patches (f32 weights)', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    const weights = await load(engine, 'model.safetensors');
    const { trace, seen } = recorder(engine);
    const patches = golden.float32('vision_patches');
    const embeddings = engine.scope(() => embedPatches(engine, null, tower(weights), engine.upload(patches, [7, 16, 588]), TILING, trace));
    const names = ['vision_embed', 'vision_block0_out', 'vision_block1_out', 'vision_block2_out', 'vision_block3_out', 'vision_crop_features', 'vision_stitched', 'vision_pooled', 'image_embeddings'];
    expect([...seen.keys()].sort()).toEqual([...names].sort());
    for (const name of names) {
      const tensor = seen.get(name)!;
      expect(tensor.shape, name).toEqual(golden.info(name).shape);
      expect(maxAbsDifference(await engine.readFloat(tensor), golden.float32(name)), name).toBeLessThan(TOLERANCE);
      tensor.dispose();
    }
    expect(maxAbsDifference(await engine.readFloat(embeddings), golden.float32('image_embeddings'))).toBeLessThan(TOLERANCE);
    embeddings.dispose();
    weights.dispose();
  });

  it('goes from the fixture image to image_embeddings (crops, patches, encoder, projection)', async () => {
    const engine = await testEngine();
    const weights = await load(engine, 'model.safetensors');
    const { width, height, pixels } = fixtureImage();
    const result = imageEmbeddings(engine, tower(weights), rgbImage(width, height, pixels));
    expect(result.tiling).toEqual([2, 3]);
    expect(result.crops).toBe(7);
    expect(result.embeddings.shape).toEqual([16, 64]);
    expect(maxAbsDifference(await engine.readFloat(result.embeddings), goldenFile().float32('image_embeddings'))).toBeLessThan(TOLERANCE);
    result.embeddings.dispose();
    weights.dispose();
  });

  it('gives the same embeddings when every big weight is split into row blocks', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    // An 8 KiB "binding limit": patch_emb [32, 588] f32 (2352 B a row) splits into 16 blocks of
    // 2 rows, qkv [96, 32] into 2 of 64, proj_mlp.fc1 [128, 64] into 4 of 32 (whose column halves
    // also serve global ‖ local).
    const weights = await loadWeights(engine, bytesToStream(fixtureBytes('model.safetensors')), revision, { precision: 'f32', maxBindingBytes: 8192 });
    expect(weights.rowParts('model.vision.patch_emb.weight')).toHaveLength(16);
    expect(weights.rowParts('model.vision.blocks.0.attn.qkv.weight')).toHaveLength(2);
    expect(weights.rowParts('model.vision.proj_mlp.fc1.weight')).toHaveLength(4);
    const embeddings = engine.scope(() => embedPatches(engine, null, tower(weights), engine.upload(golden.float32('vision_patches'), [7, 16, 588]), TILING));
    // Splitting changes which invocation computes an output, not its sum: same tolerance.
    expect(maxAbsDifference(await engine.readFloat(embeddings), golden.float32('image_embeddings'))).toBeLessThan(TOLERANCE);
    embeddings.dispose();
    weights.dispose();
  });

  it('matches bf16w.image_embeddings with the bf16 weights', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    const weights = await load(engine, 'model.bf16.safetensors');
    const embeddings = engine.scope(() => embedPatches(engine, null, tower(weights), engine.upload(golden.float32('vision_patches'), [7, 16, 588]), TILING));
    // The bf16 values widen to f32 exactly, so the computation is the same f32 pipeline: same tolerance.
    expect(maxAbsDifference(await engine.readFloat(embeddings), golden.float32('bf16w.image_embeddings'))).toBeLessThan(TOLERANCE);
    embeddings.dispose();
    weights.dispose();
  });

  it('with weights stored as packed f16 stays within f16 weight rounding of the golden', async () => {
    const engine = await testEngine();
    const golden = goldenFile();
    const weights = await load(engine, 'model.safetensors', 'f16');
    const embeddings = engine.scope(() => embedPatches(engine, null, tower(weights), engine.upload(golden.float32('vision_patches'), [7, 16, 588]), TILING));
    // Every matrix rounded to 11 significant bits (relative 2^-11 ≈ 5e-4 per weight) through
    // 4 blocks and the projection: bf16 weights (8 bits) moved the logits by 0.02, so f16 weights
    // should stay an order below that on embeddings of size O(1).
    const difference = maxAbsDifference(await engine.readFloat(embeddings), golden.float32('image_embeddings'));
    expect(difference).toBeLessThan(5e-3);
    expect(difference).toBeGreaterThan(0);
    embeddings.dispose();
    weights.dispose();
  });

  it('single-crop revisions project the global features alone (2024 path), against the CPU reference', async () => {
    const engine = await testEngine();
    const single: Revision = { ...revision, cropMode: 'single', projectionInputDim: 32 };
    // The fixture's weights with proj_mlp.fc1 cut to its first 32 input columns: [128, 32].
    const file = weightsFile();
    const fc1 = file.float32('model.vision.proj_mlp.fc1.weight');
    const narrowed = new Float32Array(128 * 32);
    for (let r = 0; r < 128; r++) narrowed.set(fc1.subarray(r * 64, r * 64 + 32), r * 32);
    const entries = file.header.tensors.map((info) =>
      info.name === 'model.vision.proj_mlp.fc1.weight'
        ? { name: info.name, dtype: 'F32', shape: [128, 32], data: new Uint8Array(narrowed.buffer) }
        : { name: info.name, dtype: info.dtype, shape: [...info.shape], data: file.tensorBytes(info.name) },
    );
    const bytes = buildSafetensors(entries);
    const weights = await loadWeights(engine, bytesToStream(bytes), single, { precision: 'f32' });
    const { width, height, pixels } = fixtureImage();
    const image = rgbImage(width, height, pixels);
    const result = imageEmbeddings(engine, tower(weights, single), image);
    expect(result.crops).toBe(1);

    const reference = ReferenceWeights.fromSafetensors(new SafetensorsFile(bytes), single);
    const patches = Float64Array.from(cropsToPatches(singleCrop(image, 56), 14));
    const expected = projectToText(visionEncoderCrop(patches, single, reference), single, reference);
    expect(maxAbsDifference(await engine.readFloat(result.embeddings), expected)).toBeLessThan(TOLERANCE);
    result.embeddings.dispose();
    weights.dispose();
  });
});
