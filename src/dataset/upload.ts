// A DatasetSource (zip bytes, or a set of files from a folder or a drop) seen as one uniform set
// of files with clean relative paths: junk that archivers add is dropped, names are Unicode
// NFC (macOS writes NFD), a single folder wrapping everything (common when people re-zip an
// export) is looked through, and a zip holding only another zip is opened through.

import type { DatasetSource, SourceFile } from './types.ts';
import { compressionMethodName, listZipEntries, READABLE_METHODS, readZipEntries, type ZipEntry } from './zip-archive.ts';
import { splitFromFolderName } from './splits.ts';

export interface UploadFile {
  /** Path relative to the dataset root: wrapper folder removed, NFC, e.g. 'train/a.jpg'. */
  path: string;
  /** The path as the source names it (zip entry name or SourceFile.path), for reading the bytes. */
  sourcePath: string;
  size: number;
}

export interface Upload {
  /** For messages: the upload's name, or "inner.zip in outer.zip". */
  name: string;
  /** By cleaned path. */
  files: Map<string, UploadFile>;
  /** Reads files by their source paths; a path that cannot be read is absent from the result. */
  read(sourcePaths: string[]): Promise<Map<string, Uint8Array>>;
}

/** An upload that cannot be opened; `code` is the DatasetIssue code it is reported under. */
export class UploadError extends Error {
  constructor(
    readonly code: 'unreadable-upload' | 'unsupported-zip' | 'not-a-zip',
    message: string,
  ) {
    super(message);
  }
}

/** How many zip entries to decompress per pass over the archive. */
const ZIP_READ_BATCH = 256;

const isZipName = (path: string) => /\.zip$/i.test(path);
const ARCHIVE_NAME = /\.(zip|rar|7z|tar|tgz|gz|bz2|xz|zst)$/i;

export async function openUpload(source: DatasetSource): Promise<Upload> {
  if (source.kind === 'zip') return openZip(source.name, source.data);
  // Without an annotation file among them, the one archive given is the dataset; so is the one
  // file given, when its bytes say it is an archive (whatever its name says).
  const kept = source.files.filter((file) => !isJunk(file.path));
  if (!kept.some((file) => /\.json$/i.test(file.path))) {
    const archives = kept.filter((file) => ARCHIVE_NAME.test(file.path));
    if (archives.length === 1) return openZip(source.name, await archives[0].read());
    if (kept.length === 1) {
      const data = await kept[0].read();
      if (isZipData(data) || describeOtherArchive(data)) return openZip(source.name, data);
    }
  }
  return openFiles(source.name, source.files);
}

/** A local file header or an (empty archive's) end record at the start: APPNOTE §4.3.7, §4.3.16. */
const isZipData = (data: Uint8Array) => data[0] === 0x50 && data[1] === 0x4b && ((data[2] === 3 && data[3] === 4) || (data[2] === 5 && data[3] === 6));

function openZip(name: string, data: Uint8Array): Upload {
  const other = describeOtherArchive(data);
  if (other) {
    throw new UploadError('not-a-zip', `${name}: is ${other}, not a zip; moontune reads zip files — extract it and zip the folder again (or choose the extracted folder itself).`);
  }
  let entries: ZipEntry[];
  try {
    entries = listZipEntries(data, name);
  } catch (error) {
    throw new UploadError('unreadable-upload', (error as Error).message);
  }
  const kept = entries.filter((entry) => !isJunk(entry.name));
  checkReadable(name, kept);

  // A zip holding one zip and nothing else of a dataset (a download wrapped once more): open that.
  const innerZips = kept.filter((entry) => isZipName(entry.name));
  if (innerZips.length === 1 && !kept.some((entry) => /\.json$/i.test(entry.name))) {
    const inner = readZipEntries(data, [innerZips[0].name]).get(innerZips[0].name);
    if (!inner) throw new UploadError('unreadable-upload', `${name}: ${innerZips[0].name} inside it could not be read; unzip it and load ${baseName(innerZips[0].name)} itself.`);
    return openZip(`${baseName(innerZips[0].name)} in ${name}`, inner);
  }

  return {
    name,
    files: cleanPaths(kept.map((entry) => ({ sourcePath: entry.name, size: entry.size }))),
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

/** Entries moontune cannot decompress make the upload unusable: it would be read only in part. */
function checkReadable(name: string, entries: ZipEntry[]): void {
  const encrypted = entries.filter((entry) => entry.encrypted);
  if (encrypted.length > 0) {
    throw new UploadError(
      'unsupported-zip',
      `${name}: ${count(encrypted.length, 'entry is', 'entries are')} password-protected (e.g. ${encrypted[0].name}); moontune cannot read encrypted zips — unzip it with its password and zip the folder again without one.`,
    );
  }
  const unreadable = entries.filter((entry) => !READABLE_METHODS.has(entry.method));
  if (unreadable.length > 0) {
    const methods = [...new Set(unreadable.map((entry) => compressionMethodName(entry.method)))].join(', ');
    throw new UploadError(
      'unsupported-zip',
      `${name}: ${count(unreadable.length, 'entry is', 'entries are')} compressed with ${methods} (e.g. ${unreadable[0].name}), which moontune cannot decompress; zip the folder again with the standard Deflate method (Finder's Compress, Windows' "Compressed (zipped) folder", \`zip -r\`, or 7-Zip with method Deflate).`,
    );
  }
}

const count = (n: number, singular: string, plural: string) => `${n} ${n === 1 ? singular : plural}`;
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Other archive formats by their signatures (each format's spec), for a message that names them. */
function describeOtherArchive(data: Uint8Array): string | undefined {
  const starts = (...signature: number[]) => signature.every((value, i) => data[i] === value);
  if (starts(0x52, 0x61, 0x72, 0x21, 0x1a, 0x07)) return 'a RAR archive';
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return 'a 7-Zip archive';
  if (starts(0x1f, 0x8b)) return 'a gzip file (.tar.gz / .tgz)';
  if (starts(0x42, 0x5a, 0x68)) return 'a bzip2 file';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'an xz file';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'a Zstandard file';
  if (data.length > 262 && String.fromCharCode(...data.subarray(257, 262)) === 'ustar') return 'a tar archive';
  return undefined;
}

function openFiles(name: string, files: SourceFile[]): Upload {
  const bySourcePath = new Map(files.map((file) => [file.path, file]));
  return {
    name,
    files: cleanPaths(files.filter((file) => !isJunk(file.path)).map((file) => ({ sourcePath: file.path, size: file.size }))),
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
export function isJunk(path: string): boolean {
  const parts = normalizePath(path).split('/');
  const base = parts[parts.length - 1];
  return parts.includes('__MACOSX') || base === '.DS_Store' || base === 'Thumbs.db' || base === 'desktop.ini' || base.startsWith('._');
}

/** '/'-separated, no leading './' or '/', Unicode NFC (macOS file systems and zips write NFD). */
export function normalizePath(path: string): string {
  return path.replaceAll('\\', '/').replace(/^(\.\/|\/)+/, '').normalize('NFC');
}

function cleanPaths(files: { sourcePath: string; size: number }[]): Map<string, UploadFile> {
  let cleaned = files
    .map((file) => ({ ...file, path: normalizePath(file.sourcePath) }))
    .filter((file) => file.path !== '' && !file.path.endsWith('/'));
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
