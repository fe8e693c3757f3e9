// Split names: Roboflow writes train/ valid/ test/; other tools write val or validation.

import type { SplitName } from './types.ts';

export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];

const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
  testing: 'test',
};

/** The split a folder name stands for, if any (case-insensitive). */
export function splitFromFolderName(name: string): SplitName | undefined {
  return SPLIT_ALIASES[name.toLowerCase()];
}

/** The split named by a word in a file name, e.g. `instances_val2017.json` → 'val'. */
export function splitFromFileName(fileName: string): SplitName | undefined {
  const words = fileName.toLowerCase().replace(/\.json$/, '').split(/[^a-z]+/);
  const found = new Set(words.map((word) => SPLIT_ALIASES[word]).filter((split) => split !== undefined));
  return found.size === 1 ? [...found][0] : undefined;
}
