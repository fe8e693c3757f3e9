// LoRA adapters (low-rank updates of frozen Linear layers): y = x·Wᵀ + b + (alpha/r)·(x·Aᵀ)·Bᵀ
// with W frozen (f32 or packed f16), A [r, in] and B [out, r] trainable f32. A starts small and
// random (seeded), B at zero, so an untrained adapter leaves the model unchanged. Adapters are
// keyed by the canonical name of the layer they adapt (`model.text.blocks.3.attn.qkv`) and
// export to / import from plain Float32Arrays (checkpoints, adapter files).
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';

/** Layers of each text block that can carry an adapter (ARCHITECTURE.md decision 3). */
export const LORA_TARGETS = ['attn.qkv', 'attn.proj', 'mlp.fc1', 'mlp.fc2'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraConfig {
  /** r: the rank of A and B. */
  rank: number;
  /** The update is scaled by alpha / rank. */
  alpha: number;
  targets: readonly LoraTarget[];
  /** Standard deviation of A's initial values. Default 0.02. */
  initStd?: number;
}

export interface LoraAdapter {
  /** [rank, in] f32, trainable. */
  a: Tensor;
  /** [out, rank] f32, trainable. */
  b: Tensor;
  /** alpha / rank. */
  scale: number;
}

/** Plain-array form of one adapter: A row-major [rank, in], B row-major [out, rank]. */
export interface LoraAdapterData {
  a: Float32Array;
  b: Float32Array;
  inFeatures: number;
  outFeatures: number;
}

export class LoraAdapters {
  private constructor(private readonly engine: Engine, readonly config: LoraConfig, private readonly adapters: Map<string, LoraAdapter>) {}

  /**
   * Fresh adapters for the given layers (name → [out, in] of its frozen weight): A drawn from a
   * normal distribution with std initStd using the seeded `random` (uniform [0, 1)), B = 0.
   * Layers are initialised in the order given.
   */
  static create(engine: Engine, config: LoraConfig, layers: ReadonlyMap<string, readonly [number, number]>, random: () => number): LoraAdapters {
    checkConfig(config);
    const std = config.initStd ?? 0.02;
    const adapters = new Map<string, LoraAdapter>();
    for (const [name, [outFeatures, inFeatures]] of layers) {
      const a = gaussian(config.rank * inFeatures, random, std);
      adapters.set(name, {
        a: engine.keep(engine.uploadWeight(a, [config.rank, inFeatures], 'f32', `${name}.lora_A`)),
        b: engine.keep(engine.uploadWeight(new Float32Array(outFeatures * config.rank), [outFeatures, config.rank], 'f32', `${name}.lora_B`)),
        scale: config.alpha / config.rank,
      });
    }
    return new LoraAdapters(engine, config, adapters);
  }

  /** Adapters from exported arrays (a checkpoint or an adapter file). */
  static fromData(engine: Engine, config: LoraConfig, data: ReadonlyMap<string, LoraAdapterData>): LoraAdapters {
    checkConfig(config);
    const adapters = new Map<string, LoraAdapter>();
    for (const [name, { a, b, inFeatures, outFeatures }] of data) {
      if (a.length !== config.rank * inFeatures || b.length !== outFeatures * config.rank) {
        throw new Error(`LoRA adapter ${name}: A has ${a.length} and B ${b.length} values, expected rank ${config.rank} × ${inFeatures} and ${outFeatures} × rank; was it saved with another rank?`);
      }
      adapters.set(name, {
        a: engine.keep(engine.uploadWeight(a, [config.rank, inFeatures], 'f32', `${name}.lora_A`)),
        b: engine.keep(engine.uploadWeight(b, [outFeatures, config.rank], 'f32', `${name}.lora_B`)),
        scale: config.alpha / config.rank,
      });
    }
    return new LoraAdapters(engine, config, adapters);
  }

  /** The adapter of a layer (canonical name without `.weight`), if it has one. */
  get(layer: string): LoraAdapter | undefined {
    return this.adapters.get(layer);
  }

  get names(): string[] {
    return [...this.adapters.keys()];
  }

  /** Every trainable tensor, A then B per adapter, in creation order (for the optimizer). */
  parameters(): Tensor[] {
    return [...this.adapters.values()].flatMap((adapter) => [adapter.a, adapter.b]);
  }

  /** Reads every adapter back to the host. */
  async export(engine: Engine): Promise<Map<string, LoraAdapterData>> {
    const out = new Map<string, LoraAdapterData>();
    for (const [name, adapter] of this.adapters) {
      out.set(name, {
        a: await engine.readFloat(adapter.a),
        b: await engine.readFloat(adapter.b),
        inFeatures: adapter.a.shape[1],
        outFeatures: adapter.b.shape[0],
      });
    }
    return out;
  }

  /** Overwrites the adapters' values in place (same names and shapes). */
  import(engine: Engine, data: ReadonlyMap<string, LoraAdapterData>): void {
    for (const [name, adapter] of this.adapters) {
      const values = data.get(name);
      if (!values) throw new Error(`The LoRA data has no adapter for ${name}; it was saved for other targets.`);
      engine.write(adapter.a, values.a);
      engine.write(adapter.b, values.b);
    }
  }

  dispose(): void {
    // The adapters have their own (unpooled) buffers, destroyed on dispose: submit recorded work
    // that still reads them first.
    this.engine.flush();
    for (const adapter of this.adapters.values()) {
      adapter.a.dispose();
      adapter.b.dispose();
    }
    this.adapters.clear();
  }
}

/** Canonical names of the adapted layers of a text decoder with `layers` blocks. */
export function loraLayerNames(layers: number, targets: readonly LoraTarget[]): string[] {
  const names: string[] = [];
  for (let block = 0; block < layers; block++) {
    for (const target of LORA_TARGETS) if (targets.includes(target)) names.push(`model.text.blocks.${block}.${target}`);
  }
  return names;
}

function checkConfig(config: LoraConfig): void {
  if (!Number.isInteger(config.rank) || config.rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${config.rank}`);
  if (!(config.alpha > 0)) throw new Error(`LoRA alpha must be positive, got ${config.alpha}`);
  for (const target of config.targets) {
    if (!LORA_TARGETS.includes(target)) throw new Error(`Unknown LoRA target '${target}'; choose from ${LORA_TARGETS.join(', ')}`);
  }
}

/** Normal(0, std²) values by Box–Muller from a uniform [0, 1) source. */
function gaussian(count: number, random: () => number, std: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    out[i] = std * radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = std * radius * Math.sin(angle);
  }
  return out;
}
