// Trained LoRA adapters as a standalone safetensors file (a few MB instead of the model's GBs):
// tensors `<layer>.lora_A` [rank, in] and `<layer>.lora_B` [out, rank] in f32, and
// `__metadata__` naming the format, rank, alpha, targets and the revision they were trained on.
// moontune reads such a file back with `readAdapterFile` → `LoraAdapters.fromData`.
import type { LoraAdapterData, LoraConfig, LoraTarget } from '../gpu/lora.ts';
import { SafetensorsFile } from '../model/safetensors.ts';
import { writeSafetensors, type NamedTensor } from '../model/safetensors-writer.ts';

export const ADAPTER_FORMAT = 'moontune-lora-v1';

export interface AdapterFile {
  config: LoraConfig;
  /** Revision id of the model the adapters were trained on. */
  revision: string;
  adapters: Map<string, LoraAdapterData>;
}

/** Serialises adapters (layer name → A/B arrays) to safetensors bytes. */
export function writeAdapterFile(file: AdapterFile): Uint8Array {
  const { config, revision, adapters } = file;
  const entries: NamedTensor[] = [];
  for (const [layer, { a, b, inFeatures, outFeatures }] of adapters) {
    entries.push({ name: `${layer}.lora_A`, shape: [config.rank, inFeatures], values: a });
    entries.push({ name: `${layer}.lora_B`, shape: [outFeatures, config.rank], values: b });
  }
  return writeSafetensors(entries, {
    format: ADAPTER_FORMAT,
    rank: String(config.rank),
    alpha: String(config.alpha),
    targets: config.targets.join(','),
    revision,
  });
}

/** Reads a file written by writeAdapterFile; refuses other safetensors files with what they are not. */
export function readAdapterFile(bytes: Uint8Array): AdapterFile {
  const file = new SafetensorsFile(bytes);
  const metadata = file.header.metadata;
  if (metadata.format !== ADAPTER_FORMAT) {
    throw new Error(`This safetensors file is not a moontune LoRA adapter (format "${metadata.format ?? 'none'}"); export adapters from a finished run and load that file.`);
  }
  const config: LoraConfig = { rank: Number(metadata.rank), alpha: Number(metadata.alpha), targets: (metadata.targets ?? '').split(',') as LoraTarget[] };
  const adapters = new Map<string, LoraAdapterData>();
  for (const name of file.names) {
    if (!name.endsWith('.lora_A')) continue;
    const layer = name.slice(0, -'.lora_A'.length);
    const a = file.float32(name);
    const b = file.float32(`${layer}.lora_B`);
    adapters.set(layer, { a, b, inFeatures: file.info(name).shape[1], outFeatures: file.info(`${layer}.lora_B`).shape[0] });
  }
  return { config, revision: metadata.revision ?? '', adapters };
}
