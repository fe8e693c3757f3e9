// Seeded LoRA adapters for a loaded model, standing in for a finished run's (export tests).
import type { LoraAdapterData } from '../../src/gpu/lora.ts';
import { LORA_TARGETS } from '../../src/gpu/lora.ts';
import type { Moondream } from '../../src/model/moondream.ts';
import type { AdapterFile } from '../../src/train/adapter-export.ts';
import { randomFloats } from './random.ts';

import type { TextBlockWeights } from '../../src/model/text-weights.ts';

const WEIGHT_OF_TARGET = {
  'attn.qkv': (block: TextBlockWeights) => block.attn.qkv,
  'attn.proj': (block: TextBlockWeights) => block.attn.proj,
  'mlp.fc1': (block: TextBlockWeights) => block.mlp.fc1,
  'mlp.fc2': (block: TextBlockWeights) => block.mlp.fc2,
};

/** Adapters on every target of every text block, A and B uniform in ±0.2 (B away from zero, so they change the answers). */
export function randomAdapterFile(model: Moondream, rank: number, magnitude = 0.2): AdapterFile {
  const adapters = new Map<string, LoraAdapterData>();
  model.decoder.weights.blocks.forEach((block, index) => {
    LORA_TARGETS.forEach((target, targetIndex) => {
      const [outFeatures, inFeatures] = WEIGHT_OF_TARGET[target](block).weight.shape;
      const seed = 100 * index + targetIndex;
      adapters.set(`model.text.blocks.${index}.${target}`, { a: randomFloats(rank * inFeatures, seed, -magnitude, magnitude), b: randomFloats(outFeatures * rank, seed + 50, -magnitude, magnitude), inFeatures, outFeatures });
    });
  });
  return { config: { rank, alpha: 2 * rank, targets: LORA_TARGETS }, revision: model.revision.id, adapters };
}
