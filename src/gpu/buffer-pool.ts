// Reuses GPU buffers by size so a training step that frees what it allocates makes no new
// allocations on the next step. Sizes are rounded up to a size class so nearby sizes share
// buffers; the class is at most 1/8 larger than the request (plus 256-byte alignment).

const ALIGNMENT = 256;

/** Rounds a byte size up to its size class. */
export function sizeClass(byteLength: number): number {
  const aligned = Math.max(ALIGNMENT, Math.ceil(byteLength / ALIGNMENT) * ALIGNMENT);
  if (aligned <= 4096) return aligned;
  // Keep 3 significant bits: at most 12.5% waste.
  const step = 2 ** (Math.floor(Math.log2(aligned)) - 3);
  return Math.ceil(aligned / step) * step;
}

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** The most live bytes at any moment since the pool was made or resetPeak() (what a run needs). */
  peakLiveBytes: number;
  /** Buffers kept for reuse. */
  freeBuffers: number;
  freeBytes: number;
  /** Buffers ever created with device.createBuffer. */
  created: number;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly live = new Set<GPUBuffer>();
  private liveBytes = 0;
  private peakLiveBytes = 0;
  private freeBytes = 0;
  private created = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize = device.limits.maxBufferSize) {}

  acquire(byteLength: number, usage: GPUBufferUsageFlags): GPUBuffer {
    // Near the limit, the size class may pass it where the request itself does not: use the request.
    const exact = Math.ceil(byteLength / ALIGNMENT) * ALIGNMENT;
    const size = sizeClass(byteLength) > this.maxBufferSize && exact <= this.maxBufferSize ? exact : sizeClass(byteLength);
    if (size > this.maxBufferSize) {
      throw new Error(
        `A ${byteLength}-byte buffer exceeds this GPU's maxBufferSize (${this.maxBufferSize} bytes).`,
      );
    }
    const key = `${usage}:${size}`;
    let buffer = this.free.get(key)?.pop();
    if (buffer) {
      this.freeBytes -= size;
    } else {
      buffer = this.device.createBuffer({ size, usage });
      this.created++;
    }
    this.live.add(buffer);
    this.liveBytes += size;
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.live.delete(buffer)) throw new Error('Buffer released twice or not from this pool');
    this.liveBytes -= buffer.size;
    const key = `${buffer.usage}:${buffer.size}`;
    const list = this.free.get(key);
    if (list) list.push(buffer);
    else this.free.set(key, [buffer]);
    this.freeBytes += buffer.size;
  }

  /** Starts measuring the peak again from the bytes live now. */
  resetPeak(): void {
    this.peakLiveBytes = this.liveBytes;
  }

  /** Destroys every buffer kept for reuse (live buffers are untouched). */
  trim(): void {
    for (const list of this.free.values()) for (const buffer of list) buffer.destroy();
    this.free.clear();
    this.freeBytes = 0;
  }

  stats(): PoolStats {
    let freeBuffers = 0;
    for (const list of this.free.values()) freeBuffers += list.length;
    return {
      liveBuffers: this.live.size,
      liveBytes: this.liveBytes,
      peakLiveBytes: this.peakLiveBytes,
      freeBuffers,
      freeBytes: this.freeBytes,
      created: this.created,
    };
  }
}
