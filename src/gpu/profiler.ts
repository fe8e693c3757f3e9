// Per-kernel GPU time, for `npm run bench -- --profile`. With the adapter's `timestamp-query`
// feature every dispatch gets a compute pass of its own whose beginning and end write timestamps
// (so profiled runs are slower than plain ones, and their absolute times only indicate); the
// query results are resolved at each flush and read when the profile stops. Without the feature
// the profile falls back to wall time per flushed group of dispatches, attributed to the group's
// labels in proportion to their counts.
//
// Counting (dispatches, submits, read-backs) is always on: the engine increments its counters.

/** One line of a profile: a dispatch label, how often it ran and its GPU time. */
export interface ProfileEntry {
  readonly label: string;
  readonly count: number;
  readonly milliseconds: number;
}

export interface EngineCounters {
  dispatches: number;
  submits: number;
  readbacks: number;
}

/** Queries per query set: a flush with more dispatches than QUERIES / 2 is split by the engine. */
export const PROFILE_QUERIES = 4096;

interface PendingGroup {
  labels: string[];
  resolveBuffer?: GPUBuffer;
  resolved?: GPUBuffer;
  submittedAt?: number;
  done?: Promise<number>;
}

export class Profiler {
  private readonly querySet: GPUQuerySet | undefined;
  private group: PendingGroup = { labels: [] };
  private readonly groups: PendingGroup[] = [];

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.features.has('timestamp-query') ? device.createQuerySet({ type: 'timestamp', count: PROFILE_QUERIES }) : undefined;
  }

  get usesTimestamps(): boolean {
    return this.querySet !== undefined;
  }

  /** Whether the group recorded so far fills the query set (the engine then flushes first). */
  get full(): boolean {
    return 2 * (this.group.labels.length + 1) > PROFILE_QUERIES;
  }

  /** Timestamp writes for the next dispatch's own pass (timestamp mode), registering its label. */
  passTimestamps(label: string): GPUComputePassTimestampWrites | undefined {
    const index = this.group.labels.length;
    this.group.labels.push(label);
    if (!this.querySet) return undefined;
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 };
  }

  /** Called with the encoder of a flush before it finishes: resolves this group's timestamps. */
  beforeSubmit(encoder: GPUCommandEncoder): void {
    const count = this.group.labels.length;
    if (count === 0) return;
    if (this.querySet) {
      const bytes = 2 * count * 8;
      const resolve = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      encoder.resolveQuerySet(this.querySet, 0, 2 * count, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, staging, 0, bytes);
      this.group.resolveBuffer = resolve;
      this.group.resolved = staging;
    }
  }

  /** Called right after the flush's submit. */
  afterSubmit(): void {
    if (this.group.labels.length === 0) return;
    this.group.resolveBuffer?.destroy(); // allowed once submitted: the GPU finishes with it first
    if (!this.querySet) {
      const started = performance.now();
      this.group.done = this.device.queue.onSubmittedWorkDone().then(() => performance.now() - started);
    }
    this.groups.push(this.group);
    this.group = { labels: [] };
  }

  /** Waits for every group and sums time per label, longest first. */
  async entries(): Promise<ProfileEntry[]> {
    const totals = new Map<string, { count: number; milliseconds: number }>();
    const add = (label: string, milliseconds: number) => {
      const total = totals.get(label) ?? { count: 0, milliseconds: 0 };
      total.count++;
      total.milliseconds += milliseconds;
      totals.set(label, total);
    };
    for (const group of this.groups) {
      if (group.resolved) {
        await group.resolved.mapAsync(GPUMapMode.READ);
        const times = new BigUint64Array(group.resolved.getMappedRange().slice(0));
        group.resolved.unmap();
        group.resolved.destroy();
        group.labels.forEach((label, i) => add(label, Number(times[2 * i + 1] - times[2 * i]) / 1e6));
      } else {
        // Wall time of the whole group, shared among its dispatches.
        const milliseconds = (await group.done!) / group.labels.length;
        for (const label of group.labels) add(label, milliseconds);
      }
    }
    this.groups.length = 0;
    return [...totals].map(([label, { count, milliseconds }]) => ({ label, count, milliseconds })).sort((a, b) => b.milliseconds - a.milliseconds);
  }

  dispose(): void {
    this.querySet?.destroy();
  }
}

/** A profile as a text table: label, count, total and mean ms, share of the total. */
export function formatProfile(entries: readonly ProfileEntry[], top = 20): string {
  const total = entries.reduce((sum, entry) => sum + entry.milliseconds, 0);
  const lines = [`${'kernel'.padEnd(44)} ${'count'.padStart(7)} ${'total ms'.padStart(10)} ${'mean ms'.padStart(9)} ${'share'.padStart(6)}`];
  for (const entry of entries.slice(0, top)) {
    lines.push(
      `${entry.label.slice(0, 44).padEnd(44)} ${String(entry.count).padStart(7)} ${entry.milliseconds.toFixed(1).padStart(10)} ${(entry.milliseconds / entry.count).toFixed(3).padStart(9)} ${((100 * entry.milliseconds) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%`,
    );
  }
  const dispatches = entries.reduce((sum, entry) => sum + entry.count, 0);
  lines.push(`${'all kernels'.padEnd(44)} ${String(dispatches).padStart(7)} ${total.toFixed(1).padStart(10)}`);
  return lines.join('\n');
}
