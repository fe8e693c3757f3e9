// Typed weights for a tower are picked from the uploaded tensors by canonical name, each checked
// against the shape the config implies (text-weights.ts, vision-weights.ts).
import type { Tensor } from '../gpu/tensor.ts';
import { isSplit, type LayerNormWeights, type LinearWeights, type Matrix } from './layers.ts';

/**
 * Lookups in `map` (canonical names; the `model.` prefix may be absent) that throw a message
 * naming the weight and the expected shape. Only matrices may be split by rows.
 */
export function weightPicker(map: ReadonlyMap<string, Matrix>, tower: string) {
  const matrix = (name: string, shape: readonly number[]): Matrix => {
    const found = map.get(name) ?? map.get(name.replace(/^model\./, ''));
    if (!found) throw new Error(`The weights have no tensor '${name}'; is this a Moondream2 model of the configured size?`);
    if (found.shape.length !== shape.length || found.shape.some((dim, i) => dim !== shape[i])) {
      throw new Error(`Weight '${name}' has shape [${found.shape.join(', ')}], the config expects [${shape.join(', ')}]; check the revision and config.`);
    }
    return found;
  };
  const whole = (name: string, shape: readonly number[]): Tensor => {
    const found = matrix(name, shape);
    // Vectors are a few KB; only a device with an absurdly small binding limit would split them.
    if (isSplit(found)) throw new Error(`Weight '${name}' is split into ${found.parts.length} row blocks, but the ${tower} needs it whole; use a GPU with a larger maxStorageBufferBindingSize.`);
    return found;
  };
  const linear = (name: string, outputs: number, inputs: number): LinearWeights => ({
    weight: matrix(`${name}.weight`, [outputs, inputs]),
    bias: whole(`${name}.bias`, [outputs]),
  });
  const layerNorm = (name: string, width: number): LayerNormWeights => ({ weight: whole(`${name}.weight`, [width]), bias: whole(`${name}.bias`, [width]) });
  return { matrix, whole, linear, layerNorm };
}
