// A DatasetSource (zip bytes, or a set of files from a folder or a drop) seen as one uniform set
// of files with clean relative paths: junk that archivers add is dropped, and a single folder
// wrapping everything (common when people re-zip an export) is looked through.

import type { DatasetSource, SourceFile } from './types.ts';
import { listZipEntries, readZipEntries } from './zip-archive.ts';
import { splitFromFolderName } from './splits.ts';

export interface UploadFile {
  /** Path relative to the dataset root, wrapper folder removed, e.g. 'train/a.jpg'. */
  path: string;
  /** The path as the source names it (zip entry name or SourceFile.path), for reading the bytes. */
  sourcePath: string;
  size: number;
}

export interface Upload {
  name: string;
  /** By cleaned path. */
  files: Map<string, UploadFile>;
  /** Reads files by their source paths; a path that cannot be read is absent from the result. */
  read(sourcePaths: string[]): Promise<Map<string, Uint8Array>>;
}

/** How many zip entries to decompress per pass over the archive. */
const ZIP_READ_BATCH = 256;

export async function openUpload(source: DatasetSource): Promise<Upload> {
  if (source.kind === 'zip') return openZip(source.name, source.data);
  // A zip dropped as a file among nothing else is the zip itself.
  const zips = source.files.filter((file) => /\.zip$/i.test(file.path));
  if (zips.length === 1 && !source.files.some((file) => /\.json$/i.test(file.path))) {
    return openZip(source.name, await zips[0].read());
  }
  return openFiles(source.name, source.files);
}

function openZip(name: string, data: Uint8Array): Upload {
  const entries = listZipEntries(data, name);
  return {
    name,
    files: cleanPaths(entries.map((entry) => ({ sourcePath: entry.name, size: entry.size }))),
    async read(sourcePaths) {
      const result = new Map<string, Uint8Array>();
      for (let start = 0; start < sourcePaths.length; start += ZIP_READ_BATCH) {
        for (const [path, bytes] of readZipEntries(data, sourcePaths.slice(start, start + ZIP_READ_BATCH))) {
          result.set(path, bytes);
        }
      }
      return result;
    },
  };
}

function openFiles(name: string, files: SourceFile[]): Upload {
  const bySourcePath = new Map(files.map((file) => [file.path, file]));
  return {
    name,
    files: cleanPaths(files.map((file) => ({ sourcePath: file.path, size: file.size }))),
    async read(sourcePaths) {
      const result = new Map<string, Uint8Array>();
      for (const path of sourcePaths) {
        const file = bySourcePath.get(path);
        if (!file) continue;
        try {
          result.set(path, await file.read());
        } catch {
          // unreadable (permissions, removed since): reported by the caller as missing
        }
      }
      return result;
    },
  };
}

/** Files that archivers and desktops add and that are never part of a dataset. */
function isJunk(path: string): boolean {
  const parts = path.split('/');
  const base = parts[parts.length - 1];
  return parts.includes('__MACOSX') || base === '.DS_Store' || base === 'Thumbs.db' || base.startsWith('._');
}

function normalizePath(path: string): string {
  return path.replaceAll('\\', '/').replace(/^(\.\/|\/)+/, '');
}

function cleanPaths(files: { sourcePath: string; size: number }[]): Map<string, UploadFile> {
  let cleaned = files
    .map((file) => ({ ...file, path: normalizePath(file.sourcePath) }))
    .filter((file) => file.path !== '' && !file.path.endsWith('/') && !isJunk(file.path));
  // Look through wrapper folders: every file sits under the same first folder, and that folder
  // is not itself a split (a zip holding only `train/` must keep its split folder).
  for (;;) {
    const first = cleaned[0]?.path.split('/')[0];
    const wrapped =
      first !== undefined &&
      splitFromFolderName(first) === undefined &&
      cleaned.every((file) => file.path.startsWith(first + '/'));
    if (!wrapped) break;
    cleaned = cleaned.map((file) => ({ ...file, path: file.path.slice(first.length + 1) }));
  }
  return new Map(cleaned.map((file) => [file.path, file]));
}
