// What a run trains (ARCHITECTURE.md decision 3): LoRA adapters on the chosen layers of every
// text block (with trainTokenLayers, also the token embedding and the LM head), or — for full
// fine-tuning — every text-model parameter (spec §11.1); with trainVision, every vision and
// projection weight as well. Either way the optimizer sees one list
// of f32 tensors with stable names, which is also how they are stored in checkpoints.
import type { Engine } from '../gpu/engine.ts';
import { LoraAdapters, type LoraTarget } from '../gpu/lora.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { LinearWeights } from '../model/layers.ts';
import type { TextDecoder } from '../model/text-decoder.ts';
import type { VisionModel } from '../model/vision-encoder.ts';
import { namedVisionParameters } from '../model/vision-weights.ts';
import { namedTextParameters, type TextBlockWeights } from '../model/text-weights.ts';
import type { CheckpointTensor } from './checkpoint-store.ts';
import type { TrainingConfig } from './config.ts';
import { TrainingInputError } from './input-error.ts';

export interface TrainableParameters {
  /** Checkpoint names: `<layer>.lora_A` / `.lora_B`, or the canonical weight names. */
  names: string[];
  tensors: Tensor[];
  /** The adapters (LoRA runs), passed to the decoder's forward by whoever runs the model. */
  adapters?: LoraAdapters;
  /** Frees the adapters (full fine-tuning frees nothing: the weights are the model's). */
  dispose(): void;
}

/** What trainTokenLayers trains beside the adapters, in canonical names. */
const TOKEN_LAYER_WEIGHTS: readonly string[] = ['model.text.wte', 'model.text.lm_head.weight', 'model.text.lm_head.bias'];

const TARGET_WEIGHTS: Record<LoraTarget, (block: TextBlockWeights) => LinearWeights> = {
  'attn.qkv': (block) => block.attn.qkv,
  'attn.proj': (block) => block.attn.proj,
  'mlp.fc1': (block) => block.mlp.fc1,
  'mlp.fc2': (block) => block.mlp.fc2,
};

/** LoRA adapters (A drawn from `random`, B zero) for the decoder's layers, or its own weights; plus the vision weights with trainVision. */
export function createTrainableParameters(
  engine: Engine,
  model: { readonly decoder: TextDecoder; readonly vision: VisionModel },
  config: TrainingConfig,
  random: () => number,
): TrainableParameters {
  const text = textParameters(engine, model.decoder, config, random);
  if (!config.trainVision) return text;
  const vision = namedVisionParameters(model.vision.weights);
  requireF32(vision, 'Training the vision encoder');
  return { ...text, names: [...text.names, ...vision.map(([name]) => name)], tensors: [...text.tensors, ...vision.map(([, tensor]) => tensor)] };
}

function requireF32(named: readonly [string, Tensor][], what: string): void {
  const packed = named.filter(([, tensor]) => tensor.dtype !== 'f32');
  if (packed.length > 0) {
    throw new Error(`${what} needs its weights in f32, but ${packed.length} are stored as ${packed[0][1].dtype} (e.g. ${packed[0][0]}); load the model with precision 'f32' or train LoRA adapters.`);
  }
}

function textParameters(engine: Engine, decoder: TextDecoder, config: TrainingConfig, random: () => number): TrainableParameters {
  if (config.fullFineTune) {
    const named = namedTextParameters(decoder.weights);
    requireF32(named, 'Full fine-tuning');
    return { names: named.map(([name]) => name), tensors: named.map(([, tensor]) => tensor), dispose() {} };
  }
  const layers = new Map<string, readonly [number, number]>();
  decoder.weights.blocks.forEach((block, index) => {
    for (const target of config.loraTargets) {
      const [outFeatures, inFeatures] = TARGET_WEIGHTS[target](block).weight.shape;
      layers.set(`model.text.blocks.${index}.${target}`, [outFeatures, inFeatures]);
    }
  });
  const tokenLayers = config.trainTokenLayers ? namedTextParameters(decoder.weights).filter(([name]) => TOKEN_LAYER_WEIGHTS.includes(name)) : [];
  requireF32(tokenLayers, 'Training the token embedding and the LM head');
  const adapters = LoraAdapters.create(engine, { rank: config.loraRank, alpha: config.loraAlpha, targets: config.loraTargets }, layers, random);
  return {
    // The adapters first: trainedWeights() reads back what follows them.
    names: [...adapters.names.flatMap((layer) => [`${layer}.lora_A`, `${layer}.lora_B`]), ...tokenLayers.map(([name]) => name)],
    tensors: [...adapters.parameters(), ...tokenLayers.map(([, tensor]) => tensor)],
    adapters,
    dispose: () => adapters.dispose(),
  };
}

/** Whether a run of `config` writes the model's own weights (which a later run must start without), not only adapters. */
export function trainsModelWeights(config: Pick<TrainingConfig, 'fullFineTune' | 'trainVision' | 'trainTokenLayers'>): boolean {
  return config.fullFineTune || config.trainVision || config.trainTokenLayers;
}

/** Reads tensors back to the host under the given names. */
export async function readTensors(engine: Engine, names: readonly string[], tensors: readonly Tensor[]): Promise<CheckpointTensor[]> {
  const out: CheckpointTensor[] = [];
  for (let i = 0; i < tensors.length; i++) {
    out.push({ name: names[i], shape: [...tensors[i].shape], values: await engine.readFloat(tensors[i]) });
  }
  return out;
}

/** Writes saved values into tensors, after checking that names and sizes match one for one. */
export function writeTensors(engine: Engine, names: readonly string[], tensors: readonly Tensor[], saved: readonly CheckpointTensor[], what: string): void {
  if (saved.length !== tensors.length) {
    throw new TrainingInputError(`The checkpoint holds ${saved.length} ${what} but this run has ${tensors.length}; it was saved for another model or LoRA setup. Start a new run.`);
  }
  saved.forEach((entry, i) => {
    if (entry.name !== names[i] || entry.values.length !== tensors[i].size) {
      throw new TrainingInputError(`The checkpoint's ${what} ${i} is ${entry.name} with ${entry.values.length} values, but this run expects ${names[i]} with ${tensors[i].size}; it was saved for another model. Start a new run.`);
    }
    engine.write(tensors[i], entry.values);
  });
}
