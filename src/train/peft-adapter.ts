// LoRA adapters in the layout Hugging Face PEFT saves and loads (`PeftModel.from_pretrained`,
// docs/EXPORTS.md): `adapter_config.json` and `adapter_model.safetensors` whose keys are
// `base_model.model.<module path>.lora_A.weight` [r, in] and `….lora_B.weight` [out, r] — PEFT
// wraps the model twice (PeftModel → LoraModel) and leaves the adapter name out of saved keys.
//
// The module path is the adapted Linear's name inside the transformers model of the revision.
// HfMoondream (2025 revisions) holds the network as `model`, so the path is the checkpoint's own
// name without `.weight` (model.text.blocks.N.attn.qkv, spec §3.1). The 2024 Moondream class holds
// Phi as `text_model` (text_model.transformer.h.N.mixer.Wqkv, spec §3.2, §12). PEFT computes the
// same update as moontune, W·x + (lora_alpha / r)·B·(A·x), each adapter fed its own layer's input.
import { LORA_TARGETS, type LoraAdapterData, type LoraTarget } from '../gpu/lora.ts';
import type { Revision } from '../model/revisions.ts';
import { SafetensorsFile } from '../model/safetensors.ts';
import { writeSafetensors, type NamedTensor } from '../model/safetensors-writer.ts';
import { toFloat32 } from '../model/weight-conversion.ts';
import { canonicalWeightName } from '../model/weight-names.ts';
import type { AdapterFile } from './adapter-export.ts';

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';

/** The two files of a PEFT adapter folder. */
export interface PeftAdapterFiles {
  /** adapter_config.json */
  readonly config: Uint8Array;
  /** adapter_model.safetensors */
  readonly weights: Uint8Array;
}

const PREFIX = 'base_model.model.';
const CANONICAL_LAYER = /^model\.text\.blocks\.(\d+)\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)$/;

/** spec §3.2: the 2024 (Phi) module names of the adapted layers. */
const LEGACY_MODULES: Record<LoraTarget, string> = {
  'attn.qkv': 'mixer.Wqkv',
  'attn.proj': 'mixer.out_proj',
  'mlp.fc1': 'mlp.fc1',
  'mlp.fc2': 'mlp.fc2',
};

/** The transformers module path of an adapted layer (canonical name, e.g. model.text.blocks.3.mlp.fc1). */
export function peftModulePath(layer: string, weightNaming: Revision['weightNaming']): string {
  const match = CANONICAL_LAYER.exec(layer);
  if (!match) throw new Error(`${layer} is not a text-block layer moontune adapts (attn.qkv, attn.proj, mlp.fc1, mlp.fc2).`);
  if (weightNaming === 'hf-2025') return layer;
  return `text_model.transformer.h.${match[1]}.${LEGACY_MODULES[match[2] as LoraTarget]}`;
}

/** PEFT's target_modules as one regular expression (PEFT full-matches a string against module names), only the text blocks' layers. */
function targetModulesPattern(targets: readonly LoraTarget[], weightNaming: Revision['weightNaming']): string {
  const escape = (text: string) => text.replaceAll('.', '\\.');
  if (weightNaming === 'hf-2025') return `model\\.text\\.blocks\\.\\d+\\.(${targets.map(escape).join('|')})`;
  return `text_model\\.transformer\\.h\\.\\d+\\.(${targets.map((target) => escape(LEGACY_MODULES[target])).join('|')})`;
}

/** The adapter as PEFT files for the revision's transformers model; the base repo and revision are the revision's release. */
export function writePeftAdapter(file: AdapterFile, revision: Revision): PeftAdapterFiles {
  const { config, adapters } = file;
  const tensors: NamedTensor[] = [];
  for (const [layer, { a, b, inFeatures, outFeatures }] of adapters) {
    const path = PREFIX + peftModulePath(layer, revision.weightNaming);
    tensors.push({ name: `${path}.lora_A.weight`, shape: [config.rank, inFeatures], values: a });
    tensors.push({ name: `${path}.lora_B.weight`, shape: [outFeatures, config.rank], values: b });
  }
  // Only LoraConfig's own fields: older PEFT releases refuse unknown keys.
  const peftConfig = {
    peft_type: 'LORA',
    task_type: null,
    base_model_name_or_path: revision.weights?.repo ?? null,
    revision: revision.weights?.revision ?? null,
    r: config.rank,
    lora_alpha: config.alpha,
    lora_dropout: 0,
    target_modules: targetModulesPattern(config.targets, revision.weightNaming),
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  return {
    config: new TextEncoder().encode(`${JSON.stringify(peftConfig, null, 2)}\n`),
    // safetensors.torch writes "format": "pt"; the revision says which moontune model it came from.
    weights: writeSafetensors(tensors, { format: 'pt', moontune_revision: file.revision }),
  };
}

/** Reads a PEFT LoRA adapter of a Moondream model (written by moontune or by PEFT) back into moontune's form. */
export function readPeftAdapter(files: PeftAdapterFiles): AdapterFile {
  let peftConfig: Record<string, unknown>;
  try {
    peftConfig = JSON.parse(new TextDecoder().decode(files.config));
  } catch (error) {
    throw new Error(`${PEFT_CONFIG_FILE} is not valid JSON (${(error as Error).message}); export the adapter again.`);
  }
  if (peftConfig.peft_type !== 'LORA') throw new Error(`${PEFT_CONFIG_FILE} describes a ${String(peftConfig.peft_type)} adapter; moontune loads LoRA adapters only.`);
  if (peftConfig.use_dora) throw new Error(`${PEFT_CONFIG_FILE} is a DoRA adapter (use_dora); moontune loads plain LoRA adapters only.`);
  if (peftConfig.fan_in_fan_out) throw new Error(`${PEFT_CONFIG_FILE} stores transposed (fan_in_fan_out) weights, which Moondream's Linear layers never use; export the adapter for this model.`);
  for (const pattern of ['rank_pattern', 'alpha_pattern'] as const) {
    if (peftConfig[pattern] && Object.keys(peftConfig[pattern] as object).length > 0) throw new Error(`${PEFT_CONFIG_FILE} gives layers their own rank or alpha (${pattern}); moontune needs one rank and alpha for every layer.`);
  }
  const rank = Number(peftConfig.r);
  // rsLoRA scales by alpha/√r instead of alpha/r: the same update with alpha·√r.
  const alpha = Number(peftConfig.lora_alpha) * (peftConfig.use_rslora ? Math.sqrt(rank) : 1);
  if (!Number.isInteger(rank) || rank < 1 || !(alpha > 0)) throw new Error(`${PEFT_CONFIG_FILE} has r ${String(peftConfig.r)} and lora_alpha ${String(peftConfig.lora_alpha)}; both must be positive.`);

  const weights = new SafetensorsFile(files.weights);
  const adapters = new Map<string, LoraAdapterData>();
  const targets = new Set<LoraTarget>();
  for (const name of weights.names) {
    if (!name.endsWith('.lora_A.weight')) {
      if (!name.endsWith('.lora_B.weight')) throw new Error(`${PEFT_WEIGHTS_FILE} holds ${name}, which is no LoRA A or B matrix; moontune loads LoRA adapters of the text layers only.`);
      continue;
    }
    const modulePath = name.slice(name.startsWith(PREFIX) ? PREFIX.length : 0, -'.lora_A.weight'.length);
    const layer = canonicalWeightName(`${modulePath}.weight`)?.canonical.slice(0, -'.weight'.length);
    const match = layer === undefined ? null : CANONICAL_LAYER.exec(layer);
    if (!match || !layer) throw new Error(`${PEFT_WEIGHTS_FILE} adapts ${modulePath}; moontune adapts the text blocks' attn.qkv, attn.proj, mlp.fc1 and mlp.fc2 only.`);
    const bName = `${name.slice(0, -'.lora_A.weight'.length)}.lora_B.weight`;
    if (!weights.header.byName.has(bName)) throw new Error(`${PEFT_WEIGHTS_FILE} has ${name} but no ${bName}; export the adapter again.`);
    const aInfo = weights.info(name);
    const bInfo = weights.info(bName);
    if (aInfo.shape[0] !== rank || bInfo.shape[1] !== rank) throw new Error(`${PEFT_WEIGHTS_FILE}: ${modulePath} has rank ${aInfo.shape[0]}, but ${PEFT_CONFIG_FILE} says r = ${rank}.`);
    adapters.set(layer, {
      a: toFloat32(aInfo, weights.tensorBytes(name)),
      b: toFloat32(bInfo, weights.tensorBytes(bName)),
      inFeatures: aInfo.shape[1],
      outFeatures: bInfo.shape[0],
    });
    targets.add(match[2] as LoraTarget);
  }
  if (adapters.size === 0) throw new Error(`${PEFT_WEIGHTS_FILE} holds no LoRA matrices; export the adapter again.`);
  const revision = weights.header.metadata.moontune_revision ?? (typeof peftConfig.revision === 'string' ? peftConfig.revision : '');
  return { config: { rank, alpha, targets: LORA_TARGETS.filter((target) => targets.has(target)) }, revision, adapters };
}
