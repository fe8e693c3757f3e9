// Node-only: a file on disk as a ReadableStream<Uint8Array>, the same shape a browser gets from
// fetch() or Blob.stream(), so the streaming safetensors reader runs unchanged in the CLI.
// Only Node-only code (src/cli, the benchmarks, tests) may import this file (it uses node:fs).
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelFiles } from './model-source.ts';

export interface FileStream {
  readonly stream: ReadableStream<Uint8Array>;
  readonly byteLength: number;
}

/** Opens `path` for streaming in chunks of `chunkSize` bytes (default 4 MiB). */
export async function openFileStream(path: string, chunkSize = 4 << 20): Promise<FileStream> {
  const handle = await open(path, 'r').catch((error: Error) => {
    throw new Error(`Cannot open the weights file ${path}: ${error.message}. Check the path.`);
  });
  const { size } = await handle.stat();
  let position = 0;
  const close = () => handle.close().catch(() => undefined);
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buffer = new Uint8Array(Math.min(chunkSize, Math.max(size - position, 1)));
        const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position);
        if (bytesRead === 0) {
          await close();
          controller.close();
          return;
        }
        position += bytesRead;
        controller.enqueue(bytesRead === buffer.byteLength ? buffer : buffer.subarray(0, bytesRead));
      } catch (error) {
        await close();
        controller.error(new Error(`Reading ${path} failed: ${(error as Error).message}`));
      }
    },
    cancel: close,
  });
  return { stream, byteLength: size };
}

/** A local model folder as ModelFiles: files opened as streams, an absent file → undefined. */
export function folderModelFiles(folder: string): ModelFiles {
  return {
    name: folder,
    local: true,
    async open(file) {
      const path = join(folder, file);
      return existsSync(path) ? openFileStream(path) : undefined;
    },
  };
}
