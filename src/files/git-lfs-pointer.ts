// Git LFS pointers: the small text files a Git clone holds in place of large files when `git lfs`
// did not fetch them (git-lfs docs/spec.md). A model folder or a dataset cloned that way looks
// complete, but every weight file, image or json may be one of these stand-ins.

export interface GitLfsPointer {
  /** Size of the file the pointer stands for, in bytes (its `size` line). */
  size: number | undefined;
  /** Size of the pointer itself. */
  pointerBytes: number;
}

/** The spec caps a pointer at 1024 bytes; its first line names the spec version. */
const MAX_POINTER_BYTES = 1024;
const FIRST_LINE = /^version https:\/\/(git-lfs\.github\.com|hawser\.github\.com)\/spec\/v1\n/;

/** The pointer these bytes are, or undefined when they are a real file. Reads at most 1 KiB. */
export function readGitLfsPointer(bytes: Uint8Array): GitLfsPointer | undefined {
  if (bytes.length > MAX_POINTER_BYTES || bytes.length < 40) return undefined;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (!FIRST_LINE.test(text)) return undefined;
  const size = /\nsize (\d+)/.exec(text);
  return { size: size ? Number(size[1]) : undefined, pointerBytes: bytes.length };
}

/** "is a Git LFS pointer (131 bytes standing for a 3.9 GB file)". */
export function describeGitLfsPointer(pointer: GitLfsPointer): string {
  const stands = pointer.size === undefined ? '' : ` standing for a ${formatBytes(pointer.size)} file`;
  return `is a Git LFS pointer (${pointer.pointerBytes} bytes${stands})`;
}

/** What to do about a pointer. */
export const GIT_LFS_ADVICE = 'run `git lfs pull` in the clone it came from (or download the file itself) and try again';

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes}-byte`;
}
