// Model folders as people end up with them: a file missing, a Git LFS clone without the pull.
// The check runs before any weight is read; in-memory sources stand in for folders (`local`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hubModelFiles, loadSourceTokenizer, memoryModelFiles, resolveModelSource, WEIGHTS_FILE, type ModelFiles } from '../../../src/model/model-source.ts';
import { fixtureBytes } from '../../helpers/fixture-files.ts';
import { gitLfsPointer } from '../../helpers/dataset-builders.ts';

const demoFile = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(`../../../public/demo-model/${name}`, import.meta.url))));
const text = (value: string) => new TextEncoder().encode(value);
const DEMO = ['config.json', 'tokenizer.json', WEIGHTS_FILE];

/** The demo model's folder without some files, with some replaced; files stream in 256-byte chunks and the bytes handed out are counted. */
function demoFolder(options: { without?: string[]; replace?: Record<string, Uint8Array> } = {}): { files: ModelFiles; bytesRead: Map<string, number> } {
  const contents = new Map(DEMO.filter((name) => !options.without?.includes(name)).map((name) => [name, options.replace?.[name] ?? demoFile(name)]));
  const inner = memoryModelFiles('models/demo', contents, { local: true });
  const bytesRead = new Map<string, number>();
  return {
    bytesRead,
    files: {
      ...inner,
      async open(file) {
        const opened = await inner.open(file);
        if (!opened) return undefined;
        const whole = new Uint8Array(await new Response(opened.stream).arrayBuffer());
        let offset = 0;
        const stream = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (offset >= whole.length) return controller.close();
            const chunk = whole.subarray(offset, offset + 256);
            offset += chunk.length;
            bytesRead.set(file, (bytesRead.get(file) ?? 0) + chunk.length);
            controller.enqueue(chunk);
          },
        });
        return { stream, byteLength: opened.byteLength };
      },
    },
  };
}

describe('local model folders are checked before any weight is read', () => {
  it('a complete folder resolves, with its own tokenizer', async () => {
    const source = await resolveModelSource(demoFolder().files);
    expect(source.tokenizerFromFiles).toBe(true);
    expect((await loadSourceTokenizer(source)).encode('How many')).not.toEqual([]);
  });

  it('without tokenizer.json: says so (not "\'How\' is not a token id" at the first question)', async () => {
    await expect(resolveModelSource(demoFolder({ without: ['tokenizer.json'] }).files)).rejects.toThrow(
      'tokenizer.json is missing from models/demo; a model folder needs model.safetensors, config.json and tokenizer.json from the same download — add it and load the model again.',
    );
  });

  it('without config.json: says so, and how to name a preset instead', async () => {
    await expect(resolveModelSource(demoFolder({ without: ['config.json'] }).files)).rejects.toThrow(
      'config.json is missing from models/demo; a model folder needs model.safetensors, config.json and tokenizer.json from the same download — add it and load the model again (or, in the CLI, name its revision preset with --revision instead of a config.json).',
    );
    const named = await resolveModelSource(demoFolder({ without: ['config.json'] }).files, { revisionId: '2025-04-14' });
    expect(named.revision.id).toBe('2025-04-14');
  });

  it('without weights and config: both named in one message', async () => {
    await expect(resolveModelSource(demoFolder({ without: [WEIGHTS_FILE, 'config.json'] }).files)).rejects.toThrow(/^model\.safetensors and config\.json are missing from models\/demo; /);
  });

  it('Git LFS pointers in place of the weights and the tokenizer: named together, the weights never read', async () => {
    const { files, bytesRead } = demoFolder({ replace: { [WEIGHTS_FILE]: text(gitLfsPointer(3_854_000_000)), 'tokenizer.json': text(gitLfsPointer(2_100_000)) } });
    const pointerBytes = gitLfsPointer(3_854_000_000).length;
    await expect(resolveModelSource(files)).rejects.toThrow(
      `In models/demo, model.safetensors is a Git LFS pointer (${pointerBytes} bytes standing for a 3.9 GB file) and tokenizer.json is a Git LFS pointer (${gitLfsPointer(2_100_000).length} bytes standing for a 2.1 MB file), not the file itself: the folder was cloned without Git LFS. Run \`git lfs pull\` in it (or download the files from the model's page) and load it again.`,
    );
    expect(bytesRead.get(WEIGHTS_FILE)).toBe(pointerBytes);
  });

  it('a real weights file is read only to its first KiB by the check', async () => {
    const { files, bytesRead } = demoFolder();
    await resolveModelSource(files);
    expect(demoFile(WEIGHTS_FILE).length).toBeGreaterThan(100_000);
    // 1025 bytes tell a pointer from a file: five 256-byte chunks, and the one the stream pulls ahead
    expect(bytesRead.get(WEIGHTS_FILE)).toBeLessThanOrEqual(6 * 256);
  });

  it('the token-id test fixture (no tokenizer.json) is accepted when asked for', async () => {
    const fixture = memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')], [WEIGHTS_FILE, fixtureBytes('model.safetensors')]]), { local: true });
    await expect(resolveModelSource(fixture)).rejects.toThrow(/tokenizer\.json is missing from moondream-tiny/);
    const source = await resolveModelSource(fixture, { tokenIds: true });
    expect((await loadSourceTokenizer(source)).encode('40 41')).toEqual([40, 41]);
  });

  it('an HF config.json folder without tokenizer.json: a failed download of the preset\'s names the missing file', async () => {
    const hf = memoryModelFiles('snapshots/abc', new Map([['config.json', text('{"config": {}, "model_type": "moondream1"}')], [WEIGHTS_FILE, new Uint8Array(2048)]]), { local: true });
    const source = await resolveModelSource(hf);
    const offline = (async () => {
      throw new TypeError('fetch failed');
    }) as unknown as typeof fetch;
    await expect(loadSourceTokenizer(source, { fetch: offline })).rejects.toThrow(
      /^tokenizer\.json is missing from snapshots\/abc, and the tokenizer of revision 2025-06-21 could not be downloaded in its place \(.*fetch failed.*\); put moondream\/starmie-v1's tokenizer\.json beside model\.safetensors\.$/,
    );
  });

  it("a hub mirror's preset revision takes its tokenizer from the mirror too, not from the Hugging Face hub", async () => {
    const asked: string[] = [];
    const mirror = (async (url: string) => {
      asked.push(url);
      if (url.endsWith('/tokenizer.json')) return new Response(demoFile('tokenizer.json'));
      return new Response('Entry not found', { status: 404 });
    }) as unknown as typeof fetch;
    const files = hubModelFiles({ repo: 'vikhyatk/moondream2', revision: '2025-06-21', origin: 'http://mirror.test' }, { fetch: mirror });
    const source = await resolveModelSource(files);
    expect(source.tokenizerFromFiles).toBe(false);
    await loadSourceTokenizer(source, { fetch: mirror });
    expect(asked.filter((url) => url.includes('starmie'))).toEqual(['http://mirror.test/moondream/starmie-v1/resolve/main/tokenizer.json', 'http://mirror.test/moondream/starmie-v1/resolve/main/tokenizer_config.json']);
    expect(asked.every((url) => url.startsWith('http://mirror.test/'))).toBe(true);
  });

  it('sources that are not folders (tests, the hub) are not held to it', async () => {
    const fixture = memoryModelFiles('moondream-tiny', new Map([['config.json', fixtureBytes('config.json')]]));
    await expect(resolveModelSource(fixture)).resolves.toMatchObject({ tokenizerFromFiles: false });
  });
});
