// The whole model trains end to end: the train loss of the fixture's 32-position example,
// computed from the fixture image through the vision encoder, stitching, pooling, projection and
// text decoder with one tape, has gradients with respect to vision weights that equal float64
// central finite differences of the CPU reference model's loss (src/model/reference/).
import { describe, expect, it } from 'vitest';
import { Tape } from '../../../src/gpu/autograd.ts';
import type { Tensor } from '../../../src/gpu/tensor.ts';
import { memoryModelFiles } from '../../../src/model/model-source.ts';
import { loadMoondream } from '../../../src/model/moondream.ts';
import { crossEntropy, shiftedAnswerLabels } from '../../../src/model/reference/loss.ts';
import { TextDecoderReference } from '../../../src/model/reference/text.ts';
import { encodeImageReference } from '../../../src/model/reference/vision.ts';
import { ReferenceWeights } from '../../../src/model/reference/weights.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { imageEmbeddings } from '../../../src/model/vision-encoder.ts';
import { namedVisionParameters } from '../../../src/model/vision-weights.ts';
import { fixtureBytes, fixtureImage, goldenFile, weightsFile } from '../../helpers/fixture-files.ts';
import { testEngine } from '../../helpers/gpu-context.ts';
import { mulberry32 } from '../../helpers/random.ts';

const ANSWER_TOKENS = 6; // the example's answer + EOS (fixture README)

describe('training through the vision tower', () => {
  it('gives vision and projection gradients that match float64 finite differences of the reference loss', async () => {
    const engine = await testEngine();
    const files = memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.safetensors')]]));
    const model = await loadMoondream(engine, files, { precision: 'f32' });
    const { revision } = model;
    const golden = goldenFile();
    const goldenIds = Array.from(golden.int32('train_input_ids'));
    const imageMask = golden.uint8('train_image_mask');
    const labels = shiftedAnswerLabels(goldenIds, ANSWER_TOKENS);
    const { width, height, pixels } = fixtureImage();
    const image = rgbImage(width, height, pixels);

    // GPU: one tape from the pixels' patches to the loss.
    const named = namedVisionParameters(model.vision.weights);
    const tape = new Tape(engine);
    tape.watch(...named.map(([, tensor]) => tensor));
    const { embeddings } = imageEmbeddings(engine, model.vision, image, tape);
    const ids = Int32Array.from(goldenIds, (id, position) => (imageMask[position] ? -1 : id));
    const inputs = model.decoder.embed(tape, ids, embeddings);
    const loss = model.decoder.loss(tape, inputs, Int32Array.from(labels));
    tape.backward(loss);
    const gpuLoss = (await engine.readFloat(loss))[0];
    // The image's embeddings are the golden ones (within 1e-4), so the loss is train_loss.
    expect(Math.abs(gpuLoss - golden.float32('train_loss')[0])).toBeLessThan(1e-4);

    // Reference: the same loss in float64 from float32 weights that the test perturbs in place.
    const reference = ReferenceWeights.fromSafetensors(weightsFile(), revision);
    const referenceLoss = () => {
      const encoded = encodeImageReference(image, revision, reference).embeddings;
      const decoder = new TextDecoderReference(revision, reference);
      const dim = revision.config.text.dim;
      const input = new Float64Array(goldenIds.length * dim);
      let row = 0;
      goldenIds.forEach((id, position) => {
        if (imageMask[position]) input.set(encoded.subarray(row * dim, ++row * dim), position * dim);
        else input.set(decoder.embed([id]), position * dim);
      });
      return crossEntropy(decoder.logits(decoder.forward(input)), revision.config.text.vocab_size, labels).mean;
    };
    expect(Math.abs(referenceLoss() - gpuLoss)).toBeLessThan(1e-4);

    // A spread of tensors: the patch embedding, pos_emb, attention and MLP of the first and last
    // block, post_ln, and the projection (fc1's global and local halves lie in its columns).
    const checked = [
      'model.vision.patch_emb.weight', 'model.vision.patch_emb.bias', 'model.vision.pos_emb',
      'model.vision.blocks.0.ln1.weight', 'model.vision.blocks.0.attn.qkv.weight', 'model.vision.blocks.0.attn.proj.bias',
      'model.vision.blocks.3.mlp.fc1.weight', 'model.vision.blocks.3.ln2.bias', 'model.vision.post_ln.weight',
      'model.vision.proj_mlp.fc1.weight', 'model.vision.proj_mlp.fc2.weight', 'model.vision.proj_mlp.fc2.bias',
    ];
    const next = mulberry32(3);
    const step = 1e-2;
    let compared = 0;
    for (const name of checked) {
      const tensor = named.find(([candidate]) => candidate === name)![1] as Tensor;
      const gradient = await engine.readFloat(tape.grad(tensor)!);
      const values = reference.get(name);
      // The entry with the largest gradient (so a wrong gradient cannot hide in noise) and three at random.
      const largest = gradient.reduce((best, value, index) => (Math.abs(value) > Math.abs(gradient[best]) ? index : best), 0);
      for (const index of [largest, ...Array.from({ length: 3 }, () => Math.floor(next() * values.length))]) {
        const original = values[index];
        values[index] = original + step;
        const up = values[index] - original; // the perturbation float32 actually holds
        const plus = referenceLoss();
        values[index] = original - step;
        const down = original - values[index];
        const minus = referenceLoss();
        values[index] = original;
        const numeric = (plus - minus) / (up + down);
        // Central differences with step 1e-2: truncation O(step²·f''') reaches ~3e-5 on the
        // projection's weights (measured), float64 rounding is negligible; the GPU gradient is f32
        // arithmetic through ~40 ops on O(1) values (~1e-6). Gradients here are 1e-3 to 0.2.
        expect(Math.abs(gradient[index] - numeric), `${name}[${index}]: gpu ${gradient[index]} vs fd ${numeric}`).toBeLessThan(2e-5 + 2e-3 * Math.abs(numeric));
        compared++;
      }
    }
    expect(compared).toBe(4 * checked.length);
    tape.dispose();
    for (const tensor of [embeddings, inputs, loss]) tensor.dispose();
    model.dispose();
  });
});
