// Merging adapters into the base checkpoint, on the tiny fixture's f32 and bf16 files and an f16
// copy: the same names, order, shapes, dtypes and metadata as the base; untouched tensors byte for
// byte; each adapted weight within half a unit in the last place (of its dtype) of the float64
// W + (alpha/r)·B·A; the output flows before the input is read to the end; errors stop the stream.
import { describe, expect, it } from 'vitest';
import { float32ToFloat16Bits } from '../../../src/gpu/f16.ts';
import type { LoraAdapterData } from '../../../src/gpu/lora.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { bytesToStream } from '../../../src/model/safetensors-stream.ts';
import { toFloat32 } from '../../../src/model/weight-conversion.ts';
import type { AdapterFile } from '../../../src/train/adapter-export.ts';
import { mergedModelStream } from '../../../src/train/merged-model.ts';
import { fixtureBytes } from '../../helpers/fixture-files.ts';
import { randomFloats } from '../../helpers/random.ts';
import { buildSafetensors } from '../../helpers/safetensors-builder.ts';

const RANK = 3;
const ALPHA = 6;

function adapterFor(base: SafetensorsFile, layers: string[]): AdapterFile {
  const adapters = new Map<string, LoraAdapterData>();
  layers.forEach((layer, index) => {
    const [outFeatures, inFeatures] = base.info(`${layer}.weight`).shape;
    adapters.set(layer, { a: randomFloats(RANK * inFeatures, 10 + index, -0.5, 0.5), b: randomFloats(outFeatures * RANK, 20 + index, -0.5, 0.5), inFeatures, outFeatures });
  });
  return { config: { rank: RANK, alpha: ALPHA, targets: ['attn.qkv', 'mlp.fc2'] }, revision: 'moondream-tiny', adapters };
}

const LAYERS = ['model.text.blocks.0.attn.qkv', 'model.text.blocks.1.attn.qkv', 'model.text.blocks.1.mlp.fc2'];

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The fixture's f32 weights as an F16 file (what the 2025-04-14 release stores). */
function f16Fixture(): Uint8Array {
  const f32 = new SafetensorsFile(fixtureBytes('model.safetensors'));
  return buildSafetensors(
    f32.header.tensors.map((info) => ({ name: info.name, dtype: 'F16', shape: [...info.shape], data: new Uint8Array(Uint16Array.from(f32.float32(info.name), float32ToFloat16Bits).buffer) })),
    { metadata: { format: 'pt' } },
  );
}

/** Half a unit in the last place of `value` in a format with `mantissaBits` stored mantissa bits. */
function halfUlp(value: number, mantissaBits: number): number {
  return 2 ** (Math.floor(Math.log2(Math.max(Math.abs(value), 2 ** -14))) - mantissaBits - 1);
}

describe('mergedModelStream', () => {
  for (const [label, bytes, mantissaBits] of [
    ['f32', fixtureBytes('model.safetensors'), 23],
    ['bf16', fixtureBytes('model.bf16.safetensors'), 7],
    ['f16', f16Fixture(), 10],
  ] as const) {
    it(`keeps a ${label} file's layout and adds scale·B·A to the adapted weights only`, { timeout: 60_000 }, async () => {
      const base = new SafetensorsFile(bytes);
      const adapter = adapterFor(base, LAYERS);
      const merged = new SafetensorsFile(await collect(mergedModelStream(bytesToStream(bytes, 4096), adapter)));
      expect(merged.header.tensors.map(({ name, dtype, shape, begin, end }) => ({ name, dtype, shape, begin, end }))).toEqual(
        base.header.tensors.map(({ name, dtype, shape, begin, end }) => ({ name, dtype, shape, begin, end })),
      );
      expect(merged.header.metadata).toMatchObject({ ...base.header.metadata, format: base.header.metadata.format ?? 'pt' });
      expect(merged.header.metadata.moontune_merged_lora).toMatch(/rank 3, alpha 6, targets attn\.qkv,mlp\.fc2/);
      for (const name of base.names) {
        const layer = name.slice(0, -'.weight'.length);
        const data = adapter.adapters.get(layer);
        if (!data) {
          expect(merged.tensorBytes(name), name).toEqual(base.tensorBytes(name));
          continue;
        }
        const weight = toFloat32(base.info(name), base.tensorBytes(name));
        const result = toFloat32(merged.info(name), merged.tensorBytes(name));
        const { inFeatures, outFeatures, a, b } = data;
        let worst = 0;
        let changed = 0;
        for (let row = 0; row < outFeatures; row++) {
          for (let column = 0; column < inFeatures; column++) {
            let update = 0;
            for (let k = 0; k < RANK; k++) update += b[row * RANK + k] * a[k * inFeatures + column];
            const exact = weight[row * inFeatures + column] + (ALPHA / RANK) * update;
            const got = result[row * inFeatures + column];
            // Rounded to the dtype once (float32 for f32; via float32 for f16/bf16, hence + a float32 half-ulp).
            const bound = halfUlp(exact, mantissaBits) + (mantissaBits < 23 ? halfUlp(exact, 23) : 0);
            worst = Math.max(worst, Math.abs(got - exact) / bound);
            if (got !== weight[row * inFeatures + column]) changed++;
          }
        }
        expect(worst, name).toBeLessThanOrEqual(1);
        expect(changed, name).toBeGreaterThan(0.9 * inFeatures * outFeatures);
      }
    });
  }

  it('hands out the header and first tensors before the base file has been read to the end', async () => {
    const bytes = fixtureBytes('model.safetensors');
    let delivered = 0;
    const source = bytesToStream(bytes, 4096);
    const counted = source.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({ transform(chunk, controller) { delivered += chunk.byteLength; controller.enqueue(chunk); } }));
    const reader = mergedModelStream(counted, adapterFor(new SafetensorsFile(bytes), LAYERS)).getReader();
    let received = 0;
    while (received < 64 * 1024) received += (await reader.read()).value!.byteLength;
    expect(delivered).toBeLessThan(bytes.byteLength / 2);
    await reader.cancel();
  });

  it('errors the stream, saying why, for an adapter of another model or a truncated base file', async () => {
    const bytes = fixtureBytes('model.safetensors');
    const base = new SafetensorsFile(bytes);
    const adapter = adapterFor(base, LAYERS);
    const foreign: AdapterFile = { ...adapter, adapters: new Map([['model.text.blocks.7.attn.qkv', adapter.adapters.get(LAYERS[0])!]]) };
    await expect(collect(mergedModelStream(bytesToStream(bytes), foreign))).rejects.toThrow(/no weight for the adapted layer model\.text\.blocks\.7\.attn\.qkv/);
    const reshaped: AdapterFile = { ...adapter, adapters: new Map([[LAYERS[2], adapter.adapters.get(LAYERS[0])!]]) };
    await expect(collect(mergedModelStream(bytesToStream(bytes), reshaped))).rejects.toThrow(/model\.text\.blocks\.1\.mlp\.fc2\.weight is \[64, 256\] but its adapter is for \[192, 64\]/);
    await expect(collect(mergedModelStream(bytesToStream(bytes.subarray(0, bytes.length - 100)), adapter))).rejects.toThrow(/truncated/);
  });
});
