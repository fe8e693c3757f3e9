// Random checkpoints in a release's layout: what the streaming loader reads back from them is the
// revision's every tensor, with LayerNorm weights 1, biases 0 and small normal matrices, and the
// BF16 file's values are exactly the F32 file's values rounded to bfloat16.
import { describe, expect, it } from 'vitest';
import { bfloat16BitsToFloat32, float32ToBfloat16Bits } from '../../../src/gpu/f16.ts';
import { parseConfig } from '../../../src/model/config.ts';
import { randomCheckpoint, type CheckpointDtype } from '../../../src/model/random-checkpoint.ts';
import { expectedWeightsOf, revisionFromConfig, type Revision } from '../../../src/model/revisions.ts';
import { streamWeights } from '../../../src/model/weight-stream.ts';
import { fixtureJson } from '../../helpers/fixture-files.ts';

const tiny = revisionFromConfig(parseConfig(fixtureJson('config.json')), { id: 'moondream-tiny' });

async function load(revision: Revision, dtype: CheckpointDtype, seed = 1): Promise<{ weights: Map<string, Float32Array>; bytes: number }> {
  const checkpoint = randomCheckpoint(revision, { dtype, seed });
  const weights = new Map<string, Float32Array>();
  let bytes = 0;
  const counted = checkpoint.stream().pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
  await streamWeights(counted, { revision, format: 'f32', expectedByteLength: checkpoint.byteLength, onWeight: ({ canonical, data }) => void weights.set(canonical, data as Float32Array) });
  expect(bytes).toBe(checkpoint.byteLength);
  return { weights, bytes };
}

describe('random checkpoints', () => {
  for (const weightNaming of ['hf-2025', 'legacy-2024'] as const) {
    it(`load back as every tensor of the revision (${weightNaming} names)`, async () => {
      const revision: Revision = { ...tiny, weightNaming };
      const { weights } = await load(revision, 'BF16');
      const expected = expectedWeightsOf(revision);
      expect([...weights.keys()]).toEqual([...expected.keys()]);
      for (const [canonical, values] of weights) {
        expect(values.length).toBe(expected.get(canonical)!.reduce((a, b) => a * b, 1));
        if (/\.ln\d?\.weight$|post_ln\.weight$/.test(canonical)) expect(values.every((v) => v === 1)).toBe(true);
        else if (canonical.endsWith('.bias')) expect(values.every((v) => v === 0)).toBe(true);
      }
      // Matrices: normal with std 0.02 (the 0.018–0.022 band holds for every tensor of this size with room to spare).
      const fc1 = weights.get('model.text.blocks.0.mlp.fc1.weight')!;
      const std = Math.sqrt(fc1.reduce((sum, v) => sum + v * v, 0) / fc1.length);
      expect(std).toBeGreaterThan(0.018);
      expect(std).toBeLessThan(0.022);
    });
  }

  it('stores the F32 values rounded to bfloat16 in a BF16 file, and repeats itself from a seed', async () => {
    const f32 = (await load(tiny, 'F32')).weights;
    const bf16 = (await load(tiny, 'BF16')).weights;
    for (const [canonical, values] of f32) {
      const rounded = Float32Array.from(values, (v) => bfloat16BitsToFloat32(float32ToBfloat16Bits(v)));
      expect(bf16.get(canonical)).toEqual(rounded);
    }
    const again = (await load(tiny, 'F32')).weights;
    expect(again.get('model.text.wte')).toEqual(f32.get('model.text.wte'));
    const otherSeed = (await load(tiny, 'F32', 2)).weights;
    expect(otherSeed.get('model.text.wte')).not.toEqual(f32.get('model.text.wte'));
  });
});
