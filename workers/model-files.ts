// The three places the page loads a model from, each as the model half's ModelFiles: the demo
// model served next to the page, a hub repository through the chunked download cache (so a
// reload never downloads the 4 GB twice), and files the user picked (read as streams, never
// whole).
import type { ModelFiles } from '../src/model/model-source.ts';
import { hubFileUrl, type HubLocation } from '../src/model/hub.ts';
import { browserStorageEstimate, cachedDownload, CacheApiChunkStore, type DownloadProgress } from '../src/model/weight-cache.ts';
import type { UploadedFile } from './session-api.ts';

/**
 * model.safetensors of the 2025 releases in bf16 (spec §1: ~1.93 B parameters × 2 bytes): what the
 * page warns about, and what the storage check assumes if the server announces no size.
 */
export const HUB_WEIGHTS_BYTES = 3.85e9;

/** Files served over HTTP under `baseUrl` (the demo model); a 404 means the file is absent. */
export function servedModelFiles(name: string, baseUrl: string): ModelFiles {
  return {
    name,
    async open(file) {
      const url = new URL(file, baseUrl).href;
      let response: Response;
      try {
        response = await fetch(url);
      } catch (error) {
        throw new Error(`Could not fetch ${url} (${(error as Error).message}). Check that the page's server is still running.`);
      }
      if (response.status === 404) return undefined;
      if (!response.ok || !response.body) {
        throw new Error(`Could not fetch ${url} (HTTP ${response.status}). Rebuild the page with \`npm start\`.`);
      }
      const length = Number(response.headers.get('content-length'));
      return { stream: response.body, byteLength: Number.isFinite(length) && length > 0 ? length : undefined };
    },
  };
}

/** Files the user picked, by their base name (folders picked whole are flattened). */
export function pickedModelFiles(files: readonly UploadedFile[]): ModelFiles {
  const byName = new Map(files.map(({ path, blob }) => [path.split('/').pop()!, blob]));
  return {
    name: 'the picked files',
    local: true,
    async open(file) {
      const blob = byName.get(file);
      return blob ? { stream: blob.stream() as ReadableStream<Uint8Array>, byteLength: blob.size } : undefined;
    },
  };
}

/** A hub repository at a revision, every file through the browser's chunk cache. */
export function cachedHubModelFiles(location: HubLocation, onProgress: (progress: DownloadProgress) => void, onCacheWarning: (message: string) => void): ModelFiles {
  const store = new CacheApiChunkStore();
  return {
    name: `${location.repo}@${location.revision}`,
    revisionHint: location.revision,
    hubOrigin: location.origin,
    async open(file) {
      try {
        const { stream, totalBytes } = await cachedDownload(hubFileUrl(location, file), {
          store,
          estimate: browserStorageEstimate,
          expectedBytes: file === 'model.safetensors' ? HUB_WEIGHTS_BYTES : undefined,
          onProgress,
          onCacheWarning,
        });
        return { stream, byteLength: totalBytes };
      } catch (error) {
        if ((error as { status?: number }).status === 404) return undefined;
        throw error;
      }
    },
  };
}
