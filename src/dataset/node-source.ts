// Node only: a path on disk (a zip, a folder, or a single COCO json) → a DatasetSource. The rest
// of src/dataset runs in a browser worker and must not import node: modules; this file may.

import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { DatasetSource, SourceFile } from './types.ts';

/** Throws an Error the user can act on when the path does not exist or is not a dataset. */
export async function sourceFromPath(path: string): Promise<DatasetSource> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new Error(`${path}: no such file or folder; give a Roboflow COCO zip, its unzipped folder, or a COCO .json.`);
  }
  const name = basename(path);
  if (info.isDirectory()) return { kind: 'files', name, files: await folderFiles(path) };
  if (/\.json$/i.test(path)) {
    // A single COCO json: its images are the files beside it.
    const folder = dirname(path);
    const files = (await folderFiles(folder)).filter((file) => !/\.json$/i.test(file.path) || file.path === basename(path));
    return { kind: 'files', name, files };
  }
  return { kind: 'zip', name, data: new Uint8Array(await readFile(path)) };
}

async function folderFiles(root: string): Promise<SourceFile[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files: SourceFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    // `parentPath` is Node ≥ 20.12; `path` is its older name.
    const absolute = join((entry as { parentPath?: string }).parentPath ?? entry.path, entry.name);
    const { size } = await stat(absolute);
    files.push({
      path: relative(root, absolute).split(sep).join('/'),
      size,
      read: async () => new Uint8Array(await readFile(absolute)),
    });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
