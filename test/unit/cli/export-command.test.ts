// `npm run cli -- export` without a GPU: bad input exits 2 with one line and writes nothing; an
// adapter of the demo model's shapes becomes PEFT files that read back to it and a merged
// model.safetensors with the base file's tensors; the demo dataset becomes its JSONL zip.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DATASET_ZIP, run } from '../../../src/cli/export-command.ts';
import type { LoraAdapterData } from '../../../src/gpu/lora.ts';
import { SafetensorsFile } from '../../../src/model/safetensors.ts';
import { writeAdapterFile } from '../../../src/train/adapter-export.ts';
import { readPeftAdapter } from '../../../src/train/peft-adapter.ts';
import { DEMO_MODEL_DIR, REPOSITORY_ROOT } from '../../helpers/demo-files.ts';
import { randomFloats } from '../../helpers/random.ts';

const DEMO_DATASET = join(REPOSITORY_ROOT, 'public', 'demo', 'coins.coco.zip');

async function runCapturing(args: string[]): Promise<{ code: number; stderr: string[]; stdout: string[] }> {
  const stderr: string[] = [];
  const stdout: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((line: unknown) => void stderr.push(String(line)));
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void stdout.push(String(line)));
  try {
    return { code: await run(args), stderr, stdout };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('npm run cli -- export', () => {
  const folders: string[] = [];
  afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true })));
  const folder = () => {
    const made = mkdtempSync(join(tmpdir(), 'moontune-export-'));
    folders.push(made);
    return made;
  };

  /** An adapter on the demo model's block-0 qkv and block-1 fc2, as train writes it. */
  function demoAdapterPath(): { path: string; adapters: Map<string, LoraAdapterData> } {
    const base = new SafetensorsFile(new Uint8Array(readFileSync(join(DEMO_MODEL_DIR, 'model.safetensors'))));
    const adapters = new Map<string, LoraAdapterData>();
    for (const [index, layer] of ['model.text.blocks.0.attn.qkv', 'model.text.blocks.1.mlp.fc2'].entries()) {
      const [outFeatures, inFeatures] = base.info(`${layer}.weight`).shape;
      adapters.set(layer, { a: randomFloats(2 * inFeatures, index), b: randomFloats(outFeatures * 2, index + 9), inFeatures, outFeatures });
    }
    const path = join(folder(), 'adapter.safetensors');
    writeFileSync(path, writeAdapterFile({ config: { rank: 2, alpha: 4, targets: ['attn.qkv', 'mlp.fc2'] }, revision: 'public/demo-model', adapters }));
    return { path, adapters };
  }

  it('exits 2 with one line on bad input, before writing anything', async () => {
    const { path } = demoAdapterPath();
    const out = join(folder(), 'out');
    for (const [args, message] of [
      [[], /--out is required/],
      [['--out', out], /nothing to export/],
      [['--out', out, '--adapter', path], /--adapter needs --model/],
      [['--out', out, '--dataset', DEMO_DATASET, '--merged'], /--merged needs --adapter/],
      [['--out', out, '--adapter', '/no/such.safetensors', '--model', DEMO_MODEL_DIR], /--adapter \/no\/such\.safetensors does not exist/],
      [['--out', out, '--adapter', join(DEMO_MODEL_DIR, 'model.safetensors'), '--model', DEMO_MODEL_DIR], /not a moontune LoRA adapter/],
      [['--out', out, '--adapter', path, '--model', '/no/such/folder'], /is not a folder/],
      [['--out', out, '--fast'], /unexpected argument --fast/],
    ] as const) {
      const { code, stderr } = await runCapturing([...args]);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).toMatch(/^export: /);
      expect(stderr[0]).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });

  it('writes the PEFT adapter, the merged model and the dataset zip', async () => {
    const { path, adapters } = demoAdapterPath();
    const out = join(folder(), 'out');
    const { code, stdout, stderr } = await runCapturing(['--out', out, '--adapter', path, '--model', DEMO_MODEL_DIR, '--merged', '--dataset', DEMO_DATASET]);
    expect(stderr).toEqual([]);
    expect(code).toBe(0);
    expect(stdout.join('\n')).toMatch(/PEFT adapter: .*adapter_config\.json.*\nmerged model: .*model\.safetensors.*\ndataset: .*dataset-jsonl\.zip \(1200 images/);

    const peft = readPeftAdapter({ config: new Uint8Array(readFileSync(join(out, 'adapter_config.json'))), weights: new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors'))) });
    expect(peft.adapters).toEqual(adapters);
    const base = new SafetensorsFile(new Uint8Array(readFileSync(join(DEMO_MODEL_DIR, 'model.safetensors'))));
    const merged = new SafetensorsFile(new Uint8Array(readFileSync(join(out, 'model.safetensors'))));
    expect(merged.names).toEqual(base.names);
    expect(merged.tensorBytes('model.text.blocks.0.attn.qkv.weight')).not.toEqual(base.tensorBytes('model.text.blocks.0.attn.qkv.weight'));
    expect(merged.tensorBytes('model.text.blocks.0.attn.proj.weight')).toEqual(base.tensorBytes('model.text.blocks.0.attn.proj.weight'));
    const zip = unzipSync(new Uint8Array(readFileSync(join(out, DATASET_ZIP))));
    expect(Object.keys(zip).filter((name) => name.endsWith('.jsonl')).sort()).toEqual(['test.jsonl', 'train.jsonl', 'val.jsonl']);
    expect(existsSync(join(out, 'model.safetensors.tmp'))).toBe(false);
  });
});
