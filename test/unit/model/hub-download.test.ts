import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, hubFileUrl, parseHubLocation, type FetchLike } from '../../../src/model/hub.ts';
import { StorageQuotaError, cachedDownload, chunkBytesFor, evictCachedFile, type ChunkStore } from '../../../src/model/weight-cache.ts';
import { startHubStandIn, type HubStandIn } from '../../helpers/hub-stand-in.ts';

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

interface FakeServerOptions {
  bytes?: Uint8Array;
  honourRange?: boolean;
  /** The connection fails after this many body bytes. */
  cutAfter?: number;
  /** The body ends cleanly after this many bytes, short of its Content-Length. */
  endAfter?: number;
  status?: number;
  noLength?: boolean;
  etag?: string;
}

/** Serves `bytes` (default fileBytes) in 64-byte pieces; honours Range unless told not to; can cut the body short. */
function fakeServer(options: FakeServerOptions = {}): FakeServer & { bodyBytesSent(): number } {
  const requests: { range: string | null }[] = [];
  const file = options.bytes ?? fileBytes;
  let bodyBytesSent = 0;
  const fetch: FetchLike = async (_url, init) => {
    const range = new Headers(init?.headers).get('range');
    requests.push({ range });
    if (options.status) return new Response(null, { status: options.status });
    const start = range && options.honourRange !== false ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
    const body = file.subarray(start);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (options.cutAfter !== undefined && sent >= options.cutAfter) return controller.error(new TypeError('network connection lost'));
        const piece = body.subarray(sent, Math.min(sent + 64, options.endAfter ?? Infinity));
        if (piece.byteLength === 0) return controller.close();
        sent += piece.byteLength;
        bodyBytesSent += piece.byteLength;
        controller.enqueue(piece.slice());
      },
    }, { highWaterMark: 0 });
    const headers: Record<string, string> = options.noLength ? {} : { 'content-length': String(body.byteLength) };
    if (options.etag) headers.etag = options.etag;
    if (start > 0) headers['content-range'] = `bytes ${start}-${file.byteLength - 1}/${file.byteLength}`;
    return new Response(stream, { status: start > 0 ? 206 : 200, headers });
  };
  return { fetch, requests, bodyBytesSent: () => bodyBytesSent };
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

  it('refuses a file that cannot fit in storage on its announced size, before reading any of it', async () => {
    const store = new MemoryStore();
    const server = fakeServer();
    // 1000 bytes announced, 400 free: the guess (expectedBytes) gives way to the real size.
    const attempt = cachedDownload(url, { store, fetch: server.fetch, expectedBytes: 4e9, estimate: async () => ({ usage: 600, quota: 1000 }) });
    await expect(attempt).rejects.toThrow(StorageQuotaError);
    await expect(attempt).rejects.toThrow(/model\.safetensors needs 1\.0 kB of browser storage but only 400 B is free \(600 B of 1\.0 kB used\): 600 B more is needed/);
    expect(server.bodyBytesSent()).toBe(0);
    expect(store.entries.size).toBe(0);
    // Without a Content-Length the guess is what is checked.
    const unsized = fakeServer({ noLength: true });
    const guessed = cachedDownload(url, { store, fetch: unsized.fetch, expectedBytes: 4e9, estimate: async () => ({ usage: 1e9, quota: 3e9 }) });
    await expect(guessed).rejects.toThrow(/needs 4\.00 GB .* only 2\.00 GB is free/);
    // A resume needs room for the rest only: 600 of the 1000 bytes are stored.
    await expect(collect((await cachedDownload(url, { store, fetch: fakeServer({ cutAfter: 704 }).fetch, chunkBytes: 300 })).stream)).rejects.toThrow();
    const resumed = await cachedDownload(url, { store, fetch: fakeServer().fetch, estimate: async () => ({ usage: 600, quota: 1000 }) });
    expect(await collect(resumed.stream)).toEqual(fileBytes);
  });

  it('says where a broken download stopped and what is kept for the next load', async () => {
    const store = new MemoryStore();
    const first = await cachedDownload(url, { store, fetch: fakeServer({ cutAfter: 704 }).fetch, chunkBytes: 300 });
    await expect(collect(first.stream)).rejects.toThrow(
      /^The download of model\.safetensors broke off after 704 B of 1\.0 kB \(network connection lost\); the 600 B already stored are kept, so loading again resumes from there\.$/,
    );
    const short = await cachedDownload('https://huggingface.co/o/m/resolve/main/other.bin', { store, fetch: fakeServer({ endAfter: 100 }).fetch, chunkBytes: 300 });
    await expect(collect(short.stream)).rejects.toThrow(/other\.bin broke off after 100 B of 1\.0 kB \(the server sent 100 B where it announced 1\.0 kB\); loading again starts it over/);
  });

  it('starts over when the server now holds another file (size or ETag changed)', async () => {
    for (const changed of [{ size: 999 }, { etag: '"v2"' }]) {
      const store = new MemoryStore();
      await expect(collect((await cachedDownload(url, { store, fetch: fakeServer({ cutAfter: 704, etag: '"v1"' }).fetch, chunkBytes: 300 })).stream)).rejects.toThrow();
      const newFile = fileBytes.subarray(0, changed.size ?? fileBytes.byteLength).map((byte) => byte ^ 0xff);
      const server = fakeServer({ bytes: newFile, etag: changed.etag ?? '"v1"' });
      expect(await collect((await cachedDownload(url, { store, fetch: server.fetch })).stream)).toEqual(newFile);
      // Asked from byte 600, told of another file: asked again from the start.
      expect(server.requests).toEqual([{ range: 'bytes=600-' }, { range: null }]);
    }
  });

  it('sizes chunks by the file: 1/64th of a small file in 64 KiB steps, at most 32 MiB', () => {
    expect(chunkBytesFor(1_885_272)).toBe(64 * 1024); // 29 457 B → the 64 KiB floor
    expect(chunkBytesFor(10_000_000)).toBe(3 * 64 * 1024); // 156 250 B → 196 608 B
    expect(chunkBytesFor(3.85e9)).toBe(32 * 1024 * 1024);
    expect(chunkBytesFor(undefined)).toBe(32 * 1024 * 1024);
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

describe('the hub path over HTTP, against a local stand-in for the hub', () => {
  // The demo model's files under a hub-like name: the weights redirect to the stand-in's storage
  // host (302, signed URL), small files to the hub's resolve-cache (307), as the real hub answers.
  const repository = { repo: 'moontune-test/demo-model', revision: 'main', files: new Map(['config.json', 'tokenizer.json', 'model.safetensors'].map((file) => [file, new Uint8Array(readFileSync(`public/demo-model/${file}`))])) };
  const weights = repository.files.get('model.safetensors')!;
  let hub: HubStandIn;
  // Digests, not element-wise comparison: 1.5 MB arrays compare slowly in expect().
  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const location = () => ({ repo: repository.repo, revision: repository.revision, origin: hub.hubOrigin });

  beforeAll(async () => {
    hub = await startHubStandIn(repository);
  });
  afterAll(() => hub?.close());

  it('follows the redirect to storage, resumes after a dropped connection past the stored chunks, then reads the cache alone', async () => {
    const store = new MemoryStore();
    const weightsUrl = hubFileUrl(location(), 'model.safetensors');
    const dropAt = weights.byteLength >> 1;
    hub.dropNextDownload('model.safetensors', dropAt);
    const first = await cachedDownload(weightsUrl, { store });
    expect(first.totalBytes).toBe(weights.byteLength);
    await expect(collect(first.stream)).rejects.toThrow(/model\.safetensors broke off after .* already stored are kept/);
    // Whole 64 KiB chunks below the drop are stored (chunkBytesFor of the demo model's 1.5 MB).
    const chunk = chunkBytesFor(weights.byteLength);
    const kept = Math.floor(dropAt / chunk) * chunk;
    expect(kept).toBeGreaterThan(0);

    hub.requests.length = 0;
    const second = await cachedDownload(weightsUrl, { store });
    expect(sha256(await collect(second.stream))).toBe(sha256(weights));
    expect(hub.requests).toEqual([
      { host: 'hub', method: 'GET', file: 'model.safetensors', range: `bytes=${kept}-`, status: 302 },
      { host: 'storage', method: 'GET', file: 'model.safetensors', range: `bytes=${kept}-`, status: 206 },
    ]);

    hub.requests.length = 0;
    expect(sha256(await collect((await cachedDownload(weightsUrl, { store })).stream))).toBe(sha256(weights));
    expect(hub.requests).toEqual([]);
  });

  it('reads small files through the resolve-cache redirect, and tells a missing file (404) from a missing repository (401)', async () => {
    const store = new MemoryStore();
    hub.requests.length = 0;
    const config = await cachedDownload(hubFileUrl(location(), 'config.json'), { store });
    expect(await collect(config.stream)).toEqual(repository.files.get('config.json'));
    expect(hub.requests.map(({ host, file, status }) => [host, file, status])).toEqual([['hub', 'config.json', 307], ['hub', 'config.json', 200]]);
    await expect(cachedDownload(hubFileUrl(location(), 'tokenizer_config.json'), { store })).rejects.toMatchObject({ status: 404 });
    await expect(cachedDownload(hubFileUrl({ ...location(), repo: 'moontune-test/missing' }, 'config.json'), { store })).rejects.toThrow(/HTTP 401\). The model may be gated or private/);
  });
});
