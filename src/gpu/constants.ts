// Small constant tensors made once per engine and kept for its life: the placeholder a kernel's
// unused binding needs, a scale of 1. Each label is its own buffer, so two constants bound in one
// dispatch (one of them writable) never alias.
import type { Engine } from './engine.ts';
import type { Tensor } from './tensor.ts';

const byEngine = new WeakMap<Engine, Map<string, Tensor>>();

/** The engine's f32 constant `label`, uploaded from `values` on first use. */
export function constantTensor(engine: Engine, label: string, values: readonly number[]): Tensor {
  let constants = byEngine.get(engine);
  if (!constants) byEngine.set(engine, (constants = new Map()));
  let tensor = constants.get(label);
  if (!tensor) {
    tensor = engine.uploadWeight(Float32Array.from(values), [values.length], 'f32', label);
    constants.set(label, tensor);
  }
  return tensor;
}
