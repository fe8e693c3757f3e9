// The engine: one GPUDevice, a buffer pool, a pipeline cache and a command recorder.
//
// Ordering rule: compute dispatches are recorded into one command encoder and submitted on
// flush(). Queue writes (uploads) run at the moment they are issued, before anything still
// recorded, so upload() and read() flush first. Uniform parameters of recorded dispatches
// live in one staging block that is written to the GPU right before its encoder is submitted,
// which keeps them in order too.
import { BufferPool, type PoolStats } from './buffer-pool.ts';
import type { GpuContext } from './device.ts';
import { float16BitsToFloat32, float32ToFloat16Bits } from './f16.ts';
import { Profiler, type EngineCounters, type ProfileEntry } from './profiler.ts';
import { BYTES_PER_ELEMENT, Tensor, elementCount, type DType, type TensorOwner } from './tensor.ts';

/** Per-dispatch uniform blocks are 256-byte aligned (minUniformBufferOffsetAlignment). */
const UNIFORM_SLOT_BYTES = 256;
const UNIFORM_SLOTS = 512;

// A function, not a constant: in Node the GPU* globals exist only once a device is acquired.
const tensorUsage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Views own nothing: their buffer stays with the tensor they view. */
const VIEW_OWNER: TensorOwner = { releaseTensor() {} };

export type TypedData = Float32Array | Int32Array | Uint32Array | Uint16Array;

export type Binding = Tensor | GPUBuffer;

export interface DispatchOptions {
  /** Uniform parameters, bound after the tensors (at binding = bindings.length). At most 256 bytes. */
  params?: ArrayBuffer | ArrayBufferView;
  label?: string;
}

/** A WGSL compile error or an invalid GPU command, surfaced at the next read() or sync(). */
export class GpuValidationError extends Error {
  constructor(message: string) {
    super(`GPU validation error: ${message}`);
    this.name = 'GpuValidationError';
  }
}

/** The buffer limits the engine keeps to (a subset of GPUSupportedLimits). */
export interface EngineLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export class Engine implements TensorOwner {
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformBuffer: GPUBuffer;
  private readonly uniformStaging = new Uint8Array(UNIFORM_SLOT_BYTES * UNIFORM_SLOTS);
  private uniformSlotsUsed = 0;
  private readonly scopes: Set<Tensor>[] = [];
  /** Tensors created outside the pool (weights): destroyed on dispose instead of pooled. */
  private readonly unpooled = new WeakSet<Tensor>();
  /**
   * The first validation error the device reported since the last sync point. WebGPU reports
   * shader compile errors and invalid commands asynchronously and otherwise carries on with
   * garbage results, so read() and sync() throw it instead.
   */
  private pendingError: string | null = null;
  /** Unpooled buffers disposed while recorded work may still use them: destroyed after submit. */
  private destroyAfterSubmit: GPUBuffer[] = [];
  /** Dispatches recorded, command buffers submitted and tensors read back since creation (or resetCounters()). */
  readonly counters: EngineCounters = { dispatches: 0, submits: 0, readbacks: 0 };
  private profiler: Profiler | undefined;

  /**
   * The buffer limits every op plans for (weights split, batches chunked) and every dispatch is
   * checked against: the device's, or smaller ones given to the constructor — what a browser
   * granting only WebGPU's defaults would give, scaled to a tiny model in tests.
   */
  readonly limits: EngineLimits;

  constructor(readonly context: GpuContext, limits: Partial<EngineLimits> = {}) {
    this.device = context.device;
    this.limits = {
      maxStorageBufferBindingSize: Math.min(limits.maxStorageBufferBindingSize ?? Infinity, this.device.limits.maxStorageBufferBindingSize),
      maxBufferSize: Math.min(limits.maxBufferSize ?? Infinity, this.device.limits.maxBufferSize),
    };
    this.pool = new BufferPool(this.device, this.limits.maxBufferSize);
    this.uniformBuffer = this.device.createBuffer({
      size: this.uniformStaging.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'moontune uniforms',
    });
    this.device.addEventListener('uncapturederror', (event) => {
      this.pendingError ??= (event as GPUUncapturedErrorEvent).error.message;
    });
  }

  get hasF16(): boolean {
    return this.context.hasF16;
  }

  // ---- tensors -------------------------------------------------------------------------------

  /** A tensor with undefined contents, from the pool. */
  empty(shape: readonly number[], dtype: DType = 'f32', label = ''): Tensor {
    const bytes = Math.max(4, elementCount(shape) * BYTES_PER_ELEMENT[dtype]);
    const tensor = new Tensor(this.pool.acquire(bytes, tensorUsage()), shape, dtype, this, label);
    this.track(tensor);
    return tensor;
  }

  /** A zero-filled tensor. */
  zeros(shape: readonly number[], dtype: DType = 'f32', label = ''): Tensor {
    const tensor = this.empty(shape, dtype, label);
    this.clear(tensor);
    return tensor;
  }

  /**
   * Records setting every element of `tensor` to zero (a clearBuffer: NaN and infinities are
   * cleared too, which multiplying by zero would keep).
   */
  clear(tensor: Tensor): void {
    // clearBuffer is an encoder command: it is invalid while a compute pass is open.
    this.endPass();
    this.commandEncoder().clearBuffer(tensor.buffer, 0, alignedByteLength(tensor));
  }

  /**
   * Uploads host data. f32 data uploaded as 'f16' is converted; Uint16Array data for 'f16' is
   * taken as raw half-precision bits.
   */
  upload(data: TypedData | readonly number[], shape: readonly number[], dtype: DType = 'f32', label = ''): Tensor {
    const tensor = this.empty(shape, dtype, label);
    this.write(tensor, data);
    return tensor;
  }

  /**
   * The same buffer under another shape of equal size (no copy). The view is valid only while
   * `tensor` lives, disposing it does nothing, and a tape sees it as a tensor of its own: use it
   * to pass inputs that need no gradient, or to read.
   */
  view(tensor: Tensor, shape: readonly number[], label = tensor.label): Tensor {
    if (elementCount(shape) !== tensor.size) throw new Error(`Cannot view ${tensor} as [${shape.join(', ')}]: the sizes differ.`);
    return new Tensor(tensor.buffer, shape, tensor.dtype, VIEW_OWNER, label);
  }

  /** A tensor with its own exactly-sized buffer (not pooled): for weights that live long. */
  uploadWeight(data: TypedData, shape: readonly number[], dtype: DType, label = ''): Tensor {
    const bytes = Math.max(4, elementCount(shape) * BYTES_PER_ELEMENT[dtype]);
    if (bytes > this.limits.maxBufferSize) throw new Error(`${label || 'A weight'} [${shape.join(', ')}] of ${bytes} bytes exceeds this GPU's maxBufferSize (${this.limits.maxBufferSize} bytes).`);
    const buffer = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: tensorUsage(), label });
    const tensor = new Tensor(buffer, shape, dtype, this, label);
    this.unpooled.add(tensor);
    this.write(tensor, data);
    return tensor;
  }

  write(tensor: Tensor, data: TypedData | readonly number[]): void {
    const bytes = toDeviceBytes(data, tensor.dtype);
    if (bytes.byteLength !== tensor.byteLength) {
      throw new Error(`${tensor}: got ${bytes.byteLength} bytes of data, expected ${tensor.byteLength}`);
    }
    this.flush();
    // writeBuffer needs a multiple of 4 bytes; pad odd f16 lengths.
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    this.device.queue.writeBuffer(tensor.buffer, 0, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** Reads a tensor back to the host. f16 tensors come back widened to Float32Array. */
  async read(tensor: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    const byteLength = alignedByteLength(tensor);
    const staging = this.device.createBuffer({ size: byteLength, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(tensor.buffer, 0, staging, 0, byteLength);
    this.flush();
    this.counters.readbacks++;
    await staging.mapAsync(GPUMapMode.READ);
    this.throwPendingError();
    const copy = staging.getMappedRange().slice(0, tensor.byteLength);
    staging.unmap();
    staging.destroy();
    switch (tensor.dtype) {
      case 'f32':
        return new Float32Array(copy);
      case 'i32':
        return new Int32Array(copy);
      case 'u32':
        return new Uint32Array(copy);
      case 'f16': {
        const half = new Uint16Array(copy);
        const out = new Float32Array(half.length);
        for (let i = 0; i < half.length; i++) out[i] = float16BitsToFloat32(half[i]);
        return out;
      }
    }
  }

  /** Reads an f32 (or f16) tensor as Float32Array. */
  async readFloat(tensor: Tensor): Promise<Float32Array> {
    if (tensor.dtype !== 'f32' && tensor.dtype !== 'f16') throw new Error(`${tensor} is not a float tensor`);
    return (await this.read(tensor)) as Float32Array;
  }

  releaseTensor(tensor: Tensor): void {
    for (const scope of this.scopes) scope.delete(tensor);
    if (!this.unpooled.has(tensor)) this.pool.release(tensor.buffer);
    else if (this.encoder) this.destroyAfterSubmit.push(tensor.buffer);
    else tensor.buffer.destroy();
  }

  // ---- lifetime scopes -------------------------------------------------------------------------

  /**
   * Runs fn and disposes every tensor created inside it, except the tensors it returns
   * (a Tensor, or an array / plain object whose values are Tensors) and those passed to keep().
   */
  scope<T>(fn: () => T): T {
    const created = new Set<Tensor>();
    this.scopes.push(created);
    let result: T;
    try {
      result = fn();
    } finally {
      this.scopes.pop();
    }
    const kept = new Set<Tensor>(collectTensors(result));
    for (const tensor of created) {
      if (kept.has(tensor)) {
        // Returned tensors belong to the enclosing scope, if any.
        this.scopes.at(-1)?.add(tensor);
      } else {
        tensor.dispose();
      }
    }
    return result;
  }

  /** Exempts tensors from the scopes they were created in. */
  keep<T extends Tensor>(tensor: T): T {
    for (const scope of this.scopes) scope.delete(tensor);
    return tensor;
  }

  private track(tensor: Tensor): void {
    this.scopes.at(-1)?.add(tensor);
  }

  // ---- kernels ------------------------------------------------------------------------------

  /** A compute pipeline for a WGSL module and entry point, compiled once and cached. */
  pipeline(code: string, entryPoint = 'main', constants?: Record<string, number>): GPUComputePipeline {
    const key = `${entryPoint}\u0000${constants ? JSON.stringify(constants) : ''}\u0000${code}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(code);
      if (!module) {
        module = this.device.createShaderModule({ code });
        this.modules.set(code, module);
      }
      pipeline = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint, constants },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  /**
   * Records one dispatch. Bindings 0..n-1 are the given tensors/buffers in order (storage);
   * binding n is the uniform parameter block when options.params is given. With layout 'auto',
   * only bindings the entry point uses may be passed.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    bindings: readonly Binding[],
    workgroups: readonly [number, number?, number?],
    options: DispatchOptions = {},
  ): void {
    for (const binding of bindings) {
      if (binding instanceof Tensor && binding.isDisposed) throw new Error(`${binding} used after dispose`);
      // The device would reject a larger binding too, but later and without naming the tensor.
      if (binding instanceof Tensor && binding.byteLength > this.limits.maxStorageBufferBindingSize) {
        throw new Error(`${options.label ?? 'A dispatch'} binds ${binding} (${binding.byteLength} bytes), over this GPU's maxStorageBufferBindingSize of ${this.limits.maxStorageBufferBindingSize} bytes.`);
      }
    }
    const entries: GPUBindGroupEntry[] = bindings.map((binding, index) => ({
      binding: index,
      // A pooled buffer may be up to 12.5% larger than its tensor: bind only the tensor's bytes,
      // so a tensor just under maxStorageBufferBindingSize still binds.
      resource: binding instanceof Tensor ? { buffer: binding.buffer, size: alignedByteLength(binding) } : { buffer: binding },
    }));
    if (options.params) {
      if (this.uniformSlotsUsed === UNIFORM_SLOTS) this.flush();
      const bytes =
        options.params instanceof ArrayBuffer
          ? new Uint8Array(options.params)
          : new Uint8Array(options.params.buffer, options.params.byteOffset, options.params.byteLength);
      if (bytes.byteLength > UNIFORM_SLOT_BYTES) throw new Error('Uniform parameters exceed 256 bytes');
      const offset = this.uniformSlotsUsed * UNIFORM_SLOT_BYTES;
      this.uniformStaging.set(bytes, offset);
      this.uniformSlotsUsed++;
      entries.push({
        binding: bindings.length,
        resource: { buffer: this.uniformBuffer, offset, size: Math.max(16, Math.ceil(bytes.byteLength / 16) * 16) },
      });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries, label: options.label });
    this.counters.dispatches++;
    if (this.profiler?.full) this.flush();
    // Profiling: each dispatch in a pass of its own, timestamped at its beginning and end.
    const timestampWrites = this.profiler?.passTimestamps(options.label ?? 'unlabelled');
    if (timestampWrites) this.endPass();
    const pass = timestampWrites ? this.commandEncoder().beginComputePass({ timestampWrites }) : this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = workgroups;
    const limit = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > limit || y > limit || z > limit) {
      throw new Error(`Dispatch ${options.label ?? ''} of [${x}, ${y}, ${z}] workgroups exceeds the limit ${limit} per dimension`);
    }
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    if (timestampWrites) pass.end();
  }

  /** Records a buffer-to-buffer copy. */
  copy(source: Tensor, destination: Tensor, byteLength = source.byteLength, sourceOffset = 0, destinationOffset = 0): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(source.buffer, sourceOffset, destination.buffer, destinationOffset, byteLength);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.uniformSlotsUsed > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStaging, 0, this.uniformSlotsUsed * UNIFORM_SLOT_BYTES);
      this.uniformSlotsUsed = 0;
    }
    this.profiler?.beforeSubmit(this.encoder);
    this.device.queue.submit([this.encoder.finish()]);
    this.counters.submits++;
    this.profiler?.afterSubmit();
    this.encoder = null;
    // Destroying after submit is allowed: the GPU finishes the submitted work first.
    for (const buffer of this.destroyAfterSubmit) buffer.destroy();
    this.destroyAfterSubmit = [];
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwPendingError();
  }

  private throwPendingError(): void {
    const message = this.pendingError;
    if (message === null) return;
    this.pendingError = null;
    throw new GpuValidationError(message);
  }

  resetCounters(): void {
    Object.assign(this.counters, { dispatches: 0, submits: 0, readbacks: 0 });
  }

  /** Starts timing every dispatch (profiler.ts); stopProfile() returns GPU time per label. */
  startProfile(): void {
    this.flush();
    this.profiler ??= new Profiler(this.device);
  }

  async stopProfile(): Promise<ProfileEntry[]> {
    const profiler = this.profiler;
    if (!profiler) throw new Error('stopProfile: no profile was started (call startProfile() first).');
    await this.sync();
    this.profiler = undefined;
    const entries = await profiler.entries();
    profiler.dispose();
    return entries;
  }

  poolStats(): PoolStats {
    return this.pool.stats();
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

function alignedByteLength(tensor: Tensor): number {
  return Math.max(4, Math.ceil(tensor.byteLength / 4) * 4);
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  padded.set(bytes);
  return padded;
}

function toDeviceBytes(data: TypedData | readonly number[], dtype: DType): Uint8Array {
  let typed: TypedData;
  switch (dtype) {
    case 'f32':
      typed = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      break;
    case 'i32':
      typed = data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
      break;
    case 'u32':
      typed = data instanceof Uint32Array ? data : Uint32Array.from(data as ArrayLike<number>);
      break;
    case 'f16': {
      if (data instanceof Uint16Array) {
        typed = data;
      } else {
        const source = data as ArrayLike<number>;
        const half = new Uint16Array(source.length);
        for (let i = 0; i < source.length; i++) half[i] = float32ToFloat16Bits(source[i]);
        typed = half;
      }
      break;
    }
  }
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function collectTensors(value: unknown): Tensor[] {
  if (value instanceof Tensor) return [value];
  if (Array.isArray(value)) return value.flatMap(collectTensors);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).flatMap(collectTensors);
  }
  return [];
}
