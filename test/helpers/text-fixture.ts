// The moondream-tiny golden fixture (test/fixtures/moondream-tiny, see its README) uploaded for
// the text decoder tests: text weights as f32 (or, from the bf16 file, matrices as packed f16),
// the config, and the golden tensors.
import { readFileSync } from 'node:fs';
// Note: wrap Buffers in a Uint8Array: Buffer.slice() is a view, not a copy.
import type { Engine } from '../../src/gpu/engine.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { parseConfig, type MoondreamConfig } from '../../src/model/config.ts';
import { SafetensorsFile } from '../../src/model/safetensors.ts';
import { toFloat32 } from '../../src/model/weight-conversion.ts';
import { IGNORE_INDEX } from '../../src/gpu/ops/cross-entropy.ts';
import { randomFloats } from './random.ts';

const FIXTURE = new URL('../fixtures/moondream-tiny/', import.meta.url);

export const tinyConfig: MoondreamConfig = parseConfig(JSON.parse(readFileSync(new URL('config.json', FIXTURE), 'utf8')));

export function goldenFile(): SafetensorsFile {
  return new SafetensorsFile(new Uint8Array(readFileSync(new URL('golden.safetensors', FIXTURE))));
}

/**
 * Uploads every `model.text.*` tensor. 'f32': as float32. 'f16': 2-D matrices (wte, Linear
 * weights) as packed f16 (bf16 values widened, then rounded to half), the rest f32.
 */
export function uploadTextWeights(engine: Engine, file: 'model.safetensors' | 'model.bf16.safetensors', matrices: 'f32' | 'f16' = 'f32'): Map<string, Tensor> {
  const weights = new SafetensorsFile(new Uint8Array(readFileSync(new URL(file, FIXTURE))));
  const map = new Map<string, Tensor>();
  for (const name of weights.names) {
    if (!name.startsWith('model.text.')) continue;
    const info = weights.info(name);
    const values = toFloat32(info, weights.tensorBytes(name));
    const dtype = matrices === 'f16' && info.shape.length === 2 ? 'f16' : 'f32';
    map.set(name, engine.uploadWeight(values, info.shape, dtype, name));
  }
  return map;
}

/** Image rows of the tiny model (a 4×4 grid of patches). */
export const TINY_IMAGE_TOKENS = 16;

/** BOS, 16 image rows, a prompt and an answer of the given lengths; labels on the answer (shifted). */
export function trainingIds(promptLength: number, answerLength: number, seed: number): { ids: Int32Array; targets: Int32Array } {
  const length = 1 + TINY_IMAGE_TOKENS + promptLength + answerLength;
  const ids = new Int32Array(length).fill(-1);
  ids[0] = 0;
  const tokens = randomFloats(promptLength + answerLength, seed, 10, 500);
  tokens.forEach((token, i) => (ids[1 + TINY_IMAGE_TOKENS + i] = Math.floor(token)));
  const targets = new Int32Array(length).fill(IGNORE_INDEX);
  for (let t = length - answerLength; t < length; t++) targets[t - 1] = ids[t];
  return { ids, targets };
}
