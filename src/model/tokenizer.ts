// Tokenizers behind one small interface. Real revisions load a Hugging Face tokenizer.json with
// `@huggingface/tokenizers` (spec §10); the tiny fixture has no tokenizer file and spells its
// token ids as whitespace-separated decimals (fixture README, "Runtime shims").
import { Tokenizer } from '@huggingface/tokenizers';
import { hubFileUrl, openDownload, type FetchLike } from './hub.ts';
import type { TokenizerSource } from './revisions.ts';

export interface MoondreamTokenizer {
  /** Token ids of `text`, without any special tokens added (upstream adds control ids itself). */
  encode(text: string): number[];
  /** Text of `ids`; special tokens (BOS/EOS) are left out, as upstream's decode does. */
  decode(ids: readonly number[]): string;
}

/** Wraps a tokenizer.json (+ optional tokenizer_config.json) in the moontune interface. */
export class HubTokenizer implements MoondreamTokenizer {
  private readonly tokenizer: Tokenizer;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}) {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || !('model' in tokenizerJson)) {
      throw new Error('tokenizer.json has no "model" section: it is not a Hugging Face tokenizers file. Download it again.');
    }
    try {
      this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig ?? {});
    } catch (error) {
      throw new Error(`tokenizer.json could not be loaded (${(error as Error).message}). Check that it is the revision's tokenizer file.`);
    }
  }

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[]): string {
    // An answer that ends at once (EOS first) has no tokens; the library refuses an empty list.
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /** The id of a token string (e.g. '<|endoftext|>'), if the vocabulary has it. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }
}

/**
 * The tiny fixture's stand-in tokenizer: "40 41 42" ↔ [40, 41, 42]. Decoding joins ids with
 * spaces, so decode(encode(s)) gives s back up to whitespace.
 */
export class IdTokenizer implements MoondreamTokenizer {
  constructor(private readonly vocabSize = Number.MAX_SAFE_INTEGER) {}

  encode(text: string): number[] {
    const words = text.trim().split(/\s+/).filter((word) => word.length > 0);
    return words.map((word) => {
      if (!/^\d+$/.test(word) || Number(word) >= this.vocabSize) {
        throw new Error(`'${word}' is not a token id below ${this.vocabSize}: this model takes its text as whitespace-separated token ids.`);
      }
      return Number(word);
    });
  }

  decode(ids: readonly number[]): string {
    return ids.join(' ');
  }
}

/**
 * Fetches a hub tokenizer (tokenizer.json, and tokenizer_config.json when the repo has one), with
 * the download errors of hub.ts (unreachable host, gated repository, missing file).
 */
export async function loadTokenizer(
  source: TokenizerSource,
  options: { vocabSize?: number; fetch?: FetchLike; baseUrl?: string } = {},
): Promise<MoondreamTokenizer> {
  if (source.kind === 'ids') return new IdTokenizer(options.vocabSize);
  const location = { repo: source.repo, revision: source.revision, origin: options.baseUrl };
  const readJson = async (file: string) => new Response((await openDownload(hubFileUrl(location, file), { fetch: options.fetch })).body).json();
  let tokenizerJson: unknown;
  try {
    tokenizerJson = await readJson(source.file);
  } catch (error) {
    throw new Error(`Could not download the tokenizer ${source.repo}/${source.file} at ${source.revision}: ${(error as Error).message}`);
  }
  const tokenizerConfig = await readJson('tokenizer_config.json').catch((error) => {
    if ((error as { status?: number }).status === 404) return {}; // the repository has none
    throw error;
  });
  return new HubTokenizer(tokenizerJson, tokenizerConfig);
}
