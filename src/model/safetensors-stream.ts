// Streaming safetensors reader: consumes a ReadableStream<Uint8Array> (a fetch Response.body,
// Blob.stream(), or a file stream in Node) and hands over each tensor as soon as its last byte
// has arrived, in file order. At most one tensor plus one incoming chunk is held, so a 3.8 GB
// checkpoint streams through in the memory of its largest tensor.
import {
  SafetensorsError,
  checkFileLength,
  parseHeader,
  readHeaderLength,
  type SafetensorsHeader,
  type TensorInfo,
} from './safetensors.ts';

export interface StreamedTensor {
  readonly info: TensorInfo;
  /** The tensor's bytes in a buffer of their own (offset 0, so any typed view is aligned). */
  readonly bytes: Uint8Array;
}

export interface StreamProgress {
  readonly doneBytes: number;
  /** Total file size once the header is read (or the caller's expected size before that). */
  readonly totalBytes: number | undefined;
  readonly tensorsDone: number;
  readonly tensorsTotal: number | undefined;
  /** Average bytes per second since the stream started. */
  readonly bytesPerSecond: number;
  /** Seconds left at the average rate; undefined while unknown. */
  readonly etaSeconds: number | undefined;
}

export interface StreamHandlers {
  /** Called once the header is parsed, before any tensor. */
  onHeader?(header: SafetensorsHeader): void | Promise<void>;
  /** Called per tensor in file order; the stream is not read further until it resolves. */
  onTensor(tensor: StreamedTensor): void | Promise<void>;
  onProgress?(progress: StreamProgress): void;
  /** Expected file size (e.g. Content-Length), checked against the header. */
  expectedByteLength?: number;
  /** Minimum milliseconds between progress reports inside a tensor (default 100). */
  progressIntervalMs?: number;
  /** Clock in milliseconds (tests inject one). */
  now?: () => number;
}

/** Reads a whole safetensors stream, delivering tensors as they complete. Returns the header. */
export async function readSafetensorsStream(stream: ReadableStream<Uint8Array>, handlers: StreamHandlers): Promise<SafetensorsHeader> {
  const now = handlers.now ?? (() => performance.now());
  const progressInterval = handlers.progressIntervalMs ?? 100;
  const startedAt = now();
  let lastProgressAt = -Infinity;
  let doneBytes = 0;
  let tensorsDone = 0;
  let header: SafetensorsHeader | undefined;

  const report = (force: boolean) => {
    if (!handlers.onProgress) return;
    const time = now();
    if (!force && time - lastProgressAt < progressInterval) return;
    lastProgressAt = time;
    const totalBytes = header?.fileByteLength ?? handlers.expectedByteLength;
    const seconds = (time - startedAt) / 1000;
    const bytesPerSecond = seconds > 0 ? doneBytes / seconds : 0;
    handlers.onProgress({
      doneBytes,
      totalBytes,
      tensorsDone,
      tensorsTotal: header?.tensors.length,
      bytesPerSecond,
      etaSeconds: totalBytes !== undefined && bytesPerSecond > 0 ? (totalBytes - doneBytes) / bytesPerSecond : undefined,
    });
  };

  // Phase 1 collects the length and header into `prelude`; phase 2 fills one tensor at a time.
  let prelude = new Uint8Array(8);
  let preludeFilled = 0;
  let headerLength: number | undefined;
  let tensorIndex = 0;
  let current: Uint8Array | undefined;
  let currentFilled = 0;

  const deliverReady = async () => {
    // Zero-byte tensors complete without data; deliver everything that is complete.
    while (header && tensorIndex < header.tensors.length) {
      const info = header.tensors[tensorIndex];
      const length = info.end - info.begin;
      current ??= new Uint8Array(length);
      if (currentFilled < length) return;
      const bytes = current;
      current = undefined;
      currentFilled = 0;
      tensorIndex++;
      tensorsDone++;
      await handlers.onTensor({ info, bytes });
      report(true);
    }
  };

  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let chunk = value;
      doneBytes += chunk.byteLength;
      while (chunk.byteLength > 0) {
        if (!header) {
          const take = Math.min(prelude.byteLength - preludeFilled, chunk.byteLength);
          prelude.set(chunk.subarray(0, take), preludeFilled);
          preludeFilled += take;
          chunk = chunk.subarray(take);
          if (preludeFilled < prelude.byteLength) continue;
          if (headerLength === undefined) {
            headerLength = readHeaderLength(prelude, handlers.expectedByteLength);
            prelude = new Uint8Array(headerLength);
            preludeFilled = 0;
            continue;
          }
          header = parseHeader(prelude, handlers.expectedByteLength);
          await handlers.onHeader?.(header);
          report(true);
          await deliverReady();
          continue;
        }
        if (tensorIndex >= header.tensors.length) {
          throw new SafetensorsError(`File has bytes after the last tensor (at least ${chunk.byteLength}); it is not a valid safetensors file.`);
        }
        const info = header.tensors[tensorIndex];
        current ??= new Uint8Array(info.end - info.begin);
        const take = Math.min(current.byteLength - currentFilled, chunk.byteLength);
        current.set(chunk.subarray(0, take), currentFilled);
        currentFilled += take;
        chunk = chunk.subarray(take);
        await deliverReady();
      }
      report(false);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    throw error;
  } finally {
    reader.releaseLock();
  }

  if (!header) {
    const part = headerLength === undefined ? 'header length' : 'header';
    throw new SafetensorsError(`Stream ended after ${doneBytes} bytes, inside the ${part}: the file is truncated or not a safetensors file.`);
  }
  if (tensorIndex < header.tensors.length) {
    checkFileLength(header, doneBytes); // names the first incomplete tensor
  }
  report(true);
  return header;
}

/** A ReadableStream over bytes in memory, in chunks of `chunkSize` (tests, and Blob-free hosts). */
export function bytesToStream(bytes: Uint8Array, chunkSize = 1 << 20): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(offset + chunkSize, bytes.byteLength);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
  });
}
