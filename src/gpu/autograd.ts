// A gradient tape: model code writes only the forward, through the wrappers in autograd-ops.ts,
// passing a Tape while training and null at inference (no recording, nothing saved).
//
// Each wrapped op whose inputs require a gradient records one backward closure. backward(loss)
// runs them in reverse order; a closure receives dLoss/dOutput and hands each input's gradient
// to accumulate(), which sums when a tensor feeds several ops. Only watched tensors (trainable
// parameters) and tensors computed from them require gradients, so frozen weights never get
// gradient buffers.
//
// Lifetime: tensors an op needs for its backward are save()d; forward code release()s its
// intermediates, which disposes them at once unless saved (then after backward), so inference
// frees them immediately and training keeps only what backward needs. dispose() frees what the
// tape still holds (gradients, saved intermediates if backward never ran).
import type { Engine } from './engine.ts';
import { accumulate } from './ops/elementwise.ts';
import type { Tensor } from './tensor.ts';

interface TapeRecord {
  outputs: readonly Tensor[];
  /** Gets dLoss/dOutput per output (undefined where no gradient reached it). */
  backward: (gradOutputs: readonly (Tensor | undefined)[]) => void;
}

export class Tape {
  private readonly watched = new Set<Tensor>();
  private readonly requiring = new Set<Tensor>();
  private readonly records: TapeRecord[] = [];
  private readonly saved = new Set<Tensor>();
  /** Saved tensors their owner has release()d: the tape disposes them once backward is done. */
  private readonly released = new Set<Tensor>();
  private readonly grads = new Map<Tensor, Tensor>();
  private backwardDone = false;
  private root: Tensor | null = null;

  constructor(readonly engine: Engine) {}

  /** Marks trainable tensors: they (and what is computed from them) get gradients. */
  watch(...tensors: Tensor[]): void {
    for (const tensor of tensors) {
      if (tensor.dtype !== 'f32') throw new Error(`Only f32 tensors can be trained; ${tensor} is ${tensor.dtype}. Load trainable weights as f32.`);
      this.watched.add(tensor);
      this.requiring.add(tensor);
    }
  }

  isWatched(tensor: Tensor): boolean {
    return this.watched.has(tensor);
  }

  requiresGrad(tensor: Tensor | undefined | null): boolean {
    return tensor !== undefined && tensor !== null && this.requiring.has(tensor);
  }

  /**
   * Records an op's backward when any input requires a gradient (returns whether it did).
   * The outputs then require gradients too.
   */
  record(inputs: readonly (Tensor | undefined | null)[], outputs: readonly Tensor[], backward: TapeRecord['backward']): boolean {
    if (this.backwardDone) throw new Error('This tape has already run backward(); start a new Tape for the next step.');
    if (!inputs.some((input) => this.requiresGrad(input))) return false;
    for (const output of outputs) this.requiring.add(output);
    this.records.push({ outputs, backward });
    return true;
  }

  /**
   * Marks a tensor as needed by backward. A saved tensor that its owner release()s stays alive
   * until backward is done; tensors nobody releases (inputs owned by the caller) are untouched.
   */
  save<T extends Tensor>(tensor: T): T {
    this.saved.add(tensor);
    return tensor;
  }

  /** Disposes `tensor` now, or after backward if the tape saved it. */
  release(tensor: Tensor): void {
    if (this.saved.has(tensor)) this.released.add(tensor);
    else tensor.dispose();
  }

  /**
   * Adds a gradient for `tensor`, taking ownership of `grad` (it must not be used afterwards).
   * Ignored for tensors that need no gradient.
   */
  accumulate(tensor: Tensor, grad: Tensor): void {
    if (!this.requiring.has(tensor)) {
      grad.dispose();
      return;
    }
    if (grad.size !== tensor.size) throw new Error(`Gradient ${grad} does not match ${tensor}`);
    this.engine.keep(grad);
    const existing = this.grads.get(tensor);
    if (existing) {
      accumulate(this.engine, existing, grad);
      grad.dispose();
    } else {
      this.grads.set(tensor, grad);
    }
  }

  /**
   * Back-propagates from a scalar loss (dLoss/dLoss = 1), or from `seed` = dLoss/dOutput when the
   * loss is a sum against a known gradient (the tape takes ownership of `seed`).
   */
  backward(output: Tensor, seed?: Tensor): void {
    if (this.backwardDone) throw new Error('backward() runs once per tape.');
    this.backwardDone = true;
    this.root = output;
    if (!this.requiring.has(output)) throw new Error(`${output} does not depend on any watched tensor; nothing to differentiate.`);
    this.accumulate(output, seed ?? this.engine.upload(Float32Array.of(1), output.shape));
    for (let index = this.records.length - 1; index >= 0; index--) {
      const record = this.records[index];
      const gradOutputs = record.outputs.map((tensor) => this.grads.get(tensor));
      if (gradOutputs.every((grad) => grad === undefined)) continue;
      record.backward(gradOutputs);
      // Intermediate gradients are consumed; only watched tensors keep theirs.
      for (const tensor of record.outputs) {
        const grad = this.grads.get(tensor);
        if (grad && !this.watched.has(tensor)) {
          grad.dispose();
          this.grads.delete(tensor);
        }
      }
    }
    this.records.length = 0;
    this.freeSaved();
  }

  /** Whether backward() started from this tensor (ops with a fused loss gradient check it). */
  isRoot(tensor: Tensor): boolean {
    return this.root === tensor;
  }

  /** dLoss/dTensor for a watched tensor, or undefined if the loss does not depend on it. */
  grad(tensor: Tensor): Tensor | undefined {
    if (!this.watched.has(tensor)) throw new Error(`${tensor} is not watched by this tape; call tape.watch() on trainable tensors before the forward.`);
    return this.grads.get(tensor);
  }

  /** Frees saved tensors and gradients (read or copy gradients you need first). */
  dispose(): void {
    this.freeSaved();
    for (const grad of this.grads.values()) grad.dispose();
    this.grads.clear();
    this.records.length = 0;
    this.requiring.clear();
    this.watched.clear();
  }

  private freeSaved(): void {
    for (const tensor of this.released) tensor.dispose();
    this.released.clear();
    this.saved.clear();
  }
}

/**
 * Forward code calls this for intermediates it no longer needs: disposed at once at inference
 * (tape null), or once backward is done if the tape saved them.
 */
export function release(tape: Tape | null, ...tensors: (Tensor | undefined)[]): void {
  for (const tensor of tensors) {
    if (!tensor) continue;
    if (tape) tape.release(tensor);
    else tensor.dispose();
  }
}
