// Downloads a model file once and keeps it in browser storage, in chunks, so a reload (or a
// broken connection) never downloads the same bytes twice. The file is delivered as a stream
// either way, so a 4 GB model is never held in memory whole.
//
// Storage layout in a ChunkStore: `<url>#manifest` holds JSON (size, chunk size, chunks that are
// complete, the server's ETag), `<url>#<i>` holds chunk i. Chunks are written only when full (or
// the last one), so any chunk in the store is whole. The key is the hub's resolve/ URL, never the
// signed storage URL it redirects to (that one expires).
import { DownloadError, openDownload, type FetchLike, type OpenedDownload } from './hub.ts';

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
  /** Expected size, for the storage check when the server announces none. */
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
  /** The server's ETag for the bytes stored, when it lets us read one: a resume must match it. */
  etag?: string;
}

/** A chunk is what a broken connection can cost: at most 32 MiB, and for small files 1/64th of the file. */
export const MAX_CHUNK_BYTES = 32 * 1024 * 1024;
export const MIN_CHUNK_BYTES = 64 * 1024;
const CHUNKS_PER_SMALL_FILE = 64;

/** The chunk size for a file of `totalBytes` (MAX_CHUNK_BYTES when the size is unknown). */
export function chunkBytesFor(totalBytes: number | undefined): number {
  if (totalBytes === undefined) return MAX_CHUNK_BYTES;
  const share = Math.ceil(totalBytes / CHUNKS_PER_SMALL_FILE / MIN_CHUNK_BYTES) * MIN_CHUNK_BYTES;
  return Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, share));
}

export class StorageQuotaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageQuotaError';
  }
}

const manifestKey = (url: string) => `${url}#manifest`;
const chunkKey = (url: string, index: number) => `${url}#${index}`;
const storedChunkCount = (manifest: Manifest) => (manifest.complete ? Math.ceil((manifest.size ?? 0) / manifest.chunkBytes) : manifest.storedChunks);

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

/** Bytes for messages: "1.9 MB", "3.85 GB". */
export function describeBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/** Throws a StorageQuotaError, before any data is downloaded, when `neededBytes` cannot fit in storage. */
export async function checkStorageRoom(neededBytes: number, estimate: () => Promise<StorageEstimate>, what: string): Promise<void> {
  const { usage, quota } = await estimate();
  const free = Math.max(0, quota - usage);
  if (neededBytes > free) {
    throw new StorageQuotaError(
      `${what} needs ${describeBytes(neededBytes)} of browser storage but only ${describeBytes(free)} is free ` +
        `(${describeBytes(usage)} of ${describeBytes(quota)} used): ${describeBytes(neededBytes - free)} more is needed. ` +
        "Free disk space or clear this site's data, or load the model from local files (nothing is stored then).",
    );
  }
}

/**
 * The file at `url` as a stream, from the cache where it has it and from the network for the
 * rest; what comes from the network is stored as it passes. The network part is requested before
 * this resolves, so an HTTP error (a 404 for a file the repository does not have) rejects the
 * call, and so does a file that cannot fit in storage (checked on the response's size, before any
 * of its body is read).
 */
export async function cachedDownload(url: string, options: CachedDownloadOptions): Promise<{ stream: ReadableStream<Uint8Array>; totalBytes: number | undefined }> {
  const { store } = options;
  const now = options.now ?? (() => performance.now());
  const file = decodeURIComponent(url.split('?')[0].split('/').pop() ?? url);
  const openFrom = (offset: number) => openDownload(url, { fetch: options.fetch, offset, signal: options.signal });

  let manifest = await readManifest(store, url);
  let download: OpenedDownload | undefined;
  const resumeAt = manifest ? manifest.storedChunks * manifest.chunkBytes : 0;
  // Every chunk stored but the end not recorded (the page closed in between): nothing is missing.
  if (manifest?.size !== undefined && resumeAt >= manifest.size) manifest.complete = true;
  if (!manifest?.complete) {
    download = await openFrom(resumeAt);
    if (manifest && !sameFile(manifest, download)) {
      // The server holds another file now (a new commit on the branch): the stored part is stale.
      await evictCachedFile(url, store);
      manifest = undefined;
      if (download.offset > 0) {
        await download.body.cancel();
        download = await openFrom(0);
      }
    }
    const size = download.totalBytes ?? manifest?.size;
    manifest ??= { size, chunkBytes: options.chunkBytes ?? chunkBytesFor(size), storedChunks: 0, complete: false };
    manifest.size = size;
    manifest.etag = download.etag ?? manifest.etag;
    const neededBytes = (size ?? options.expectedBytes ?? 0) - manifest.storedChunks * manifest.chunkBytes;
    if (options.estimate && neededBytes > 0) {
      try {
        await checkStorageRoom(neededBytes, options.estimate, `Downloading ${file}`);
      } catch (error) {
        await download.body.cancel();
        throw error;
      }
    }
  }
  const state: Manifest = manifest!;
  const chunkBytes = state.chunkBytes;
  const cachedBytes = Math.min(state.size ?? Infinity, storedChunkCount(state) * chunkBytes);

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
    const total = state.size;
    options.onProgress?.({
      file,
      doneBytes,
      totalBytes: total,
      cachedBytes: Math.min(doneBytes, cachedBytes),
      bytesPerSecond,
      etaSeconds: total !== undefined && bytesPerSecond > 0 ? (total - doneBytes) / bytesPerSecond : undefined,
    });
  };

  /** The one-line message for a download that stopped short, saying what is kept for next time. */
  const brokenOff = (cause: string) => {
    const kept = caching ? state.storedChunks * chunkBytes : 0;
    const total = state.size === undefined ? '' : ` of ${describeBytes(state.size)}`;
    const keptNote = kept > 0 ? `the ${describeBytes(kept)} already stored are kept, so loading again resumes from there` : 'loading again starts it over';
    return new DownloadError(`The download of ${file} broke off after ${describeBytes(doneBytes)}${total} (${cause}); ${keptNote}.`);
  };

  async function* chunks(): AsyncGenerator<Uint8Array> {
    const storedChunks = storedChunkCount(state);
    for (let index = 0; index < storedChunks; index++) {
      const chunk = await store.get(chunkKey(url, index));
      if (!chunk) {
        // The browser evicted part of the cache: fetch from here on.
        state.storedChunks = index;
        state.complete = false;
        await download?.body.cancel();
        download = undefined;
        break;
      }
      doneBytes += chunk.byteLength;
      report();
      yield chunk;
    }
    if (state.complete) return;

    download ??= await openFrom(doneBytes);
    let skip = doneBytes - download.offset; // > 0 when the server ignored our Range request
    let pending = new Uint8Array(chunkBytes);
    let pendingLength = 0;
    let chunkIndex = state.storedChunks;

    const storeChunk = async (bytes: Uint8Array) => {
      if (!caching) return;
      try {
        await store.put(chunkKey(url, chunkIndex), bytes);
        state.storedChunks = chunkIndex + 1;
        await writeManifest(store, url, state);
      } catch (error) {
        stopCaching(error);
      }
      chunkIndex++;
    };

    const reader = download.body.getReader();
    let finished = false;
    try {
      for (;;) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          if (options.signal?.aborted) throw error;
          throw brokenOff((error as Error)?.message ?? String(error));
        }
        if (result.done) break;
        let bytes = result.value;
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
      finished = true;
    } finally {
      // Stopped early (the reader of our stream cancelled it): stop the network too.
      if (!finished) await reader.cancel().catch(() => {});
      reader.releaseLock();
    }
    if (state.size !== undefined && doneBytes !== state.size) {
      throw brokenOff(`the server sent ${describeBytes(doneBytes)} where it announced ${describeBytes(state.size)}`);
    }
    if (pendingLength > 0) await storeChunk(pending.slice(0, pendingLength));
    state.size = doneBytes;
    state.complete = true;
    if (caching) {
      try {
        await writeManifest(store, url, state);
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
      // Cancelled before the first read: the generator never took the response's body.
      if (download && !download.body.locked) await download.body.cancel().catch(() => {});
    },
  });
  return { stream, totalBytes: state.size };
}

/** Whether a response continues the stored part of a file: same size, and same ETag when both are known. */
function sameFile(manifest: Manifest, download: OpenedDownload): boolean {
  if (manifest.size !== undefined && download.totalBytes !== undefined && manifest.size !== download.totalBytes) return false;
  return manifest.etag === undefined || download.etag === undefined || manifest.etag === download.etag;
}

/** Removes a file's chunks and manifest from the store. */
export async function evictCachedFile(url: string, store: ChunkStore): Promise<void> {
  const manifest = await readManifest(store, url);
  if (manifest) {
    for (let index = 0; index < storedChunkCount(manifest); index++) await store.delete(chunkKey(url, index));
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
