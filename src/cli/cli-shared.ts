// What the CLI commands share: usage errors (exit 2), argument readers, one-line error
// messages, and opening a model given as a folder or as hub:owner/repo@revision.
import { existsSync, statSync } from 'node:fs';
import { parseHubLocation } from '../model/hub.ts';
import { hubModelFiles, type ModelFiles } from '../model/model-source.ts';
import { folderModelFiles } from '../model/node-file-source.ts';

/** Bad command-line input: the command prints one line and exits 2. */
export class UsageError extends Error {}

/** Reads flag values from an argument list, with usage errors that name the flag. */
export class ArgumentReader {
  constructor(
    private readonly args: readonly string[],
    /** Flags whose value may itself start with "--" (free text, e.g. a question). */
    private readonly freeTextFlags: readonly string[] = [],
  ) {}

  /** The value after the flag at `index`. */
  value(index: number, flag: string): string {
    const next = this.args[index + 1];
    if (next === undefined || (next.startsWith('--') && !this.freeTextFlags.includes(flag))) throw new UsageError(`${flag} needs a value`);
    return next;
  }

  number(text: string, flag: string, check: (n: number) => boolean, what: string): number {
    const parsed = Number(text);
    if (text.trim() === '' || !Number.isFinite(parsed) || !check(parsed)) throw new UsageError(`${flag} must be ${what} (got "${text}")`);
    return parsed;
  }

  /** A whole number ≥ 1 after the flag at `index`. */
  count(index: number, flag: string): number {
    return this.number(this.value(index, flag), flag, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1');
  }
}

/** An error's message on one line (multi-line GPU and parser messages included). */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .join(' ');
}

/** `--model` as ModelFiles: a hub location (hub:owner/repo@revision) or a local folder. */
export function modelFilesFromArgument(model: string): ModelFiles {
  return model.startsWith('hub:') ? hubModelFiles(parseHubLocation(model)) : modelFolder(model);
}

/** A local folder as ModelFiles, after checking that it is one. */
function modelFolder(folder: string): ModelFiles {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new UsageError(`--model ${folder} is not a folder (give a folder with model.safetensors, or hub:owner/repo@revision)`);
  }
  return folderModelFiles(folder);
}
