// A gradient tape, and apply(): how every differentiable op runs. An op declares its forward,
// its backward and what the backward needs (DifferentiableOp, as tinygrad's Function); model
// code calls apply(engine, tape, op, inputs, args), passing a Tape while training and null at
// inference (nothing recorded, nothing kept).
//
// When an input requires a gradient, apply() records the op's backward. backward(loss) runs the
// records in reverse order; each hands every input's gradient to accumulate(), which sums when a
// tensor feeds several ops. Only watched tensors (trainable parameters) and tensors computed
// from them require gradients, so frozen weights never get gradient buffers.
//
// Lifetime: the inputs and output an op declares it needs are save()d, and the intermediates its
// forward made for the backward belong to the tape; forward code release()s the tensors it no
// longer needs, which disposes them at once unless saved (then after backward). So inference
// frees everything immediately and training keeps only what backward needs. dispose() frees what
// the tape still holds (gradients, saved tensors if backward never ran).
import type { Engine } from './engine.ts';
import { accumulate, copy } from './ops/elementwise.ts';
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

  /** A saved tensor handed back as a gradient (a fused gradient): it is no longer freed with the saved ones. */
  adopt(tensor: Tensor): void {
    this.saved.delete(tensor);
    this.released.delete(tensor);
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

  /** Hands over dLoss/dTensor for a watched tensor: the caller owns it, the tape forgets it. */
  takeGrad(tensor: Tensor): Tensor | undefined {
    const grad = this.grad(tensor);
    this.grads.delete(tensor);
    return grad;
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

/** What an op's backward receives from its forward. */
export interface SavedForBackward<Args> {
  readonly inputs: readonly (Tensor | undefined)[];
  readonly output: Tensor;
  /** Tensors the forward made for the backward only (ForwardResult.intermediates). */
  readonly intermediates: readonly Tensor[];
  readonly args: Args;
  /** needsGradient[i]: inputs[i] requires a gradient. Compute only those. */
  readonly needsGradient: readonly boolean[];
  /** The tape, for ops whose fused gradient is only valid at the root (isRoot). */
  readonly tape: Tape;
}

export interface ForwardResult {
  readonly output: Tensor;
  /** Made by the forward for the backward only: kept by the tape while training, freed at once at inference. */
  readonly intermediates?: readonly Tensor[];
}

/**
 * A differentiable op: forward, backward, and what the backward reads. Inputs are positional;
 * an absent optional input is `undefined`. backward returns one gradient per input (undefined
 * where none is needed), each a new tensor the tape takes over, or one of the intermediates
 * (a fused gradient computed by the forward); it must not return or dispose gradOutput.
 */
export interface DifferentiableOp<Args = undefined> {
  readonly name: string;
  /** Which inputs (by index) and whether the output the backward reads; they stay alive until it has run. */
  readonly saves: { readonly inputs?: readonly number[]; readonly output?: boolean };
  forward(engine: Engine, inputs: readonly (Tensor | undefined)[], args: Args): ForwardResult;
  backward(engine: Engine, gradOutput: Tensor, saved: SavedForBackward<Args>): readonly (Tensor | undefined)[];
}

/**
 * Runs an op forward and, with a tape and an input that requires a gradient, records its
 * backward (the one place that does the saving and releasing). Returns the op's output.
 */
export function apply<Args = undefined>(
  engine: Engine,
  tape: Tape | null,
  op: DifferentiableOp<Args>,
  inputs: readonly (Tensor | undefined)[],
  ...[args]: Args extends undefined ? [] : [args: Args]
): Tensor {
  const { output, intermediates = [] } = op.forward(engine, inputs, args as Args);
  const needsGradient = inputs.map((input) => tape?.requiresGrad(input) ?? false);
  if (!tape || !needsGradient.some(Boolean)) {
    for (const tensor of intermediates) tensor.dispose();
    return output;
  }
  tape.record(inputs, [output], ([gradOutput]) => {
    const grads = op.backward(engine, gradOutput!, { inputs, output, intermediates, args: args as Args, needsGradient, tape });
    grads.forEach((grad, index) => {
      if (!grad) return;
      if (intermediates.includes(grad)) tape.adopt(grad);
      const input = inputs[index];
      if (input && needsGradient[index]) tape.accumulate(input, grad);
      else grad.dispose();
    });
  });
  for (const index of op.saves.inputs ?? []) {
    const input = inputs[index];
    if (input) tape.save(input);
  }
  if (op.saves.output) tape.save(output);
  for (const tensor of intermediates) {
    tape.save(tensor);
    tape.release(tensor);
  }
  return output;
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

/**
 * Recomputation (activation checkpointing): `run` goes forward without recording, so of what it
 * computes only its output and `inputs` outlive it; the backward pass runs it again under a tape
 * of its own, back-propagates the output's gradient through that copy and hands the gradients of
 * `inputs` and `parameters` on to `tape`. The memory of everything `run` keeps for its backward
 * is then held for one call at a time instead of for the whole forward pass, for the cost of a
 * second forward. `run` must compute the same thing both times (no randomness) and must not
 * release its inputs. `parameters`: every trainable tensor `run` reads (those `tape` watches).
 */
export function recomputed(
  engine: Engine,
  tape: Tape | null,
  inputs: readonly Tensor[],
  parameters: readonly Tensor[],
  run: (tape: Tape | null, inputs: readonly Tensor[]) => Tensor,
): Tensor {
  const output = run(null, inputs);
  if (!tape) return output;
  const trained = [...new Set([...inputs, ...parameters])].filter((tensor) => tape.requiresGrad(tensor));
  if (!tape.record(trained, [output], ([gradOutput]) => {
    const inner = new Tape(engine);
    inner.watch(...trained);
    const again = run(inner, inputs);
    inner.backward(again, copy(engine, gradOutput!));
    for (const tensor of trained) {
      const grad = inner.takeGrad(tensor);
      if (grad) tape.accumulate(tensor, grad);
    }
    inner.dispose();
    again.dispose();
  })) return output;
  for (const input of inputs) tape.save(input);
  return output;
}
