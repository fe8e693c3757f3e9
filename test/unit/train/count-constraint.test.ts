// The counting-answer automaton against an independent oracle (helpers/count-answers.ts): a text
// is a valid answer exactly when it parses as a JSON object of positive integer counts of known
// classes and equals what formatAnswer (dataset/question.ts) writes for those counts. Checked on hand-written cases, on
// every formatAnswer output of random counts and on random one-character edits of them; then with
// the demo model's real BPE vocabulary, whose tokens span structure boundaries ("\n ", " \"",
// "\":", "{}"): every reachable state allows a token, and random constrained walks end in valid
// answers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatAnswer } from '../../../src/dataset/question.ts';
import { DEAD_STATE, type CharacterAutomaton } from '../../../src/model/token-constraint.ts';
import { HubTokenizer } from '../../../src/model/tokenizer.ts';
import { parseConfig } from '../../../src/model/config.ts';
import { getRevision, revisionFromConfig, type Revision } from '../../../src/model/revisions.ts';
import type { TokenConstraint } from '../../../src/model/token-constraint.ts';
import { countAnswerAutomaton, countAnswerConstraint } from '../../../src/train/count-constraint.ts';
import { isCountAnswer } from '../../helpers/count-answers.ts';
import { demoDatasetSource } from '../../helpers/demo-files.ts';
import { gpt2TokenizerJson } from '../../helpers/gpt2-tokenizer.ts';
import { loadDataset } from '../../../src/dataset/load.ts';
import { mulberry32 } from '../../helpers/random.ts';

const COINS = ['penny', 'nickel', 'dime', 'quarter'];
const root = join(import.meta.dirname, '..', '..', '..');

function read(automaton: CharacterAutomaton, text: string): number {
  let state = automaton.start;
  for (let i = 0; i < text.length && state !== DEAD_STATE; i++) state = automaton.next(state, text.charCodeAt(i));
  return state;
}

function accepts(automaton: CharacterAutomaton, text: string): boolean {
  const state = read(automaton, text);
  return state !== DEAD_STATE && automaton.accepting(state);
}

function randomCounts(random: () => number, classes: number): number[] {
  return Array.from({ length: classes }, () => (random() < 0.5 ? 0 : 1 + Math.floor(random() ** 4 * 1200)));
}

describe('countAnswerAutomaton', () => {
  const coins = countAnswerAutomaton(COINS, { leadingSpace: false });

  it('accepts the answers of the counting format and rejects hand-written near misses', () => {
    const valid = ['{}', '{\n  "penny": 2\n}', '{\n  "penny": 1,\n  "dime": 13\n}', '{\n  "penny": 1,\n  "nickel": 2,\n  "dime": 3,\n  "quarter": 999999\n}'];
    const invalid = [
      '', '{', '{ }', '{\n}', '{"dime": 1}', // unfinished, spaced, empty lines, unindented
      '{\n  "dime": 1,\n  "penny": 2\n}', // out of class order
      '{\n  "dime": 1,\n  "dime": 2\n}', // repeated
      '{\n  "dime": 0\n}', '{\n  "dime": 01\n}', '{\n  "dime": -1\n}', '{\n  "dime": 1.5\n}', // not a positive integer
      '{\n  "dime": 1000000\n}', // past MAX_COUNT_DIGITS
      '{\n  "quarter": 1,\n}', '{\n  "dime": 1\n}\n', '{\n  "dime":1\n}', '{\n "dime": 1\n}', // punctuation and spacing
      '{\n  "euro": 1\n}', '{\n  "dim": 1\n}', '{\n  "dimes": 1\n}', // unknown, prefix and extension of a class
      '{\n  "quarter": 1,\n  "penny": 1\n}', // nothing may follow the last class
    ];
    for (const text of valid) expect([text, accepts(coins, text), isCountAnswer(text, COINS)]).toEqual([text, true, true]);
    for (const text of invalid) expect([text, accepts(coins, text), isCountAnswer(text, COINS)]).toEqual([text, false, false]);
  });

  it('keeps every prefix of a valid answer alive and accepts nothing before its end', () => {
    const answer = '{\n  "nickel": 40,\n  "quarter": 7\n}';
    for (let length = 0; length < answer.length; length++) {
      const state = read(coins, answer.slice(0, length));
      expect(state, answer.slice(0, length)).not.toBe(DEAD_STATE);
      expect(coins.accepting(state)).toBe(false);
    }
    expect(read(coins, '{\n  "nickel": 40,\n  "p')).toBe(DEAD_STATE); // penny comes before nickel
  });

  it('agrees with the oracle on every formatAnswer output and on random one-character edits of them', () => {
    const random = mulberry32(11);
    const classes = ['dime', 'dimes', 'a"b', 'café', 'x'];
    const automaton = countAnswerAutomaton(classes, { leadingSpace: false });
    const alphabet = '{}"\n ,:0123456789dimesabx\\';
    let validSeen = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const answer = formatAnswer(classes, randomCounts(random, classes.length));
      expect(accepts(automaton, answer), answer).toBe(true);
      const at = Math.floor(random() * (answer.length + 1));
      const char = alphabet[Math.floor(random() * alphabet.length)];
      const edits = [answer.slice(0, at) + char + answer.slice(at), answer.slice(0, at) + answer.slice(at + 1), answer.slice(0, at) + char + answer.slice(at + 1)];
      for (const edited of edits) {
        const expected = isCountAnswer(edited, classes);
        if (expected) validSeen++;
        expect(accepts(automaton, edited), JSON.stringify(edited)).toBe(expected);
      }
    }
    // Some edits land on other valid answers (a digit changed): both directions are exercised.
    expect(validSeen).toBeGreaterThan(100);
  });

  it('writes keys as Python json.dumps does (escaped quotes, \\u escapes) and takes a leading space when the revision trains with one', () => {
    const escaped = countAnswerAutomaton(['a"b', 'café'], { leadingSpace: false });
    expect(accepts(escaped, '{\n  "a\\"b": 1,\n  "caf\\u00e9": 2\n}')).toBe(true);
    expect(accepts(escaped, '{\n  "café": 2\n}')).toBe(false);
    const spaced = countAnswerAutomaton(COINS, { leadingSpace: true });
    expect(accepts(spaced, ' {}')).toBe(true);
    expect(accepts(spaced, '{}')).toBe(false);
  });

  it('refuses an empty or repeated class list with what to do', () => {
    expect(() => countAnswerAutomaton([], { leadingSpace: false })).toThrow(/at least one class/);
    expect(() => countAnswerAutomaton(['dime', 'dime'], { leadingSpace: false })).toThrow(/"dime" twice/);
  });
});

describe('countAnswerConstraint on the demo model tokenizer', () => {
  const config = parseConfig(JSON.parse(readFileSync(join(root, 'public', 'demo-model', 'config.json'), 'utf8')));
  const revision = revisionFromConfig(config);
  const tokenizer = new HubTokenizer(JSON.parse(readFileSync(join(root, 'public', 'demo-model', 'tokenizer.json'), 'utf8')));
  const constraint = countAnswerConstraint({ revision, tokenizer }, COINS);
  const text = (id: number) => tokenizer.decode([id]);

  it('allows tokens that span structure boundaries where they fit', () => {
    const spanning = ['{}', '\n ', ' "', '":', ' 2'];
    const ids = spanning.map((piece) => tokenizer.encode(piece));
    ids.forEach((encoded, index) => expect(encoded.length, spanning[index]).toBe(1));
    const [emptyObject, newlineSpace, spaceQuote, quoteColon, spaceTwo] = ids.map((encoded) => encoded[0]);
    expect(constraint.allowedTokens(constraint.start)).toContain(emptyObject);
    let state = constraint.advance(constraint.start, tokenizer.encode('{')[0]);
    expect(constraint.allowedTokens(state)).toContain(newlineSpace);
    state = constraint.advance(state, newlineSpace);
    expect(constraint.allowedTokens(state)).toContain(spaceQuote);
    state = constraint.advance(state, spaceQuote);
    state = constraint.advance(state, tokenizer.encode('dime')[0]);
    expect(constraint.allowedTokens(state)).toContain(quoteColon);
    state = constraint.advance(state, quoteColon);
    expect(constraint.allowedTokens(state)).toContain(spaceTwo);
    state = constraint.advance(state, tokenizer.encode(' ')[0]);
    expect(constraint.allowedTokens(state)).toContain(tokenizer.encode('1')[0]);
    expect(constraint.allowedTokens(state)).not.toContain(tokenizer.encode('0')[0]); // counts have no leading zero
  });

  it('allows a token in every reachable state, EOS only at the end, and matches a walk of each token', () => {
    // All answers of up to 6 digits per class pass through a few hundred states.
    expect(reachableStates(constraint, revision)).toBeGreaterThan(50);
    // The mask of one mid-answer state, by brute force over the whole vocabulary.
    const state = constraint.advance(constraint.advance(constraint.start, tokenizer.encode('{')[0]), tokenizer.encode('\n')[0]);
    const byWalk = [];
    for (let id = 0; id < config.text.vocab_size; id++) {
      const piece = text(id);
      let current = state;
      for (let i = 0; i < piece.length && current !== DEAD_STATE; i++) current = constraint.automaton.next(current, piece.charCodeAt(i));
      if (piece.length > 0 && current !== DEAD_STATE && !revision.suppressedTokens.includes(id) && id !== revision.eosId) byWalk.push(id);
    }
    expect([...constraint.allowedTokens(state)].sort((a, b) => a - b)).toEqual(byWalk);
  });

  it('allows every demo answer as the tokenizer writes it', async () => {
    const dataset = await loadDataset(demoDatasetSource());
    const answers = new Set(dataset.images.map((image) => image.answer));
    for (const answer of answers) expect(accepted(constraint, revision, tokenizer.encode(answer)), answer).toBe(true);
  });

  it('ends every random constrained walk in an answer of the counting format', () => {
    for (const answer of randomWalks(constraint, revision, tokenizer, 300)) expect(isCountAnswer(answer, COINS), JSON.stringify(answer)).toBe(true);
  });
});

describe('countAnswerConstraint on GPT-2\'s vocabulary (answers with a leading space)', () => {
  const revision = getRevision('2025-04-14');
  const tokenizer = new HubTokenizer(gpt2TokenizerJson());
  const constraint = countAnswerConstraint({ revision, tokenizer }, COINS);

  it('allows the answers as GPT-2 writes them, with their leading space and multi-digit tokens', () => {
    const random = mulberry32(17);
    for (let trial = 0; trial < 200; trial++) {
      const answer = ` ${formatAnswer(COINS, randomCounts(random, COINS.length))}`;
      expect(accepted(constraint, revision, tokenizer.encode(answer)), answer).toBe(true);
    }
    expect(tokenizer.encode(' {').length).toBe(1); // one token spanning the space and the brace
  });

  it('allows a token in every reachable state, EOS only at the end, and walks end in valid answers', () => {
    expect(reachableStates(constraint, revision)).toBeGreaterThan(50);
    for (const answer of randomWalks(constraint, revision, tokenizer, 100)) expect(isCountAnswer(answer, COINS, true), JSON.stringify(answer)).toBe(true);
  });
});

/** Breadth-first over every state the allowed tokens reach, checking each allows a token and EOS exactly when accepting. */
function reachableStates(constraint: TokenConstraint, revision: Revision): number {
  const seen = new Set([constraint.start]);
  const queue = [constraint.start];
  while (queue.length > 0) {
    const state = queue.shift()!;
    const allowed = constraint.allowedTokens(state);
    expect(allowed.length).toBeGreaterThan(0);
    expect(allowed.includes(revision.eosId)).toBe(constraint.accepting(state));
    for (const id of allowed) {
      if (id === revision.eosId) continue;
      const next = constraint.advance(state, id);
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return seen.size;
}

/** Whether the constraint allows `ids` one by one and then EOS. */
function accepted(constraint: TokenConstraint, revision: Revision, ids: readonly number[]): boolean {
  let state = constraint.start;
  for (const id of ids) {
    if (!constraint.allowedTokens(state).includes(id)) return false;
    state = constraint.advance(state, id);
  }
  return constraint.allowedTokens(state).includes(revision.eosId);
}

/** Answers decoded from walks that pick uniformly among the allowed tokens until EOS. */
function randomWalks(constraint: TokenConstraint, revision: Revision, tokenizer: HubTokenizer, walks: number): string[] {
  const random = mulberry32(3);
  const answers: string[] = [];
  for (let walk = 0; walk < walks; walk++) {
    let state = constraint.start;
    const tokens: number[] = [];
    for (;;) {
      const allowed = constraint.allowedTokens(state);
      const id = allowed[Math.floor(random() * allowed.length)];
      if (id === revision.eosId) break;
      tokens.push(id);
      state = constraint.advance(state, id);
    }
    answers.push(tokenizer.decode(tokens));
  }
  return answers;
}
