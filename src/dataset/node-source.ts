// Node only: a path on disk (a zip, a folder, or a single COCO json) → a DatasetSource. The rest
// of src/dataset runs in a browser worker and must not import node: modules; this file may.

import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
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
    // A single COCO json: its images are the files beside it, or — for a json inside an
    // annotations/ folder (COCO 2017, CVAT) — the files beside that folder.
    const inAnnotations = basename(dirname(path)).toLowerCase() === 'annotations';
    const folder = inAnnotations ? dirname(dirname(path)) : dirname(path);
    const own = inAnnotations ? `${basename(dirname(path))}/${basename(path)}` : basename(path);
    const files = (await folderFiles(folder)).filter((file) => !/\.json$/i.test(file.path) || file.path === own);
    return { kind: 'files', name, files };
  }
  if (/\.zip$/i.test(path)) return { kind: 'zip', name, data: new Uint8Array(await readFile(path)) };
  // Any other file is what a drop of that one file would be: the loader says what it is.
  const data = new Uint8Array(await readFile(path));
  return { kind: 'files', name, files: [{ path: name, size: data.length, read: async () => data }] };
}

/**
 * Every file below `root`, following symbolic links (a dataset assembled from linked folders is
 * common on shared machines); a link that loops back to a folder already walked is not followed
 * again, and a broken link is skipped (its image is then reported missing).
 */
async function folderFiles(root: string): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  const walked = new Set<string>();
  async function walk(folder: string, relative: string): Promise<void> {
    const real = await realpath(folder);
    if (walked.has(real)) return;
    walked.add(real);
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const absolute = join(folder, entry.name);
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      let info;
      try {
        info = entry.isSymbolicLink() ? await stat(absolute) : entry;
      } catch {
        continue; // broken link
      }
      if (info.isDirectory()) await walk(absolute, path);
      else if (info.isFile()) {
        const { size } = await stat(absolute);
        files.push({ path, size, read: async () => new Uint8Array(await readFile(absolute)) });
      }
    }
  }
  await walk(root, '');
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
