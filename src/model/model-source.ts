// Where a model comes from: a set of named files (a local folder, files dropped on the page, a
// hub repository at a revision) behind one small interface, and how those files become a
// revision, a weights stream and a tokenizer.
//
// A folder holds `model.safetensors` plus either a `config.json` or a revision preset chosen by
// the caller, and `tokenizer.json`:
// - a config.json with the model sections (`text`, `vision`, …, as the tiny fixture and the demo
//   model have) describes the model itself (revisionFromConfig); its tokenizer is the folder's
//   tokenizer.json (only the tiny test fixture has none: it reads token ids);
// - an HF config.json (`"config": {}` wrapper, spec §2) says only "Moondream2": the revision
//   preset (default the latest) gives the architecture, prompts and tokenizer, which is
//   downloaded from the preset's repository when the folder has no tokenizer.json.
// Files the user holds (a folder, picked files) are checked before any weight loads
// (checkLocalModelFiles): a missing file or a Git LFS pointer is named, not met later as a
// tokenizer or download error.
// This file reads no disk and knows no host: Node folders come from src/cli, browser files and
// hub downloads from their own ModelFiles implementations.
import { parseConfig } from './config.ts';
import { hubFileUrl, openDownload, type FetchLike, type HubLocation } from './hub.ts';
import { DEFAULT_REVISION_ID, getRevision, REVISIONS, revisionFromConfig, type Revision } from './revisions.ts';
import { HubTokenizer, loadTokenizer, type MoondreamTokenizer } from './tokenizer.ts';
import { describeGitLfsPointer, readGitLfsPointer } from '../files/git-lfs-pointer.ts';

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
  /**
   * Files the user holds (a local folder, files picked on the page) rather than a repository:
   * resolveModelSource checks that the model's files are all there before any weight loads.
   */
  readonly local?: boolean;
  /**
   * The hub origin the files come from, when not the Hugging Face hub (a mirror): a revision
   * preset's tokenizer is downloaded from its repository on the same origin.
   */
  readonly hubOrigin?: string;
}

export const WEIGHTS_FILE = 'model.safetensors';
const CONFIG_FILE = 'config.json';
const TOKENIZER_FILE = 'tokenizer.json';

export interface ResolveOptions {
  /** Revision preset for sources whose config does not describe the model (HF config.json, none). */
  readonly revisionId?: string;
  /**
   * The model reads its questions as whitespace-separated token ids and has no tokenizer.json
   * (the tiny test fixture): a local folder without one is then accepted.
   */
  readonly tokenIds?: boolean;
}

export interface ResolvedModelSource {
  readonly revision: Revision;
  readonly files: ModelFiles;
  /** Whether the tokenizer comes from the source's own tokenizer.json. */
  readonly tokenizerFromFiles: boolean;
}

/**
 * Decides the revision of a model source. `revisionId` picks a preset (needed for HF config.json
 * files and for sources without any config.json); a config.json with model sections wins over it.
 * A hub branch that names no preset is refused unless `revisionId` says which preset it is.
 */
export async function resolveModelSource(files: ModelFiles, options: ResolveOptions = {}): Promise<ResolvedModelSource> {
  if (files.local) await checkLocalModelFiles(files, options);
  const configJson = await readJson(files, CONFIG_FILE);
  const hintedPreset = files.revisionHint !== undefined && files.revisionHint in REVISIONS ? files.revisionHint : undefined;
  let revision: Revision;
  if (configJson !== undefined && hasModelSections(configJson)) {
    const config = parseConfig(configJson);
    revision = revisionFromConfig(config, { id: options.revisionId ?? files.name, description: `Moondream model from ${files.name}` });
  } else {
    if (options.revisionId === undefined && files.revisionHint !== undefined && !hintedPreset) {
      // A hub branch that is no preset would otherwise load as the default preset, which may not
      // be what the branch holds.
      throw new Error(
        `${files.name}: "${files.revisionHint}" is not a Moondream2 revision moontune knows; name one of ${Object.keys(REVISIONS).join(', ')} (e.g. ${files.name.replace(/@.*$/, '')}@${DEFAULT_REVISION_ID}).`,
      );
    }
    revision = getRevision(options.revisionId ?? hintedPreset ?? DEFAULT_REVISION_ID);
  }
  // A hub branch that is a known preset takes the preset's tokenizer source: a tokenizer.json left
  // in the repository need not be the branch's (2025-06-21 uses moondream/starmie-v1, spec §1.2).
  let tokenizerFromFiles = false;
  if (!hintedPreset) {
    const tokenizerFile = await files.open(TOKENIZER_FILE);
    await tokenizerFile?.stream.cancel();
    tokenizerFromFiles = tokenizerFile !== undefined;
  }
  return { revision, files, tokenizerFromFiles };
}

/**
 * What a model folder must hold, checked by reading at most the first KiB of each file: no Git
 * LFS pointer in place of a file; model.safetensors; config.json, unless a revision preset is
 * named; tokenizer.json, when config.json describes the model itself (a preset's tokenizer is
 * downloaded from its repository otherwise). One message names every file at fault.
 */
export async function checkLocalModelFiles(files: ModelFiles, options: ResolveOptions = {}): Promise<void> {
  const heads = new Map<string, Uint8Array | undefined>();
  for (const file of [WEIGHTS_FILE, CONFIG_FILE, TOKENIZER_FILE, 'tokenizer_config.json']) heads.set(file, await readHead(files, file));

  const pointers = [...heads].flatMap(([file, head]) => {
    const pointer = head && readGitLfsPointer(head);
    return pointer ? [`${file} ${describeGitLfsPointer(pointer)}`] : [];
  });
  if (pointers.length > 0) {
    throw new Error(`In ${files.name}, ${pointers.join(' and ')}, not the file itself: the folder was cloned without Git LFS. Run \`git lfs pull\` in it (or download the files from the model's page) and load it again.`);
  }

  const missing: string[] = [];
  if (!heads.get(WEIGHTS_FILE)) missing.push(WEIGHTS_FILE);
  const config = heads.get(CONFIG_FILE) && (await readJson(files, CONFIG_FILE));
  if (config === undefined && options.revisionId === undefined) missing.push(CONFIG_FILE);
  const tokenizerFromConfig = config !== undefined && hasModelSections(config);
  if (!heads.get(TOKENIZER_FILE) && tokenizerFromConfig && !options.tokenIds) missing.push(TOKENIZER_FILE);
  if (missing.length === 0) return;
  const instead = missing.includes(CONFIG_FILE) ? ' (or, in the CLI, name its revision preset with --revision instead of a config.json)' : '';
  throw new Error(
    `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing from ${files.name}; a model folder needs ${WEIGHTS_FILE}, ${CONFIG_FILE} and ${TOKENIZER_FILE} from the same download — ` +
      `add ${missing.length === 1 ? 'it' : 'them'} and load the model again${instead}.`,
  );
}

/** The first bytes of a file (up to 1 KiB: enough to tell a Git LFS pointer), undefined when absent. */
async function readHead(files: ModelFiles, file: string): Promise<Uint8Array | undefined> {
  const opened = await files.open(file);
  if (!opened) return undefined;
  const reader = opened.stream.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  while (length < 1025) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
  }
  await reader.cancel();
  const head = new Uint8Array(Math.min(length, 1025));
  let offset = 0;
  for (const chunk of chunks) {
    head.set(chunk.subarray(0, head.length - offset), offset);
    offset += Math.min(chunk.length, head.length - offset);
  }
  return head;
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
  try {
    return await loadTokenizer(source.revision.tokenizer, { vocabSize: source.revision.config.text.vocab_size, fetch: options.fetch, baseUrl: source.files.hubOrigin });
  } catch (error) {
    if (!source.files.local || source.revision.tokenizer.kind !== 'hub') throw error;
    // The folder lacks the file; say so before the download's own reason.
    const { repo, file } = source.revision.tokenizer;
    throw new Error(`${TOKENIZER_FILE} is missing from ${source.files.name}, and the tokenizer of revision ${source.revision.id} could not be downloaded in its place (${(error as Error).message}); put ${repo}'s ${file} beside ${WEIGHTS_FILE}.`);
  }
}

/** A hub repository at a revision as ModelFiles (plain downloads; caching is the page's business). */
export function hubModelFiles(location: HubLocation, options: { fetch?: FetchLike } = {}): ModelFiles {
  return {
    name: `${location.repo}@${location.revision}`,
    revisionHint: location.revision,
    hubOrigin: location.origin,
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

/** In-memory files (tests, files dropped on the page and read whole); `local` as a folder would be. */
export function memoryModelFiles(name: string, contents: ReadonlyMap<string, Uint8Array>, options: { local?: boolean } = {}): ModelFiles {
  return {
    name,
    local: options.local,
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
