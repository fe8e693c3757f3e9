import { describe, expect, it } from 'vitest';
import { parseHubLocation } from '../../../src/model/hub.ts';
import { hubModelFiles, loadSourceTokenizer, memoryModelFiles, openWeights, resolveModelSource } from '../../../src/model/model-source.ts';
import { IdTokenizer } from '../../../src/model/tokenizer.ts';
import { fixtureBytes } from '../../helpers/fixture-files.ts';

const text = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

// How a set of model files becomes a revision (no GPU involved).
describe('model sources', () => {
  it('a config.json with model sections describes the model itself (the tiny fixture), ids tokenizer', async () => {
    const files = memoryModelFiles('tiny', new Map([['config.json', fixtureBytes('config.json')]]));
    const source = await resolveModelSource(files);
    expect(source.revision.config.text.dim).toBe(64);
    expect(source.revision.config.vision.crop_size).toBe(56);
    expect(source.revision.prompt).toMatchObject({ kind: 'ids', queryPrefix: [1, 15, 2], querySuffix: [3] });
    expect(source.tokenizerFromFiles).toBe(false);
    const tokenizer = await loadSourceTokenizer(source);
    expect(tokenizer).toBeInstanceOf(IdTokenizer);
    expect(tokenizer.encode('40 41')).toEqual([40, 41]);
    expect(() => tokenizer.encode('512')).toThrow(/below 512/);
  });

  it('an HF config.json ("config": {}) takes the revision preset, the latest by default', async () => {
    const hf = text({ architectures: ['HfMoondream'], config: {}, model_type: 'moondream1' });
    const latest = await resolveModelSource(memoryModelFiles('hf', new Map([['config.json', hf]])));
    expect(latest.revision.id).toBe('2025-06-21');
    const old = await resolveModelSource(memoryModelFiles('hf', new Map([['config.json', hf]])), { revisionId: '2024-04-02' });
    expect(old.revision.id).toBe('2024-04-02');
    expect(old.revision.projectionInputDim).toBe(1152);
    await expect(resolveModelSource(memoryModelFiles('hf', new Map()), { revisionId: '1999-01-01' })).rejects.toThrow(/Unknown Moondream2 revision '1999-01-01'/);
  });

  it('notices a tokenizer.json in the files', async () => {
    const files = memoryModelFiles('m', new Map([['tokenizer.json', text({ model: {} })]]));
    expect((await resolveModelSource(files)).tokenizerFromFiles).toBe(true);
  });

  it('errors name the file and what to do', async () => {
    await expect(resolveModelSource(memoryModelFiles('broken', new Map([['config.json', text('{ not json')]])))).rejects.toThrow(
      /config\.json in broken is not valid JSON .*download it again/,
    );
    await expect(openWeights(memoryModelFiles('empty-folder', new Map()))).rejects.toThrow(/empty-folder has no model\.safetensors/);
    const weights = await openWeights(memoryModelFiles('m', new Map([['model.safetensors', new Uint8Array(16)]])));
    expect(weights.byteLength).toBe(16);
  });

  it('a hub branch named like a preset selects that revision and its tokenizer source', async () => {
    const requested: string[] = [];
    const fetch = async (url: string) => {
      requested.push(url);
      if (url.endsWith('/config.json')) return new Response(JSON.stringify({ config: {}, model_type: 'moondream1' }));
      return new Response('not found', { status: 404 });
    };
    const files = hubModelFiles(parseHubLocation('hub:vikhyatk/moondream2@2025-04-14'), { fetch });
    const source = await resolveModelSource(files);
    expect(source.revision.id).toBe('2025-04-14');
    expect(source.tokenizerFromFiles).toBe(false);
    expect(requested).toEqual(['https://huggingface.co/vikhyatk/moondream2/resolve/2025-04-14/config.json']);
    await expect(openWeights(files)).rejects.toThrow(/vikhyatk\/moondream2@2025-04-14 has no model\.safetensors/);
  });

  it('a hub branch that is no preset is refused with the known revisions, unless a preset is named', async () => {
    const fetch = async (url: string) =>
      url.endsWith('/config.json') ? new Response(JSON.stringify({ config: {}, model_type: 'moondream1' })) : new Response('not found', { status: 404 });
    const files = hubModelFiles(parseHubLocation('hub:vikhyatk/moondream2@main'), { fetch });
    await expect(resolveModelSource(files)).rejects.toThrow(
      /^vikhyatk\/moondream2@main: "main" is not a Moondream2 revision moontune knows; name one of 2025-06-21, 2025-04-14, 2024-04-02 \(e\.g\. vikhyatk\/moondream2@2025-06-21\)\.$/,
    );
    expect((await resolveModelSource(files, { revisionId: '2024-04-02' })).revision.id).toBe('2024-04-02');
  });
});
