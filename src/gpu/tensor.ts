// A tensor is a GPU buffer plus a shape and an element type. Lifetime is explicit: whoever
// creates a tensor disposes it (directly or through Engine.scope), which returns its buffer to
// the pool for reuse.

export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0) throw new Error(`Invalid tensor shape [${shape.join(', ')}]`);
    count *= dim;
  }
  return count;
}

export interface TensorOwner {
  releaseTensor(tensor: Tensor): void;
}

export class Tensor {
  readonly size: number;
  private disposed = false;

  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    private readonly owner: TensorOwner,
    /** A label for error messages and debugging (e.g. a weight name). */
    readonly label = '',
  ) {
    this.size = elementCount(shape);
  }

  get byteLength(): number {
    return this.size * BYTES_PER_ELEMENT[this.dtype];
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.owner.releaseTensor(this);
  }

  toString(): string {
    return `Tensor${this.label ? ` ${this.label}` : ''} ${this.dtype}[${this.shape.join(', ')}]`;
  }
}
