// The order in which training samples are visited: every epoch a fresh permutation of the train
// split, drawn from a xoshiro128** stream seeded by (run seed, epoch). Because each epoch's order
// depends only on those two numbers, the position (epoch, index within the epoch) is the whole
// state: a checkpoint stores it and a resumed run visits exactly the samples an uninterrupted run
// would have. Samples form one stream over all epochs, as upstream counts them (spec §11.1), so a
// batch or an accumulation group may span an epoch boundary.
import { Xoshiro128 } from './random.ts';

/** Where a run is in its data: serialisable, stored in checkpoints. */
export interface DataOrderState {
  seed: number;
  /** Samples in the train split when the order was made (a check against a changed dataset). */
  sampleCount: number;
  epochs: number;
  /** 0-based epoch of the next sample; equals `epochs` when the run has seen everything. */
  epoch: number;
  /** Index within that epoch's permutation of the next sample. */
  index: number;
}

/** One visited sample: which epoch and step of the order it came from, and the sample itself. */
export interface OrderedSample {
  epoch: number;
  index: number;
  /** Index into the train split. */
  sample: number;
}

/** Fisher–Yates shuffle of 0..count−1 from the (seed, epoch) stream. */
export function epochPermutation(seed: number, epoch: number, count: number): Uint32Array {
  const random = Xoshiro128.fromSeed(seed, epoch);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  for (let i = count - 1; i > 0; i--) {
    const j = random.nextBelow(i + 1);
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order;
}

export class DataOrder {
  private permutation: Uint32Array;
  private state: DataOrderState;

  private constructor(state: DataOrderState) {
    this.state = { ...state };
    this.permutation = epochPermutation(state.seed, state.epoch, state.sampleCount);
  }

  /** A fresh order at the start of epoch 0. */
  static start(seed: number, sampleCount: number, epochs: number): DataOrder {
    if (!Number.isInteger(sampleCount) || sampleCount < 1) throw new Error(`The train split has ${sampleCount} samples; training needs at least one.`);
    return new DataOrder({ seed, sampleCount, epochs, epoch: 0, index: 0 });
  }

  /** The order at a saved position, for a train split of `sampleCount` samples. */
  static resume(state: DataOrderState, sampleCount: number): DataOrder {
    if (state.sampleCount !== sampleCount) {
      throw new Error(`The checkpoint's data order was made for ${state.sampleCount} train samples, but the dataset has ${sampleCount}; load the dataset the run started with, or start a new run.`);
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || state.epoch > state.epochs || !Number.isInteger(state.index) || state.index < 0 || state.index >= Math.max(1, sampleCount)) {
      throw new Error(`The checkpoint's data position (epoch ${state.epoch}, index ${state.index}) is outside a run of ${state.epochs} epochs × ${sampleCount} samples; the checkpoint is damaged.`);
    }
    return new DataOrder(state);
  }

  /** A copy of the position, to store in a checkpoint. */
  get position(): DataOrderState {
    return { ...this.state };
  }

  /** Samples left in the run. */
  get remaining(): number {
    const { epochs, epoch, index, sampleCount } = this.state;
    return Math.max(0, (epochs - epoch) * sampleCount - index);
  }

  /** The next sample, or null when every epoch is done. */
  next(): OrderedSample | null {
    const { epochs, epoch, index, sampleCount } = this.state;
    if (epoch >= epochs) return null;
    const visited = { epoch, index, sample: this.permutation[index] };
    if (index + 1 < sampleCount) {
      this.state.index = index + 1;
    } else {
      this.state.epoch = epoch + 1;
      this.state.index = 0;
      if (this.state.epoch < epochs) this.permutation = epochPermutation(this.state.seed, this.state.epoch, sampleCount);
    }
    return visited;
  }

  /** Up to `size` next samples (fewer at the very end of the run, none when it is over). */
  nextBatch(size: number): OrderedSample[] {
    const batch: OrderedSample[] = [];
    while (batch.length < size) {
      const sample = this.next();
      if (sample === null) break;
      batch.push(sample);
    }
    return batch;
  }
}
