// The vocabulary prefix tree and the per-state token masks, with a small automaton written here
// (the language "a", then b's, then "c": a b* c): each state's allowed tokens must be exactly the
// tokens a character-by-character walk of their text keeps alive (the brute-force expectation),
// EOS only where the automaton accepts, and a state no token continues is an error, not an empty
// mask.
import { describe, expect, it } from 'vitest';
import { DEAD_STATE, TokenConstraint, VocabularyTrie, type CharacterAutomaton } from '../../../src/model/token-constraint.ts';
import { mulberry32 } from '../../helpers/random.ts';

/** a b* c: state 0 expects "a", 1 expects "b" or "c", 2 is the accepting end. */
const abc: CharacterAutomaton = {
  start: 0,
  next(state, unit) {
    const char = String.fromCharCode(unit);
    if (state === 0) return char === 'a' ? 1 : DEAD_STATE;
    if (state === 1) return char === 'b' ? 1 : char === 'c' ? 2 : DEAD_STATE;
    return DEAD_STATE;
  },
  accepting: (state) => state === 2,
  describe: (state) => ['"a"', '"b" or "c"', 'the end'][state],
};

// id 0 is EOS (empty text, as special tokens decode); 9 is another special token.
const TEXTS = ['', 'a', 'b', 'c', 'ab', 'abc', 'bbc', 'bc', 'ca', '', 'abbb', 'x', 'a', 'cc'];

function bruteForce(automaton: CharacterAutomaton, texts: readonly string[], state: number): number[] {
  return texts
    .map((text, id) => ({ text, id }))
    .filter(({ text }) => {
      if (text.length === 0) return false;
      let current = state;
      for (const char of text) current = automaton.next(current, char.charCodeAt(0));
      return current !== DEAD_STATE;
    })
    .map(({ id }) => id);
}

describe('VocabularyTrie', () => {
  const trie = VocabularyTrie.fromTexts(TEXTS);

  it('finds exactly the tokens a walk of their text keeps alive, from every state', () => {
    for (const state of [0, 1, 2]) {
      expect([...trie.tokensFrom(abc, state)].sort((x, y) => x - y), `state ${state}`).toEqual(bruteForce(abc, TEXTS, state));
    }
    // By hand: from the start, "a", "ab", "abc", "abbb" and the second "a" (id 12).
    expect([...trie.tokensFrom(abc, 0)].sort((x, y) => x - y)).toEqual([1, 4, 5, 10, 12]);
  });

  it('agrees with the brute force on a random vocabulary of up to 4 letters', () => {
    const random = mulberry32(7);
    const texts = Array.from({ length: 400 }, () => Array.from({ length: Math.floor(random() * 5) }, () => 'abcx'[Math.floor(random() * 4)]).join(''));
    const randomTrie = VocabularyTrie.fromTexts(texts);
    for (const state of [0, 1, 2]) expect([...randomTrie.tokensFrom(abc, state)].sort((x, y) => x - y)).toEqual(bruteForce(abc, texts, state));
  });
});

describe('TokenConstraint', () => {
  const constraint = new TokenConstraint(abc, VocabularyTrie.fromTexts(TEXTS), { eosId: 0, excludedIds: [12] });

  it('allows EOS only in accepting states and never an excluded id', () => {
    expect(constraint.allowedTokens(0)).not.toContain(0);
    expect(constraint.allowedTokens(0)).not.toContain(12);
    expect(constraint.allowedTokens(1)).not.toContain(0);
    expect([...constraint.allowedTokens(2)]).toEqual([0]);
  });

  it('advances through multi-character tokens and refuses tokens the state does not allow', () => {
    expect(constraint.advance(constraint.start, 4)).toBe(1); // "ab"
    expect(constraint.advance(1, 6)).toBe(2); // "bbc" ends the word
    expect(() => constraint.advance(0, 2)).toThrow(/Token 2 \("b"\) does not continue the answer: the constraint expected "a"/);
    expect(() => constraint.advance(1, 0)).toThrow(/does not continue/); // EOS before the end
    expect(() => constraint.advance(0, 12)).toThrow(/does not continue/); // excluded, though its text fits
  });

  it('masks logits to −∞ outside the allowed tokens and keeps the allowed values', () => {
    const logits = Float32Array.from(TEXTS, (_, id) => id / 10);
    const masked = constraint.maskLogits(1, logits);
    const allowed = new Set(constraint.allowedTokens(1));
    masked.forEach((value, id) => expect(value).toBe(allowed.has(id) ? logits[id] : -Infinity));
  });

  it('says which character no token can write instead of blocking every token', () => {
    const noC = new TokenConstraint(abc, VocabularyTrie.fromTexts(['', 'a', 'b']), { eosId: 0 });
    expect(noC.allowedTokens(1).length).toBe(1); // "b" only: still a way on
    const noA = new TokenConstraint(abc, VocabularyTrie.fromTexts(['', 'b', 'c']), { eosId: 0 });
    expect(() => noA.allowedTokens(0)).toThrow(/No token of this tokenizer can write "a" next/);
  });
});
