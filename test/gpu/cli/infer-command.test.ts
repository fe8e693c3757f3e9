import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../../src/cli/infer-command.ts';
import { loadDataset, readImageBytes } from '../../../src/dataset/load.ts';
import { isCountAnswer } from '../../helpers/count-answers.ts';
import { FIXTURE_DIR, fixtureBytes, fixturePath, goldenFile } from '../../helpers/fixture-files.ts';
import { buildSafetensors } from '../../helpers/safetensors-builder.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

async function runCapturing(args: string[]): Promise<{ code: number; stderr: string[]; stdout: string[] }> {
  const stderr: string[] = [];
  const stdout: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void stderr.push(String(line)));
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void stdout.push(String(line)));
  const code = await run(args);
  vi.restoreAllMocks();
  return { code, stderr, stdout };
}

describe('npm run cli -- infer on the fixture model (WebGPU)', () => {
  const folders: string[] = [];
  afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true })));

  function modelFolder(files: Record<string, Uint8Array | string>): string {
    const folder = mkdtempSync(join(tmpdir(), 'moontune-infer-'));
    folders.push(folder);
    for (const [name, content] of Object.entries(files)) writeFileSync(join(folder, name), content);
    return folder;
  }

  it('answers "40 41 42 43" with the golden greedy tokens; --verbose reports timings and memory on stderr', async () => {
    const { code, stdout, stderr } = await runCapturing([
      '--model', FIXTURE_DIR, '--token-ids', '--image', fixturePath('image.png'), '--question', '40 41 42 43', '--max-tokens', '12', '--temperature', '0', '--precision', 'f32', '--verbose',
    ]);
    expect(code).toBe(0);
    expect(stdout).toEqual([Array.from(goldenFile().int32('greedy_tokens')).join(' ')]);
    const log = stderr.join('\n');
    expect(log).toMatch(/^adapter: /m);
    expect(log).toMatch(/GPU memory: weights 1\.0 MiB/); // 96 f32 tensors, 1,019,... bytes
    expect(log).toMatch(/prefill: 9 prompt tokens in \d+ ms/);
    expect(log).toMatch(/decode: 12 tokens in \d+ ms .*stopped at max tokens/);
  });

  it('exits 2 with one line when the folder has no model.safetensors', async () => {
    const folder = modelFolder({ 'config.json': fixtureBytes('config.json') });
    const { code, stderr, stdout } = await runCapturing(['--model', folder, '--image', fixturePath('image.png'), '--question', '40']);
    expect(code).toBe(2);
    expect(stdout).toEqual([]);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^infer: model\.safetensors and tokenizer\.json are missing from .*; a model folder needs/);
  });

  it('exits 2 with one line naming the missing tokenizer.json, before any weight loads', async () => {
    const folder = modelFolder({ 'config.json': fixtureBytes('config.json'), 'model.safetensors': fixtureBytes('model.safetensors') });
    const { code, stderr, stdout } = await runCapturing(['--model', folder, '--image', fixturePath('image.png'), '--question', 'How many coins?', '--verbose']);
    expect(code).toBe(2);
    expect(stdout).toEqual([]);
    expect(stderr.at(-1)).toBe(`infer: tokenizer.json is missing from ${folder}; a model folder needs model.safetensors, config.json and tokenizer.json from the same download — add it and load the model again.`);
    expect(stderr.join('\n')).not.toMatch(/^weights: /m); // no weight-loading progress was reported
  });

  it('exits 2 with one line naming a Git LFS pointer in place of model.safetensors', async () => {
    const pointer = 'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 3854000000\n';
    const folder = modelFolder({ 'config.json': fixtureBytes('config.json'), 'model.safetensors': pointer });
    const { code, stderr } = await runCapturing(['--model', folder, '--token-ids', '--image', fixturePath('image.png'), '--question', '40']);
    expect(code).toBe(2);
    expect(stderr).toEqual([`infer: In ${folder}, model.safetensors is a Git LFS pointer (${pointer.length} bytes standing for a 3.9 GB file), not the file itself: the folder was cloned without Git LFS. Run \`git lfs pull\` in it (or download the files from the model's page) and load it again.`]);
  });

  it('exits 2 with one line naming the missing tensor when the weights do not match the config', async () => {
    const weights = new (await import('../../../src/model/safetensors.ts')).SafetensorsFile(fixtureBytes('model.safetensors'));
    const entries = weights.header.tensors
      .filter((info) => info.name !== 'model.vision.post_ln.weight')
      .map((info) => ({ name: info.name, dtype: info.dtype, shape: [...info.shape], data: weights.tensorBytes(info.name) }));
    const folder = modelFolder({ 'config.json': fixtureBytes('config.json'), 'model.safetensors': buildSafetensors(entries) });
    const { code, stderr } = await runCapturing(['--model', folder, '--token-ids', '--image', fixturePath('image.png'), '--question', '40']);
    expect(code).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).not.toContain('\n');
    expect(stderr[0]).toMatch(/missing tensors \(1\): model\.vision\.post_ln\.weight \[32\]/);
  });

  it('--constrain counts --classes gives an answer of the counting format (demo model and a demo image)', async () => {
    const source = { kind: 'zip' as const, name: 'coins.coco.zip', data: new Uint8Array(readFileSync(join(ROOT, 'public', 'demo', 'coins.coco.zip'))) };
    const dataset = await loadDataset(source);
    const sample = dataset.images.find((image) => image.split === 'test')!;
    const folder = modelFolder({});
    const imagePath = join(folder, sample.fileName);
    writeFileSync(imagePath, await readImageBytes(source, sample));
    const classes = dataset.classes.map((entry) => entry.name);
    const { code, stdout, stderr } = await runCapturing([
      '--model', join(ROOT, 'public', 'demo-model'), '--image', imagePath, '--question', sample.question, '--max-tokens', '40', '--constrain', 'counts', '--classes', classes.join(','), '--verbose',
    ]);
    expect(code, stderr.join('\n')).toBe(0);
    expect(isCountAnswer(stdout.join('\n'), classes), stdout.join('\n')).toBe(true);
    expect(stderr.join('\n')).toMatch(/answers constrained to counts of penny, nickel, dime, quarter/);
  });

  it('exits 2 with one line when the tokenizer cannot write the counting format (the fixture spells token ids)', async () => {
    const { code, stderr } = await runCapturing(['--model', FIXTURE_DIR, '--token-ids', '--image', fixturePath('image.png'), '--question', '40', '--constrain', 'counts', '--classes', 'dime']);
    expect(code).toBe(2);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]).toMatch(/^infer: No token of this tokenizer can write "\{" next/);
  });
});
