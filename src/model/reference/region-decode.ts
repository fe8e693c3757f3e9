// CPU reference of detect / point decoding (spec §8.6): after the prompt, each object is read as
// x, y (and for detect a size) from the region head, feeding encoded values back in.
import type { Revision } from '../revisions.ts';
import { argmax } from '../sampling.ts';
import type { Matrix } from './layers.ts';
import { decodeCoordinate, decodeSize, encodeCoordinate, encodeSize } from './region.ts';
import type { TextDecoderReference } from './text.ts';
import type { ReferenceWeights } from './weights.ts';

export interface RegionObject {
  /** Coordinate bins x, y and, for detect, size bins w, h. */
  readonly bins: number[];
  /** detect: [x_min, y_min, x_max, y_max]; point: [x, y] (normalised to [0, 1]). */
  readonly values: number[];
}

export interface RegionDecodeResult {
  readonly firstToken: number;
  readonly objects: RegionObject[];
  /** Positions at which the x, y (and size) embeddings were fed. */
  readonly stepPositions: number[];
}

/** Upstream's size bin → size: 2^((bin/1023)·10 − 10), with 1023 hard-coded whatever the bin count (spec §8.6). */
export function sizeFromBin(bin: number): number {
  return 2 ** ((bin / 1023) * 10 - 10);
}

export function regionDecode(
  mode: 'detect' | 'point',
  decoder: TextDecoderReference,
  revision: Revision,
  weights: ReferenceWeights,
  promptIds: readonly number[],
  maxObjects: number,
): RegionDecodeResult {
  const dim = revision.config.text.dim;
  const coordBins = revision.config.region.coord_out_dim;
  const sizeBins = revision.config.region.size_out_dim / 2;
  const lastRow = (hidden: Matrix) => hidden.slice(hidden.length - dim);
  const stepPositions: number[] = [];
  const step = (embedding: Matrix) => {
    stepPositions.push(decoder.position);
    return decoder.forward(embedding);
  };

  let hidden: Matrix = lastRow(decoder.forward(decoder.embed(promptIds)));
  const firstToken = argmax(decoder.logits(hidden));
  let token = firstToken;
  const objects: RegionObject[] = [];
  while (token !== revision.eosId && objects.length < maxObjects) {
    const xBin = argmax(decodeCoordinate(hidden, 1, dim, weights));
    const x = Math.fround(xBin / coordBins);
    hidden = step(encodeCoordinate([x], weights));
    const yBin = argmax(decodeCoordinate(hidden, 1, dim, weights));
    const y = Math.fround(yBin / coordBins);
    let next: Matrix = encodeCoordinate([y], weights);
    if (mode === 'detect') {
      hidden = step(next);
      const sizeLogits = decodeSize(hidden, 1, dim, weights);
      const wBin = argmax(sizeLogits.subarray(0, sizeBins));
      const hBin = argmax(sizeLogits.subarray(sizeBins));
      const w = Math.fround(sizeFromBin(wBin));
      const h = Math.fround(sizeFromBin(hBin));
      next = encodeSize([w, h], weights);
      objects.push({ bins: [xBin, yBin, wBin, hBin], values: [x - w / 2, y - h / 2, x + w / 2, y + h / 2] });
    } else {
      objects.push({ bins: [xBin, yBin], values: [x, y] });
    }
    hidden = step(next);
    token = argmax(decoder.logits(hidden));
  }
  return { firstToken, objects, stepPositions };
}
