// Turns what the person gave the page (dropped items, a file input's files, a folder picker)
// into an UploadSource for the worker. Only files and paths are gathered here; the worker
// reads the bytes.
import type { UploadSource, UploadedFile } from '../../workers/session-api.ts';

function isZip(name: string): boolean {
  return name.toLowerCase().endsWith('.zip');
}

/** A single zip becomes a zip upload; anything else is a set of files. */
function uploadOf(files: UploadedFile[], name: string): UploadSource | undefined {
  if (files.length === 0) return undefined;
  if (files.length === 1 && isZip(files[0].path)) {
    return { kind: 'zip', name: files[0].path.split('/').pop()!, blob: files[0].blob };
  }
  return { kind: 'files', name, files };
}

/** Removes a leading folder every path shares (the picked or dropped folder's own name). */
function withoutCommonRoot(files: UploadedFile[]): { root: string | undefined; files: UploadedFile[] } {
  const firstSegments = new Set(files.map((file) => (file.path.includes('/') ? file.path.split('/')[0] : '')));
  const [root] = firstSegments;
  if (firstSegments.size !== 1 || !root) return { root: undefined, files };
  return { root, files: files.map((file) => ({ path: file.path.slice(root.length + 1), blob: file.blob })) };
}

function describeFiles(files: UploadedFile[]): string {
  return files.length === 1 ? files[0].path : `${files.length} files`;
}

/** From `<input type=file>` (plain, multiple, or webkitdirectory). */
export function uploadFromFileList(fileList: FileList | File[]): UploadSource | undefined {
  const gathered = Array.from(fileList, (file) => ({ path: file.webkitRelativePath || file.name, blob: file as Blob }));
  const { root, files } = withoutCommonRoot(gathered);
  return uploadOf(files, root ?? describeFiles(files));
}

function readDirectoryBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Every file under an entry, with its path from the dropped entry's parent. */
async function filesUnder(entry: FileSystemEntry, parentPath: string, into: UploadedFile[]): Promise<void> {
  const path = parentPath ? `${parentPath}/${entry.name}` : entry.name;
  if (entry.isFile) {
    into.push({ path, blob: await fileOf(entry as FileSystemFileEntry) });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries hands out a directory in batches (100 in Chromium) until an empty one.
  for (let batch = await readDirectoryBatch(reader); batch.length > 0; batch = await readDirectoryBatch(reader)) {
    for (const child of batch) await filesUnder(child, path, into);
  }
}

/**
 * From a drop: a zip, a folder (walked through webkitGetAsEntry), or loose files. Entries must
 * be taken from the DataTransfer before the first await: the browser empties it afterwards.
 */
export async function uploadFromDrop(dataTransfer: DataTransfer): Promise<UploadSource | undefined> {
  const entries = Array.from(dataTransfer.items)
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry())
    .filter((entry): entry is FileSystemEntry => entry !== null);
  if (entries.length === 0) return uploadFromFileList(Array.from(dataTransfer.files));
  const gathered: UploadedFile[] = [];
  for (const entry of entries) await filesUnder(entry, '', gathered);
  const { root, files } = withoutCommonRoot(gathered);
  return uploadOf(files, root ?? describeFiles(files));
}
