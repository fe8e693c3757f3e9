// Where model files come from: the Hugging Face hub (or any URL), fetched with errors a person
// can act on. Caching lives in weight-cache.ts; this file only knows URLs and HTTP.

export const HUB_ORIGIN = 'https://huggingface.co';

/** `hub:<owner>/<repo>@<revision>` or `<owner>/<repo>@<revision>` (revision defaults to main). */
export interface HubLocation {
  repo: string;
  revision: string;
  /** A hub mirror's origin (same URL layout); default HUB_ORIGIN. */
  origin?: string;
}

export function parseHubLocation(text: string): HubLocation {
  const trimmed = text.trim().replace(/^hub:/, '');
  const match = /^([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(trimmed);
  if (!match) {
    throw new Error(`"${text}" is not a hub model: write it as owner/name@revision, e.g. vikhyatk/moondream2@2025-06-21.`);
  }
  return { repo: match[1], revision: match[2] ?? 'main' };
}

export function hubFileUrl(location: HubLocation, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${location.origin ?? HUB_ORIGIN}/${location.repo}/resolve/${encodeURIComponent(location.revision)}/${path}`;
}

export class DownloadError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'DownloadError';
  }
}

export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

export interface OpenedDownload {
  body: ReadableStream<Uint8Array>;
  /** Where the body really starts: a server that ignores Range sends the whole file from 0. */
  offset: number;
  totalBytes: number | undefined;
  /** The final response's ETag, when the server lets a page read it (CORS Expose-Headers). */
  etag: string | undefined;
}

/**
 * Starts a download, optionally from a byte offset (an HTTP Range request, to resume). The hub
 * redirects large files to a storage host; fetch follows that, and the Range header with it.
 *
 * Only CORS-safelisted request headers are sent: `Range: bytes=N-` is one (Fetch standard), so no
 * preflight is needed, which the hub's storage host would refuse. No If-Range, then: the caller
 * compares size and ETag itself. `cache: 'no-store'`: our chunk store is the cache, and the
 * browser's HTTP cache would only keep a second copy of gigabytes.
 */
export async function openDownload(url: string, options: { fetch?: FetchLike; offset?: number; signal?: AbortSignal } = {}): Promise<OpenedDownload> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const offset = options.offset ?? 0;
  let response: Response;
  try {
    response = await fetchFn(url, {
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : undefined,
      signal: options.signal,
      cache: 'no-store',
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new DownloadError(
      `Could not reach ${new URL(url).host} to download ${fileNameOf(url)} (${(error as Error).message}). Check the network connection, or load the model from local files.`,
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DownloadError(describeHttpError(url, response.status), response.status);
  }
  if (!response.body) throw new DownloadError(`The server sent no data for ${fileNameOf(url)}.`);
  const lengthHeader = response.headers.get('content-length');
  const bodyLength = lengthHeader === null ? undefined : Number(lengthHeader);
  // A 206 starts where Content-Range says, when the storage host lets us read that header;
  // otherwise where we asked, and Content-Length is the rest of the file.
  const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
  const start = response.status === 206 ? (range ? Number(range[1]) : offset) : 0;
  const totalBytes = range && range[2] !== '*' ? Number(range[2]) : bodyLength === undefined ? undefined : start + bodyLength;
  return { body: response.body, offset: start, totalBytes, etag: response.headers.get('etag') ?? undefined };
}

function describeHttpError(url: string, status: number): string {
  const file = fileNameOf(url);
  switch (status) {
    case 401:
    case 403:
      return `Access to ${file} was refused (HTTP ${status}). The model may be gated or private: check the repository name, or load the files locally.`;
    case 404:
      return `${file} was not found (HTTP 404). Check the repository name and revision (for example vikhyatk/moondream2@2025-06-21).`;
    case 429:
      return `The hub is rate-limiting downloads of ${file} (HTTP 429). Wait a minute and try again.`;
    default:
      return `Downloading ${file} failed with HTTP ${status}. Try again later, or load the model from local files.`;
  }
}

function fileNameOf(url: string): string {
  return decodeURIComponent(url.split('?')[0].split('/').pop() ?? url);
}
