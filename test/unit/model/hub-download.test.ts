import { describe, expect, it } from 'vitest';
import { DownloadError, hubFileUrl, parseHubLocation, type FetchLike } from '../../../src/model/hub.ts';
import { StorageQuotaError, cachedDownload, evictCachedFile, type ChunkStore } from '../../../src/model/weight-cache.ts';

class MemoryStore implements ChunkStore {
  readonly entries = new Map<string, Uint8Array>();
  failPutsAfter = Infinity;
  async get(key: string) {
    return this.entries.get(key)?.slice();
  }
  async put(key: string, data: Uint8Array) {
    if (this.entries.size >= this.failPutsAfter) throw new DOMException('quota exceeded', 'QuotaExceededError');
    this.entries.set(key, data.slice());
  }
  async delete(key: string) {
    this.entries.delete(key);
  }
}

const fileBytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 255);
const url = 'https://huggingface.co/owner/model/resolve/main/model.safetensors';

interface FakeServer {
  fetch: FetchLike;
  requests: { range: string | null }[];
}

/** Serves fileBytes in 64-byte pieces; honours Range unless told not to; can cut the body short. */
function fakeServer(options: { honourRange?: boolean; cutAfter?: number; status?: number } = {}): FakeServer {
  const requests: { range: string | null }[] = [];
  const fetch: FetchLike = async (_url, init) => {
    const range = new Headers(init?.headers).get('range');
    requests.push({ range });
    if (options.status) return new Response(null, { status: options.status });
    const start = range && options.honourRange !== false ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
    const body = fileBytes.subarray(start);
    const cut = options.cutAfter;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (cut !== undefined && sent >= cut) return controller.error(new TypeError('network connection lost'));
        const piece = body.subarray(sent, sent + 64);
        if (piece.byteLength === 0) return controller.close();
        sent += piece.byteLength;
        controller.enqueue(piece.slice());
      },
    });
    const headers: Record<string, string> = { 'content-length': String(body.byteLength) };
    if (start > 0) headers['content-range'] = `bytes ${start}-${fileBytes.byteLength - 1}/${fileBytes.byteLength}`;
    return new Response(stream, { status: start > 0 ? 206 : 200, headers });
  };
  return { fetch, requests };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

describe('hub locations', () => {
  it('parses owner/name@revision and builds resolve URLs', () => {
    expect(parseHubLocation('hub:vikhyatk/moondream2@2025-06-21')).toEqual({ repo: 'vikhyatk/moondream2', revision: '2025-06-21' });
    expect(parseHubLocation('vikhyatk/moondream2')).toEqual({ repo: 'vikhyatk/moondream2', revision: 'main' });
    expect(hubFileUrl({ repo: 'vikhyatk/moondream2', revision: '2024-04-02' }, 'model.safetensors')).toBe(
      'https://huggingface.co/vikhyatk/moondream2/resolve/2024-04-02/model.safetensors',
    );
    expect(() => parseHubLocation('not a repo')).toThrow(/owner\/name@revision/);
  });
});

describe('cachedDownload', () => {
  it('streams the file, stores it in chunks, and serves the second read from the cache', async () => {
    const store = new MemoryStore();
    const server = fakeServer();
    const first = await cachedDownload(url, { store, fetch: server.fetch, chunkBytes: 300 });
    expect(await collect(first.stream)).toEqual(fileBytes);
    // 1000 bytes in 300-byte chunks: 4 chunks (the last 100 bytes) and a manifest.
    expect(store.entries.size).toBe(5);
    const second = await cachedDownload(url, { store, fetch: server.fetch });
    expect(second.totalBytes).toBe(1000);
    expect(await collect(second.stream)).toEqual(fileBytes);
    expect(server.requests).toHaveLength(1);
  });

  it('resumes a broken download from the last whole chunk with a Range request', async () => {
    const store = new MemoryStore();
    const broken = fakeServer({ cutAfter: 704 });
    const first = await cachedDownload(url, { store, fetch: broken.fetch, chunkBytes: 300 });
    await expect(collect(first.stream)).rejects.toThrow(/network connection lost/);
    const server = fakeServer();
    const progress: number[] = [];
    const second = await cachedDownload(url, { store, fetch: server.fetch, onProgress: (p) => progress.push(p.cachedBytes) });
    expect(await collect(second.stream)).toEqual(fileBytes);
    // Two whole chunks (600 bytes) survived the break; the rest is asked for from byte 600.
    expect(server.requests).toEqual([{ range: 'bytes=600-' }]);
    expect(Math.max(...progress)).toBe(600);
  });

  it('skips already-cached bytes when the server ignores Range', async () => {
    const store = new MemoryStore();
    const broken = fakeServer({ cutAfter: 400 });
    await expect(collect((await cachedDownload(url, { store, fetch: broken.fetch, chunkBytes: 300 })).stream)).rejects.toThrow();
    const server = fakeServer({ honourRange: false });
    expect(await collect((await cachedDownload(url, { store, fetch: server.fetch })).stream)).toEqual(fileBytes);
    // And the cache now holds the whole file.
    const offline = fakeServer({ status: 500 });
    expect(await collect((await cachedDownload(url, { store, fetch: offline.fetch })).stream)).toEqual(fileBytes);
    expect(offline.requests).toHaveLength(0);
  });

  it('keeps downloading when storage fills up, with a warning', async () => {
    const store = new MemoryStore();
    store.failPutsAfter = 2;
    const warnings: string[] = [];
    const server = fakeServer();
    const download = await cachedDownload(url, { store, fetch: server.fetch, chunkBytes: 300, onCacheWarning: (m) => warnings.push(m) });
    expect(await collect(download.stream)).toEqual(fileBytes);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/model\.safetensors could not be stored/);
  });

  it('refuses to start when the file cannot fit in storage, before any request', async () => {
    const store = new MemoryStore();
    const server = fakeServer();
    const attempt = cachedDownload(url, {
      store,
      fetch: server.fetch,
      expectedBytes: 4e9,
      estimate: async () => ({ usage: 1e9, quota: 3e9 }),
    });
    await expect(attempt).rejects.toThrow(StorageQuotaError);
    await expect(attempt).rejects.toThrow(/needs 4\.00 GB .* only 2\.00 GB is free/);
    expect(server.requests).toHaveLength(0);
  });

  it('refetches from the first chunk the browser evicted', async () => {
    const store = new MemoryStore();
    await collect((await cachedDownload(url, { store, fetch: fakeServer().fetch, chunkBytes: 300 })).stream);
    store.entries.delete(`${url}#2`);
    const server = fakeServer();
    expect(await collect((await cachedDownload(url, { store, fetch: server.fetch })).stream)).toEqual(fileBytes);
    expect(server.requests).toEqual([{ range: 'bytes=600-' }]);
    await evictCachedFile(url, store);
    expect(store.entries.size).toBe(0);
  });

  it('explains HTTP failures', async () => {
    const store = new MemoryStore();
    // The call itself rejects (the request is made before the stream is handed out), so a caller
    // can treat a 404 as "the repository has no such file".
    const notFound = cachedDownload(url, { store, fetch: fakeServer({ status: 404 }).fetch });
    await expect(notFound).rejects.toThrow(DownloadError);
    await expect(notFound).rejects.toMatchObject({ status: 404 });
    await expect(
      cachedDownload(url, { store, fetch: fakeServer({ status: 403 }).fetch }).then((d) => collect(d.stream)),
    ).rejects.toThrow(/gated or private/);
    await expect(
      cachedDownload(url, { store, fetch: async () => Promise.reject(new TypeError('fetch failed')) }).then((d) => collect(d.stream)),
    ).rejects.toThrow(/Could not reach huggingface\.co/);
  });
});
