// Constrained decoding: a language of answers, given as an automaton over characters, becomes a
// per-step mask over the tokenizer's vocabulary. For an automaton state, a token is allowed when
// its text, read character by character from that state, keeps the output a prefix of some word of
// the language; EOS is allowed exactly in accepting states. This is how web-llm's grammar matcher
// and llguidance constrain a model: the vocabulary as a prefix tree walked together with the
// automaton, so tokens that share a beginning are checked once and a dead character prunes every
// token under it.
//
// What is precomputed: the prefix tree once per tokenizer (`vocabularyTrieOf`), the automaton once
// per language (e.g. per class list), and each state's allowed tokens the first time the state is
// reached, kept for every later answer that passes through it.
import type { MoondreamTokenizer } from './tokenizer.ts';

/** The state an automaton answers for a character that leaves its language. */
export const DEAD_STATE = -1;

/** A deterministic automaton over UTF-16 code units; states are non-negative integers. */
export interface CharacterAutomaton {
  readonly start: number;
  /** The state after one more code unit, or DEAD_STATE when no word of the language continues so. */
  next(state: number, code: number): number;
  /** Whether the text read so far is a whole word (EOS may follow). */
  accepting(state: number): boolean;
  /** What the state expects next, for messages ("a digit", "\"dime\": "). */
  describe(state: number): string;
}

/**
 * The vocabulary's token texts as a prefix tree in flat arrays. Node 0 is the root (the empty
 * text); the children of node n are the nodes firstChild[n] … firstChild[n] + childCount[n] − 1,
 * node m adds the code unit code[m] to its parent's text, and tokenIds[tokenStart[m] …
 * tokenEnd[m]) are the tokens whose whole text is node m's. Tokens with an empty text (special
 * tokens, which decode to nothing) are left out: they would never advance an answer.
 */
export class VocabularyTrie {
  private constructor(
    /** Text of each token id ('' for ids left out). */
    readonly texts: readonly string[],
    private readonly code: Uint16Array,
    private readonly firstChild: Int32Array,
    private readonly childCount: Int32Array,
    private readonly tokenStart: Int32Array,
    private readonly tokenEnd: Int32Array,
    private readonly tokenIds: Int32Array,
  ) {}

  static fromTexts(texts: readonly string[]): VocabularyTrie {
    const ids = texts.map((_, id) => id).filter((id) => texts[id].length > 0);
    ids.sort((a, b) => (texts[a] < texts[b] ? -1 : texts[a] > texts[b] ? 1 : a - b));
    const code: number[] = [0];
    const firstChild: number[] = [0];
    const childCount: number[] = [0];
    const tokenStart: number[] = [0];
    const tokenEnd: number[] = [0];
    const tokenIds: number[] = [];
    // Breadth first, so that each node's children get consecutive indices. A queue entry is a node
    // and the range of sorted ids whose texts start with its text (of length `depth`).
    const queue: { node: number; low: number; high: number; depth: number }[] = [{ node: 0, low: 0, high: ids.length, depth: 0 }];
    for (let head = 0; head < queue.length; head++) {
      const { node, low, high, depth } = queue[head];
      let index = low;
      tokenStart[node] = tokenIds.length;
      // Sorted order puts the texts that end here (the shortest) first.
      while (index < high && texts[ids[index]].length === depth) tokenIds.push(ids[index++]);
      tokenEnd[node] = tokenIds.length;
      firstChild[node] = code.length;
      childCount[node] = 0;
      while (index < high) {
        const unit = texts[ids[index]].charCodeAt(depth);
        let end = index;
        while (end < high && texts[ids[end]].charCodeAt(depth) === unit) end++;
        const child = code.length;
        code.push(unit);
        firstChild.push(0);
        childCount.push(0);
        tokenStart.push(0);
        tokenEnd.push(0);
        childCount[node]++;
        queue.push({ node: child, low: index, high: end, depth: depth + 1 });
        index = end;
      }
    }
    return new VocabularyTrie(
      texts,
      Uint16Array.from(code),
      Int32Array.from(firstChild),
      Int32Array.from(childCount),
      Int32Array.from(tokenStart),
      Int32Array.from(tokenEnd),
      Int32Array.from(tokenIds),
    );
  }

  get size(): number {
    return this.texts.length;
  }

  /** Ids of every token whose text the automaton can read from `state` without dying, in trie order. */
  tokensFrom(automaton: CharacterAutomaton, state: number): number[] {
    const allowed: number[] = [];
    const walk = (node: number, from: number) => {
      const end = this.firstChild[node] + this.childCount[node];
      for (let child = this.firstChild[node]; child < end; child++) {
        const next = automaton.next(from, this.code[child]);
        if (next === DEAD_STATE) continue;
        for (let k = this.tokenStart[child]; k < this.tokenEnd[child]; k++) allowed.push(this.tokenIds[k]);
        walk(child, next);
      }
    };
    walk(0, state);
    return allowed;
  }
}

/**
 * Each token's text as the tokenizer decodes it alone. Byte-level BPE tokenizers (GPT-2, the demo
 * model's) decode a sequence to the concatenation of these for ASCII text, which is all an answer
 * of the counting format holds. A token whose bytes are part of a multi-byte character decodes to
 * U+FFFD, which no answer contains, so it is never allowed.
 */
export function vocabularyTexts(tokenizer: MoondreamTokenizer, vocabularySize: number): string[] {
  const texts: string[] = [];
  for (let id = 0; id < vocabularySize; id++) {
    try {
      texts.push(tokenizer.decode([id]));
    } catch {
      texts.push(''); // an id past the tokenizer's vocabulary (the embedding table may be larger)
    }
  }
  return texts;
}

const triesByTokenizer = new WeakMap<MoondreamTokenizer, VocabularyTrie>();

/** The tokenizer's prefix tree, built on first use and kept for the tokenizer's lifetime. */
export function vocabularyTrieOf(tokenizer: MoondreamTokenizer, vocabularySize: number): VocabularyTrie {
  let trie = triesByTokenizer.get(tokenizer);
  if (!trie || trie.size !== vocabularySize) {
    trie = VocabularyTrie.fromTexts(vocabularyTexts(tokenizer, vocabularySize));
    triesByTokenizer.set(tokenizer, trie);
  }
  return trie;
}

export interface TokenConstraintOptions {
  readonly eosId: number;
  /** Ids never allowed (the revision's suppressed tokens), besides EOS outside accepting states. */
  readonly excludedIds?: readonly number[];
}

/**
 * An automaton applied to a vocabulary. A decoding keeps one state (a number, `start` at first),
 * masks each step's logits with `maskLogits(state, …)`, and moves on with `advance(state, token)`.
 * The object holds no per-answer data, so one constraint serves any number of answers.
 */
export class TokenConstraint {
  private readonly allowedByState = new Map<number, Int32Array>();
  private readonly excluded: ReadonlySet<number>;

  constructor(
    readonly automaton: CharacterAutomaton,
    readonly vocabulary: VocabularyTrie,
    readonly options: TokenConstraintOptions,
  ) {
    this.excluded = new Set([options.eosId, ...(options.excludedIds ?? [])]);
  }

  get start(): number {
    return this.automaton.start;
  }

  accepting(state: number): boolean {
    return this.automaton.accepting(state);
  }

  /**
   * The tokens allowed in `state` (EOS among them when the state accepts). Never empty: a state
   * that no token continues is a language this vocabulary cannot spell, and says so.
   */
  allowedTokens(state: number): Int32Array {
    let allowed = this.allowedByState.get(state);
    if (allowed) return allowed;
    const ids = this.vocabulary.tokensFrom(this.automaton, state).filter((id) => !this.excluded.has(id));
    if (this.automaton.accepting(state)) ids.push(this.options.eosId);
    if (ids.length === 0) {
      throw new Error(`No token of this tokenizer can write ${this.automaton.describe(state)} next, so the answer cannot be constrained to this format; answer without the constraint.`);
    }
    allowed = Int32Array.from(ids);
    this.allowedByState.set(state, allowed);
    return allowed;
  }

  /** The state after emitting `token` from `state`; throws for a token the state does not allow. */
  advance(state: number, token: number): number {
    const text = this.vocabulary.texts[token] ?? '';
    let next = token === this.options.eosId || this.excluded.has(token) || text.length === 0 ? DEAD_STATE : state;
    for (let i = 0; i < text.length && next !== DEAD_STATE; i++) next = this.automaton.next(next, text.charCodeAt(i));
    if (next === DEAD_STATE) throw new Error(`Token ${token} (${JSON.stringify(text)}) does not continue the answer: the constraint expected ${this.automaton.describe(state)}.`);
    return next;
  }

  /** `logits` with every token not allowed in `state` at −∞, written into `out` (reused across steps). */
  maskLogits(state: number, logits: Float32Array, out: Float32Array = new Float32Array(logits.length)): Float32Array {
    out.fill(-Infinity);
    for (const id of this.allowedTokens(state)) out[id] = logits[id];
    return out;
  }
}
