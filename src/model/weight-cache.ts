// Downloads a model file once and keeps it in browser storage, in chunks, so a reload (or a
// broken connection) never downloads the same bytes twice. The file is delivered as a stream
// either way, so a 4 GB model is never held in memory whole.
//
// Storage layout in a ChunkStore: `<url>#manifest` holds JSON (size, chunk size, chunks that are
// complete), `<url>#<i>` holds chunk i. Chunks are written only when full (or the last one), so
// any chunk in the store is whole.
import { openDownload, type FetchLike } from './hub.ts';

export interface ChunkStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, data: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface StorageEstimate {
  usage: number;
  quota: number;
}

export interface DownloadProgress {
  file: string;
  doneBytes: number;
  totalBytes: number | undefined;
  /** Bytes that came from the cache rather than the network. */
  cachedBytes: number;
  bytesPerSecond: number;
  /** Seconds left at the current network rate, when known. */
  etaSeconds: number | undefined;
}

export interface CachedDownloadOptions {
  store: ChunkStore;
  fetch?: FetchLike;
  chunkBytes?: number;
  /** Expected size, when known from elsewhere (e.g. the hub API), for the storage check. */
  expectedBytes?: number;
  estimate?: () => Promise<StorageEstimate>;
  onProgress?: (progress: DownloadProgress) => void;
  /** Called once when the cache cannot take more data; the download itself continues. */
  onCacheWarning?: (message: string) => void;
  signal?: AbortSignal;
  now?: () => number;
}

interface Manifest {
  size: number | undefined;
  chunkBytes: number;
  /** Number of leading chunks stored (chunks are written in order). */
  storedChunks: number;
  complete: boolean;
}

export const DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024;

export class StorageQuotaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageQuotaError';
  }
}

const manifestKey = (url: string) => `${url}#manifest`;
const chunkKey = (url: string, index: number) => `${url}#${index}`;

async function readManifest(store: ChunkStore, url: string): Promise<Manifest | undefined> {
  const bytes = await store.get(manifestKey(url));
  if (!bytes) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as Manifest;
  } catch {
    return undefined; // A damaged manifest only costs a fresh download.
  }
}

async function writeManifest(store: ChunkStore, url: string, manifest: Manifest): Promise<void> {
  await store.put(manifestKey(url), new TextEncoder().encode(JSON.stringify(manifest)));
}

const gigabytes = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/** Throws a StorageQuotaError, before any download, when the file cannot fit in storage. */
export async function checkStorageRoom(neededBytes: number, estimate: () => Promise<StorageEstimate>, what: string): Promise<void> {
  const { usage, quota } = await estimate();
  const free = quota - usage;
  if (neededBytes > free) {
    throw new StorageQuotaError(
      `${what} needs ${gigabytes(neededBytes)} of browser storage but only ${gigabytes(free)} is free ` +
        `(${gigabytes(usage)} of ${gigabytes(quota)} used). Free disk space or clear this site's data, ` +
        'or load the model from local files (nothing is stored then).',
    );
  }
}

/**
 * The file at `url` as a stream, from the cache where it has it and from the network for the
 * rest; what comes from the network is stored as it passes.
 */
export async function cachedDownload(url: string, options: CachedDownloadOptions): Promise<{ stream: ReadableStream<Uint8Array>; totalBytes: number | undefined }> {
  const { store } = options;
  const now = options.now ?? (() => performance.now());
  const file = decodeURIComponent(url.split('?')[0].split('/').pop() ?? url);
  const previous = await readManifest(store, url);
  const chunkBytes = previous?.chunkBytes ?? options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const manifest: Manifest = previous ?? { size: options.expectedBytes, chunkBytes, storedChunks: 0, complete: false };
  const cachedBytes = manifest.complete ? (manifest.size ?? 0) : manifest.storedChunks * chunkBytes;

  if (!manifest.complete && options.estimate && manifest.size !== undefined) {
    await checkStorageRoom(manifest.size - cachedBytes, options.estimate, `Downloading ${file}`);
  }

  let caching = true;
  const stopCaching = (error: unknown) => {
    if (!caching) return;
    caching = false;
    options.onCacheWarning?.(
      `${file} could not be stored for next time (${(error as Error)?.message ?? error}); the download continues, but a reload will download it again.`,
    );
  };

  let doneBytes = 0;
  let networkBytes = 0;
  const started = now();
  const report = () => {
    const seconds = Math.max(1e-3, (now() - started) / 1000);
    const bytesPerSecond = networkBytes / seconds;
    const total = manifest.size;
    options.onProgress?.({
      file,
      doneBytes,
      totalBytes: total,
      cachedBytes: Math.min(doneBytes, cachedBytes),
      bytesPerSecond,
      etaSeconds: total !== undefined && bytesPerSecond > 0 ? (total - doneBytes) / bytesPerSecond : undefined,
    });
  };

  // Open the network part now, not when the stream is first read, so that an HTTP error (a 404
  // for a file the repository does not have) rejects this call and callers can tell "absent"
  // from "broken".
  const openFrom = (offset: number) => openDownload(url, { fetch: options.fetch, offset, signal: options.signal });
  let download = manifest.complete ? undefined : await openFrom(manifest.storedChunks * chunkBytes);
  if (download?.totalBytes !== undefined) manifest.size = download.totalBytes;

  async function* chunks(): AsyncGenerator<Uint8Array> {
    const storedChunks = manifest.complete ? Math.ceil((manifest.size ?? 0) / chunkBytes) : manifest.storedChunks;
    for (let index = 0; index < storedChunks; index++) {
      const chunk = await store.get(chunkKey(url, index));
      if (!chunk) {
        // The browser evicted part of the cache: fetch from here on.
        manifest.storedChunks = index;
        manifest.complete = false;
        await download?.body.cancel();
        download = undefined;
        break;
      }
      doneBytes += chunk.byteLength;
      report();
      yield chunk;
    }
    if (manifest.complete) return;

    download ??= await openFrom(doneBytes);
    if (download.totalBytes !== undefined) manifest.size = download.totalBytes;
    let skip = doneBytes - download.offset; // > 0 when the server ignored our Range request
    let pending = new Uint8Array(chunkBytes);
    let pendingLength = 0;
    let chunkIndex = manifest.storedChunks;

    const storeChunk = async (bytes: Uint8Array) => {
      if (!caching) return;
      try {
        await store.put(chunkKey(url, chunkIndex), bytes);
        manifest.storedChunks = chunkIndex + 1;
        await writeManifest(store, url, manifest);
      } catch (error) {
        stopCaching(error);
      }
      chunkIndex++;
    };

    const reader = download.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let bytes = value;
        if (skip > 0) {
          const dropped = Math.min(skip, bytes.byteLength);
          skip -= dropped;
          bytes = bytes.subarray(dropped);
          if (bytes.byteLength === 0) continue;
        }
        networkBytes += bytes.byteLength;
        doneBytes += bytes.byteLength;
        // Fill fixed-size chunks for the store; hand the bytes downstream unchanged.
        let offset = 0;
        while (offset < bytes.byteLength) {
          const take = Math.min(chunkBytes - pendingLength, bytes.byteLength - offset);
          pending.set(bytes.subarray(offset, offset + take), pendingLength);
          pendingLength += take;
          offset += take;
          if (pendingLength === chunkBytes) {
            await storeChunk(pending);
            pending = new Uint8Array(chunkBytes);
            pendingLength = 0;
          }
        }
        report();
        yield bytes;
      }
    } finally {
      reader.releaseLock();
    }
    if (manifest.size !== undefined && doneBytes !== manifest.size) {
      throw new Error(`The download of ${file} ended after ${doneBytes} of ${manifest.size} bytes. Try again: the part already received is kept.`);
    }
    if (pendingLength > 0) await storeChunk(pending.slice(0, pendingLength));
    manifest.size = doneBytes;
    manifest.complete = true;
    if (caching) {
      try {
        await writeManifest(store, url, manifest);
      } catch (error) {
        stopCaching(error);
      }
    }
  }

  const iterator = chunks();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel() {
      await iterator.return(undefined);
    },
  });
  return { stream, totalBytes: manifest.size };
}

/** Removes a file's chunks and manifest from the store. */
export async function evictCachedFile(url: string, store: ChunkStore): Promise<void> {
  const manifest = await readManifest(store, url);
  if (manifest) {
    const count = manifest.complete ? Math.ceil((manifest.size ?? 0) / manifest.chunkBytes) : manifest.storedChunks;
    for (let index = 0; index < count; index++) await store.delete(chunkKey(url, index));
  }
  await store.delete(manifestKey(url));
}

/** A ChunkStore over the browser's Cache API (works in pages and workers). */
export class CacheApiChunkStore implements ChunkStore {
  constructor(private readonly cacheName = 'moontune-weights-v1') {}

  private request(key: string): string {
    // Cache keys must be http(s) URLs; this origin is never fetched.
    return `https://moontune.invalid/${encodeURIComponent(key)}`;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const response = await (await caches.open(this.cacheName)).match(this.request(key));
    return response ? new Uint8Array(await response.arrayBuffer()) : undefined;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await (await caches.open(this.cacheName)).put(this.request(key), new Response(data as Uint8Array<ArrayBuffer>));
  }

  async delete(key: string): Promise<void> {
    await (await caches.open(this.cacheName)).delete(this.request(key));
  }
}

/** Asks the browser to keep our storage under pressure; returns whether it agreed. */
export async function requestPersistentStorage(): Promise<boolean> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.persist) return false;
  return (await storage.persisted?.()) || (await storage.persist());
}

/** The browser's storage estimate, for checkStorageRoom. */
export async function browserStorageEstimate(): Promise<StorageEstimate> {
  const estimate = await navigator.storage.estimate();
  return { usage: estimate.usage ?? 0, quota: estimate.quota ?? 0 };
}
