// A local stand-in for the Hugging Face hub, for tests that must not reach the network. It
// answers the way the real hub does, as far as moontune depends on it:
//
// - `GET /<owner>/<name>/resolve/<revision>/<file>` on the hub origin:
//   - a large (LFS / Xet) file → 302 to a signed URL on another origin, the storage host, with
//     X-Linked-Size, X-Linked-Etag (the file's sha256), X-Repo-Commit and CORS headers;
//   - a small file → 307 to a same-origin `/api/resolve-cache/models/<repo>/<commit>/<file>`,
//     which answers 200 with the bytes;
//   - an unknown file → 404 `X-Error-Code: EntryNotFound`; an unknown repository or revision →
//     401 `X-Error-Code: RepoNotFound` (the hub does not tell a private repository from a missing one).
// - the storage host: Range requests (`bytes=N-`, `bytes=N-M`) → 206 with Content-Range, others
//   200 with Content-Length; an unknown signature → 403; a CORS preflight → 403, as the Xet
//   bridge fails preflights, so a client must keep to CORS-safelisted request headers.
//
// Tests can slow the storage host down (to watch progress), cut its next response to a file
// after N bytes (a dropped connection), and read the log of every request both origins saw.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInRepository {
  /** owner/name */
  repo: string;
  revision: string;
  files: ReadonlyMap<string, Uint8Array>;
}

export interface LoggedRequest {
  host: 'hub' | 'storage';
  method: string;
  /** The file asked for (from the path), when the path names one. */
  file: string | undefined;
  /** The Range header, or null. */
  range: string | null;
  status: number;
}

export interface HubStandIn {
  /** e.g. http://127.0.0.1:40123 — what the page takes as ?hub-origin=. */
  readonly hubOrigin: string;
  readonly storageOrigin: string;
  readonly requests: LoggedRequest[];
  /** Storage bodies go out at this rate (undefined: as fast as possible). */
  throttle(bytesPerSecond: number | undefined): void;
  /** The next storage response for `file` sends `afterBytes` of its body, then the connection closes. */
  dropNextDownload(file: string, afterBytes: number): void;
  close(): Promise<void>;
}

/** Files stored in LFS / Xet on the real hub (`.gitattributes` of every model repository). */
const isLargeFile = (file: string) => file.endsWith('.safetensors');

/** What the hub lets browser code read (Access-Control-Expose-Headers of huggingface.co). */
const HUB_EXPOSED_HEADERS = 'X-Repo-Commit, X-Request-Id, X-Error-Code, X-Error-Message, X-Total-Count, ETag, Link, Accept-Ranges, Content-Range, X-Linked-Size, X-Linked-ETag, X-Xet-Hash';
const STORAGE_EXPOSED_HEADERS = 'Accept-Ranges, Content-Range, Content-Length, ETag';
/** Body pieces of a throttled response. */
const PIECE_BYTES = 16 * 1024;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Serves one repository at one revision, or several (a model and the tokenizer repository its revision names). */
export async function startHubStandIn(served: StandInRepository | readonly StandInRepository[]): Promise<HubStandIn> {
  const requests: LoggedRequest[] = [];
  const repositories = new Map(
    (Array.isArray(served) ? served : [served as StandInRepository]).map((repository) => [
      `${repository.repo}@${repository.revision}`,
      { ...repository, commit: createHash('sha1').update(`${repository.repo}@${repository.revision}`).digest('hex') },
    ]),
  );
  const byHash = new Map([...repositories.values()].flatMap(({ files }) => [...files].map(([file, bytes]) => [sha256(bytes), { file, bytes }] as const)));
  const signatures = new Set<string>();
  const drops = new Map<string, number>();
  let bytesPerSecond: number | undefined;
  let storageOrigin = '';

  const log = (host: LoggedRequest['host'], request: IncomingMessage, file: string | undefined, status: number) =>
    requests.push({ host, method: request.method ?? 'GET', file, range: request.headers.range ?? null, status });

  function answerHub(request: IncomingMessage, response: ServerResponse): void {
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': HUB_EXPOSED_HEADERS, Vary: 'Origin' };
    const url = new URL(request.url ?? '/', 'http://hub.invalid');
    if (request.method === 'OPTIONS') {
      log('hub', request, undefined, 204);
      response.writeHead(204, { ...cors, 'Access-Control-Allow-Headers': 'Range, Content-Type, Authorization', 'Access-Control-Allow-Methods': 'GET, HEAD' }).end();
      return;
    }
    const cached = /^\/api\/resolve-cache\/models\/([^/]+\/[^/]+)\/([0-9a-f]+)\/(.+)$/.exec(url.pathname);
    if (cached) {
      const file = decodeURIComponent(cached[3]);
      const repository = [...repositories.values()].find(({ repo, commit }) => repo === cached[1] && commit === cached[2]);
      const bytes = repository?.files.get(file);
      log('hub', request, file, bytes ? 200 : 404);
      if (!bytes) return void response.writeHead(404, { ...cors, 'X-Error-Code': 'EntryNotFound' }).end('Entry not found');
      response.writeHead(200, { ...cors, 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.byteLength, ETag: `"${sha256(bytes).slice(0, 40)}"`, 'X-Repo-Commit': repository!.commit });
      response.end(request.method === 'HEAD' ? undefined : bytes);
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!resolve) {
      log('hub', request, undefined, 404);
      return void response.writeHead(404, cors).end('Not found');
    }
    const [repo, revision, file] = [resolve[1], decodeURIComponent(resolve[2]), decodeURIComponent(resolve[3])];
    const repository = repositories.get(`${repo}@${revision}`);
    if (!repository) {
      log('hub', request, file, 401);
      return void response.writeHead(401, { ...cors, 'X-Error-Code': 'RepoNotFound', 'X-Error-Message': 'Repository not found' }).end('Repository not found');
    }
    const bytes = repository.files.get(file);
    if (!bytes) {
      log('hub', request, file, 404);
      return void response.writeHead(404, { ...cors, 'X-Error-Code': 'EntryNotFound', 'X-Error-Message': 'Entry not found' }).end('Entry not found');
    }
    const hash = sha256(bytes);
    if (isLargeFile(file)) {
      // A signed storage URL, good for this redirect only: a client must come back to resolve/.
      const signature = randomBytes(12).toString('hex');
      signatures.add(signature);
      const location = `${storageOrigin}/xet-bridge/${hash}?Expires=${Math.floor(Date.now() / 1000) + 3600}&Signature=${signature}`;
      const body = `Found. Redirecting to ${location}`;
      log('hub', request, file, 302);
      response.writeHead(302, {
        ...cors,
        Location: location,
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        ETag: `"${hash}"`,
        'X-Linked-Size': bytes.byteLength,
        'X-Linked-ETag': `"${hash}"`,
        'X-Repo-Commit': repository.commit,
      });
      response.end(body);
      return;
    }
    log('hub', request, file, 307);
    response.writeHead(307, { ...cors, Location: `/api/resolve-cache/models/${repo}/${repository.commit}/${encodeURIComponent(file)}?etag=%22${hash.slice(0, 40)}%22`, 'X-Repo-Commit': repository.commit });
    response.end();
  }

  async function answerStorage(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': STORAGE_EXPOSED_HEADERS };
    const url = new URL(request.url ?? '/', 'http://storage.invalid');
    const stored = byHash.get(/^\/xet-bridge\/([0-9a-f]{64})$/.exec(url.pathname)?.[1] ?? '');
    if (request.method === 'OPTIONS') {
      log('storage', request, stored?.file, 403);
      return void response.writeHead(403, { 'Content-Type': 'text/plain' }).end('Preflight requests are not allowed');
    }
    if (!stored || !signatures.has(url.searchParams.get('Signature') ?? '')) {
      log('storage', request, stored?.file, 403);
      return void response.writeHead(403, { ...cors, 'Content-Type': 'text/plain' }).end('Request has expired or the signature does not match');
    }
    const { file, bytes } = stored;
    const size = bytes.byteLength;
    const common = { ...cors, 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"${sha256(bytes).slice(0, 32)}"`, 'Cache-Control': 'public, max-age=604800, immutable' };
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = request.headers.range;
    if (range !== undefined) {
      const match = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!match || Number(match[1]) >= size) {
        log('storage', request, file, 416);
        return void response.writeHead(416, { ...common, 'Content-Range': `bytes */${size}` }).end();
      }
      start = Number(match[1]);
      end = match[2] === '' ? size - 1 : Math.min(size - 1, Number(match[2]));
      status = 206;
    }
    log('storage', request, file, status);
    response.writeHead(status, {
      ...common,
      'Content-Length': end - start + 1,
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (request.method === 'HEAD') return void response.end();
    const dropAfter = drops.get(file);
    drops.delete(file);
    const body = bytes.subarray(start, end + 1);
    const sendUntil = dropAfter === undefined ? body.byteLength : Math.min(dropAfter, body.byteLength);
    let closed = false;
    response.once('close', () => (closed = true));
    for (let offset = 0; offset < sendUntil && !closed; offset += PIECE_BYTES) {
      if (bytesPerSecond !== undefined) await new Promise((wake) => setTimeout(wake, (1000 * PIECE_BYTES) / bytesPerSecond!));
      if (!response.write(body.subarray(offset, Math.min(offset + PIECE_BYTES, sendUntil)))) await once(response, 'drain');
    }
    if (dropAfter === undefined) return void response.end();
    // The connection breaks: what was sent arrives, then the socket closes short of Content-Length.
    await new Promise((flushed) => setTimeout(flushed, 100));
    response.socket?.destroy();
  }

  const hub = createServer(answerHub);
  const storage = createServer((request, response) => {
    answerStorage(request, response).catch((error) => response.destroy(error));
  });
  const listen = async (server: Server) => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const hubOrigin = await listen(hub);
  storageOrigin = await listen(storage);
  const close = (server: Server) =>
    new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    });
  return {
    hubOrigin,
    storageOrigin,
    requests,
    throttle: (rate) => (bytesPerSecond = rate),
    dropNextDownload: (file, afterBytes) => drops.set(file, afterBytes),
    close: async () => {
      await Promise.all([close(hub), close(storage)]);
    },
  };
}
