// Where a model comes from: a set of named files (a local folder, files dropped on the page, a
// hub repository at a revision) behind one small interface, and how those files become a
// revision, a weights stream and a tokenizer.
//
// A folder holds `model.safetensors` plus either a `config.json` or a revision preset chosen by
// the caller, and optionally `tokenizer.json`:
// - a config.json with the model sections (`text`, `vision`, …, as the tiny fixture and the demo
//   model have) describes the model itself (revisionFromConfig);
// - an HF config.json (`"config": {}` wrapper, spec §2) says only "Moondream2": the revision
//   preset (default the latest) gives the architecture, prompts and tokenizer.
// This file reads no disk and knows no host: Node folders come from src/cli, browser files and
// hub downloads from their own ModelFiles implementations.
import { parseConfig } from './config.ts';
import { hubFileUrl, openDownload, type FetchLike, type HubLocation } from './hub.ts';
import { DEFAULT_REVISION_ID, getRevision, REVISIONS, revisionFromConfig, type Revision } from './revisions.ts';
import { HubTokenizer, loadTokenizer, type MoondreamTokenizer } from './tokenizer.ts';

export interface OpenedFile {
  readonly stream: ReadableStream<Uint8Array>;
  /** Size in bytes when known (file size, Content-Length). */
  readonly byteLength: number | undefined;
}

/** Named files of one model. */
export interface ModelFiles {
  /** For messages: a folder path, a hub location. */
  readonly name: string;
  /** Opens a file, or resolves undefined when the source has no such file. */
  open(file: string): Promise<OpenedFile | undefined>;
  /** A revision id the source itself names (a hub branch such as 2025-04-14). */
  readonly revisionHint?: string;
}

export const WEIGHTS_FILE = 'model.safetensors';

export interface ResolvedModelSource {
  readonly revision: Revision;
  readonly files: ModelFiles;
  /** Whether the tokenizer comes from the source's own tokenizer.json. */
  readonly tokenizerFromFiles: boolean;
}

/**
 * Decides the revision of a model source. `revisionId` picks a preset (needed for HF config.json
 * files and for sources without any config.json); a config.json with model sections wins over it.
 */
export async function resolveModelSource(files: ModelFiles, options: { revisionId?: string } = {}): Promise<ResolvedModelSource> {
  const configJson = await readJson(files, 'config.json');
  const hintedPreset = files.revisionHint !== undefined && files.revisionHint in REVISIONS ? files.revisionHint : undefined;
  let revision: Revision;
  if (configJson !== undefined && hasModelSections(configJson)) {
    const config = parseConfig(configJson);
    revision = revisionFromConfig(config, { id: options.revisionId ?? files.name, description: `Moondream model from ${files.name}` });
  } else {
    revision = getRevision(options.revisionId ?? hintedPreset ?? DEFAULT_REVISION_ID);
  }
  // A hub branch that is a known preset takes the preset's tokenizer source: a tokenizer.json left
  // in the repository need not be the branch's (2025-06-21 uses moondream/starmie-v1, spec §1.2).
  let tokenizerFromFiles = false;
  if (!hintedPreset) {
    const tokenizerFile = await files.open('tokenizer.json');
    await tokenizerFile?.stream.cancel();
    tokenizerFromFiles = tokenizerFile !== undefined;
  }
  return { revision, files, tokenizerFromFiles };
}

/** Opens the weights file, with an error naming the source when it is absent. */
export async function openWeights(files: ModelFiles): Promise<OpenedFile> {
  const weights = await files.open(WEIGHTS_FILE);
  if (!weights) throw new Error(`${files.name} has no ${WEIGHTS_FILE}. A model folder needs model.safetensors (and config.json or a --revision).`);
  return weights;
}

/** The tokenizer: the source's tokenizer.json when it has one, else the revision's own source. */
export async function loadSourceTokenizer(source: ResolvedModelSource, options: { fetch?: typeof fetch } = {}): Promise<MoondreamTokenizer> {
  if (source.tokenizerFromFiles) {
    const tokenizerJson = await readJson(source.files, 'tokenizer.json');
    const tokenizerConfig = (await readJson(source.files, 'tokenizer_config.json')) ?? {};
    return new HubTokenizer(tokenizerJson, tokenizerConfig);
  }
  return loadTokenizer(source.revision.tokenizer, { vocabSize: source.revision.config.text.vocab_size, fetch: options.fetch });
}

/** A hub repository at a revision as ModelFiles (plain downloads; caching is the page's business). */
export function hubModelFiles(location: HubLocation, options: { fetch?: FetchLike } = {}): ModelFiles {
  return {
    name: `${location.repo}@${location.revision}`,
    revisionHint: location.revision,
    async open(file) {
      try {
        const download = await openDownload(hubFileUrl(location, file), { fetch: options.fetch });
        return { stream: download.body, byteLength: download.totalBytes };
      } catch (error) {
        if ((error as { status?: number }).status === 404) return undefined;
        throw error;
      }
    },
  };
}

/** In-memory files (tests, files dropped on the page and read whole). */
export function memoryModelFiles(name: string, contents: ReadonlyMap<string, Uint8Array>): ModelFiles {
  return {
    name,
    async open(file) {
      const bytes = contents.get(file);
      if (!bytes) return undefined;
      return {
        byteLength: bytes.byteLength,
        stream: new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes.slice());
            controller.close();
          },
        }),
      };
    },
  };
}

/** True for configs that spell out the model (`text`, `vision`, … at the top or inside `"config"`). */
function hasModelSections(json: unknown): boolean {
  const sections = (value: unknown) => typeof value === 'object' && value !== null && ['text', 'vision'].some((key) => key in value);
  return sections(json) || (typeof json === 'object' && json !== null && sections((json as { config?: unknown }).config));
}

async function readJson(files: ModelFiles, file: string): Promise<unknown> {
  const opened = await files.open(file);
  if (!opened) return undefined;
  const text = await new Response(opened.stream).text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} in ${files.name} is not valid JSON (${(error as Error).message}); download it again.`);
  }
}
