// --model <folder> as infer and train open it: a local source, so the model-folder check of
// model-source.ts runs on it before any weight loads (no GPU needed to see it).
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { modelFilesFromArgument } from '../../../src/cli/cli-shared.ts';
import { resolveModelSource } from '../../../src/model/model-source.ts';
import { gitLfsPointer } from '../../helpers/dataset-builders.ts';

const demoModel = fileURLToPath(new URL('../../../public/demo-model/', import.meta.url));
const folders: string[] = [];
afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true })));

function folderWith(files: string[], replace: Record<string, string> = {}): string {
  const folder = mkdtempSync(join(tmpdir(), 'moontune-model-'));
  folders.push(folder);
  for (const file of files) copyFileSync(join(demoModel, file), join(folder, file));
  for (const [file, text] of Object.entries(replace)) writeFileSync(join(folder, file), text);
  return folder;
}

describe('modelFilesFromArgument: a folder', () => {
  it('the demo model folder resolves with its own tokenizer', async () => {
    expect((await resolveModelSource(modelFilesFromArgument(folderWith(['config.json', 'tokenizer.json', 'model.safetensors'])))).tokenizerFromFiles).toBe(true);
  });

  it('names a missing tokenizer.json', async () => {
    const folder = folderWith(['config.json', 'model.safetensors']);
    await expect(resolveModelSource(modelFilesFromArgument(folder))).rejects.toThrow(`tokenizer.json is missing from ${folder}; `);
  });

  it('names a Git LFS pointer in place of config.json', async () => {
    const folder = folderWith(['tokenizer.json', 'model.safetensors'], { 'config.json': gitLfsPointer(2048) });
    await expect(resolveModelSource(modelFilesFromArgument(folder))).rejects.toThrow(`In ${folder}, config.json is a Git LFS pointer (`);
  });
});
