// The counting answers as a language, for constrained decoding (model/token-constraint.ts): the
// texts `formatAnswer` writes for a class list, i.e. Python's `json.dumps(counts, indent=2)` of
// the non-zero counts in class order —
//
//   {}                                  nothing counted
//   {\n  "penny": 2,\n  "dime": 1\n}    keys from the class list, in its order, each at most once
//
// with counts as positive integers without leading zeros (zero counts are left out of the
// answers) of at most MAX_COUNT_DIGITS digits, and a leading space where the revision's answers
// carry one (2024-era training, spec §11.3). Any answer the model writes under this constraint
// parses as JSON and names only the dataset's classes.
import { pythonJsonString } from '../dataset/python-json.ts';
import type { Revision } from '../model/revisions.ts';
import { DEAD_STATE, TokenConstraint, vocabularyTrieOf, type CharacterAutomaton } from '../model/token-constraint.ts';
import type { MoondreamTokenizer } from '../model/tokenizer.ts';

/** Longest count the constraint lets the model write: up to 999,999 objects of one class in an image. */
export const MAX_COUNT_DIGITS = 6;

export interface CountAnswerOptions {
  /** Answers start with a space (Revision.answerLeadingSpace). */
  readonly leadingSpace: boolean;
}

const code = (char: string) => char.charCodeAt(0);
const NEWLINE = code('\n');
const COMMA = code(',');
const CLOSE = code('}');
const ZERO = code('0');
const NINE = code('9');

/**
 * States, as ranges of integers (K classes, N nodes in the trie of entry texts):
 * - opening i (0 … P−1): expects opening[i] (the optional space, then `{`);
 * - after `{`: expects `}` or a newline; before `}`: expects `}`; closed: the accepting end;
 * - comma k: after the `,` that follows class k's count, expects the newline;
 * - first digit k: after class k's `"name": `, expects 1–9;
 * - digits k, n: n digits of class k's count written;
 * - entry (node, min): inside an entry text `  "name": `, at trie node `node`, where only classes
 *   from index `min` on may still appear (the ones after the previous entry's class).
 */
class CountAnswerAutomaton implements CharacterAutomaton {
  private readonly opening: string;
  /** Trie of the entry texts: children by code unit, the largest class index below each node, the class a leaf completes. */
  private readonly children: Map<number, number>[] = [new Map()];
  private readonly maxClass: number[] = [-1];
  private readonly leafClass: number[] = [-1];
  private readonly afterOpen: number;
  private readonly beforeClose: number;
  private readonly closed: number;
  private readonly commaBase: number;
  private readonly firstDigitBase: number;
  private readonly digitsBase: number;
  private readonly entryBase: number;
  readonly start = 0;

  constructor(private readonly classNames: readonly string[], options: CountAnswerOptions) {
    if (classNames.length === 0) throw new Error('Constraining answers to counts needs at least one class name.');
    const duplicate = classNames.find((name, index) => classNames.indexOf(name) !== index);
    if (duplicate !== undefined) throw new Error(`The class list names "${duplicate}" twice; give each class once, in the dataset's order.`);
    this.opening = options.leadingSpace ? ' {' : '{';
    classNames.forEach((name, classIndex) => {
      // An entry text ends with the key's closing quote and ": "; the quote inside a key is
      // escaped, so no entry text is a prefix of another and each ends at a leaf.
      const entry = `  ${pythonJsonString(name)}: `;
      let node = 0;
      for (let i = 0; i < entry.length; i++) {
        this.maxClass[node] = classIndex;
        const unit = entry.charCodeAt(i);
        let child = this.children[node].get(unit);
        if (child === undefined) {
          child = this.children.length;
          this.children.push(new Map());
          this.maxClass.push(-1);
          this.leafClass.push(-1);
          this.children[node].set(unit, child);
        }
        node = child;
      }
      this.maxClass[node] = classIndex;
      this.leafClass[node] = classIndex;
    });
    const classes = classNames.length;
    this.afterOpen = this.opening.length;
    this.beforeClose = this.afterOpen + 1;
    this.closed = this.afterOpen + 2;
    this.commaBase = this.closed + 1;
    this.firstDigitBase = this.commaBase + classes;
    this.digitsBase = this.firstDigitBase + classes;
    this.entryBase = this.digitsBase + classes * MAX_COUNT_DIGITS;
  }

  private entry(node: number, minClass: number): number {
    return this.entryBase + node * this.classNames.length + minClass;
  }

  next(state: number, unit: number): number {
    const classes = this.classNames.length;
    if (state < 0) return DEAD_STATE;
    if (state < this.afterOpen) return unit === this.opening.charCodeAt(state) ? state + 1 : DEAD_STATE;
    if (state === this.afterOpen) return unit === CLOSE ? this.closed : unit === NEWLINE ? this.entry(0, 0) : DEAD_STATE;
    if (state === this.beforeClose) return unit === CLOSE ? this.closed : DEAD_STATE;
    if (state === this.closed) return DEAD_STATE;
    if (state < this.firstDigitBase) return unit === NEWLINE ? this.entry(0, state - this.commaBase + 1) : DEAD_STATE;
    if (state < this.digitsBase) return unit > ZERO && unit <= NINE ? this.digitsBase + (state - this.firstDigitBase) * MAX_COUNT_DIGITS : DEAD_STATE;
    if (state < this.entryBase) {
      const classIndex = Math.floor((state - this.digitsBase) / MAX_COUNT_DIGITS);
      const digits = ((state - this.digitsBase) % MAX_COUNT_DIGITS) + 1;
      if (unit >= ZERO && unit <= NINE) return digits < MAX_COUNT_DIGITS ? state + 1 : DEAD_STATE;
      if (unit === COMMA) return classIndex < classes - 1 ? this.commaBase + classIndex : DEAD_STATE;
      return unit === NEWLINE ? this.beforeClose : DEAD_STATE;
    }
    const node = Math.floor((state - this.entryBase) / classes);
    const minClass = (state - this.entryBase) % classes;
    const child = this.children[node]?.get(unit);
    if (child === undefined || this.maxClass[child] < minClass) return DEAD_STATE;
    return this.leafClass[child] >= 0 ? this.firstDigitBase + this.leafClass[child] : this.entry(child, minClass);
  }

  accepting(state: number): boolean {
    return state === this.closed;
  }

  describe(state: number): string {
    if (state < this.afterOpen) return JSON.stringify(this.opening[state]);
    if (state === this.afterOpen) return '"}" or a newline';
    if (state === this.beforeClose) return '"}"';
    if (state === this.closed) return 'the end of the answer';
    if (state < this.firstDigitBase) return 'a newline';
    if (state < this.digitsBase) return 'a digit 1-9';
    if (state < this.entryBase) return 'a digit, "," or a newline';
    const minClass = (state - this.entryBase) % this.classNames.length;
    return `an entry of ${this.classNames.slice(minClass).map((name) => JSON.stringify(name)).join(', ')}`;
  }
}

/** The automaton of counting answers over `classNames` (in the dataset's class order). */
export function countAnswerAutomaton(classNames: readonly string[], options: CountAnswerOptions): CharacterAutomaton {
  return new CountAnswerAutomaton(classNames, options);
}

/** Constrains a model's answers to counting answers over `classNames`, with the revision's EOS and suppressed ids. */
export function countAnswerConstraint(model: { revision: Revision; tokenizer: MoondreamTokenizer }, classNames: readonly string[]): TokenConstraint {
  const { revision, tokenizer } = model;
  const automaton = countAnswerAutomaton(classNames, { leadingSpace: revision.answerLeadingSpace });
  return new TokenConstraint(automaton, vocabularyTrieOf(tokenizer, revision.config.text.vocab_size), {
    eosId: revision.eosId,
    excludedIds: revision.suppressedTokens,
  });
}
