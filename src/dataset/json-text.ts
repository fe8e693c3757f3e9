// An annotation file's bytes → a JSON value, accepting what other tools write: a UTF-8 BOM,
// UTF-16 (Windows PowerShell's `>` and `Out-File` write UTF-16LE with a BOM), and the NaN /
// Infinity tokens Python's json.dump writes by default (allow_nan=True), which JSON forbids.
// What cannot be read is named: a Git LFS pointer, text that is not UTF-8, broken JSON.

import { describeGitLfsPointer, GIT_LFS_ADVICE, readGitLfsPointer } from '../files/git-lfs-pointer.ts';

export type JsonReading =
  | { ok: true; value: unknown; /** Python's NaN / Infinity tokens were read as null. */ pythonNonFinite: number }
  | { ok: false; code: 'git-lfs-pointer' | 'not-utf8' | 'unreadable-json'; message: string };

export function readJsonFile(bytes: Uint8Array): JsonReading {
  const pointer = readGitLfsPointer(bytes);
  if (pointer) {
    return { ok: false, code: 'git-lfs-pointer', message: `${describeGitLfsPointer(pointer)}, not the annotation file; ${GIT_LFS_ADVICE}.` };
  }
  const text = decodeText(bytes);
  if (typeof text !== 'string') return { ok: false, code: 'not-utf8', message: text.problem };
  try {
    return { ok: true, value: JSON.parse(text), pythonNonFinite: 0 };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const replaced = replacePythonNonFinite(text);
    if (replaced.count > 0) {
      try {
        return { ok: true, value: JSON.parse(replaced.text), pythonNonFinite: replaced.count };
      } catch {
        // broken in some other way too: report the first error, below
      }
    }
    return { ok: false, code: 'unreadable-json', message: `not valid JSON (${reason}); the file is damaged or truncated — export it again.` };
  }
}

/** The text of the file, or why it is not text moontune can read. */
function decodeText(bytes: Uint8Array): string | { problem: string } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  // UTF-16 without a BOM: JSON starts with an ASCII character, so one of its two bytes is 0.
  if (bytes.length >= 2 && bytes[0] !== 0 && bytes[1] === 0) return new TextDecoder('utf-16le').decode(bytes);
  if (bytes.length >= 2 && bytes[0] === 0 && bytes[1] !== 0) return new TextDecoder('utf-16be').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes); // drops a UTF-8 BOM
  } catch {
    const offset = firstInvalidUtf8(bytes);
    return {
      problem:
        `is not UTF-8 text (byte 0x${bytes[offset].toString(16).padStart(2, '0')} at offset ${offset}); it was likely saved in a legacy encoding such as Windows-1252, ` +
        'which would garble class names — save it as UTF-8 (or export it again) and load it again.',
    };
  }
}

/** Offset of the first byte that does not belong to a valid UTF-8 sequence (RFC 3629 §4). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let offset = 0;
  while (offset < bytes.length) {
    const lead = bytes[offset];
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (length === 0 || offset + length > bytes.length) return offset;
    for (let i = 1; i < length; i++) if ((bytes[offset + i] & 0xc0) !== 0x80) return offset;
    offset += length;
  }
  return Math.max(0, bytes.length - 1);
}

/** NaN, Infinity and -Infinity outside strings → null (Python's json module writes these). */
function replacePythonNonFinite(text: string): { text: string; count: number } {
  const parts: string[] = [];
  let copiedUpTo = 0;
  let count = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
      continue;
    }
    if (char === '"') {
      inString = true;
      continue;
    }
    const token = char === 'N' || char === 'I' || char === '-' ? ['-Infinity', 'Infinity', 'NaN'].find((word) => text.startsWith(word, i)) : undefined;
    if (!token) continue;
    parts.push(text.slice(copiedUpTo, i), 'null');
    count++;
    i += token.length - 1;
    copiedUpTo = i + 1;
  }
  parts.push(text.slice(copiedUpTo));
  return { text: parts.join(''), count };
}
