// A small seeded PRNG whose whole state is four 32-bit words, so it can be stored in a checkpoint
// and restored to continue the same stream: xoshiro128** 1.1 (Blackman & Vigna), seeded through
// splitmix32 so that nearby seeds give unrelated streams and the state is never all zero.

/** xoshiro128** state: four unsigned 32-bit words. */
export type RandomState = [number, number, number, number];

export class Xoshiro128 {
  private readonly words: Uint32Array;

  constructor(state: RandomState) {
    if (state.length !== 4 || state.some((word) => !Number.isInteger(word) || word < 0 || word > 0xffffffff)) {
      throw new Error(`A random state is four unsigned 32-bit integers, got ${JSON.stringify(state)}; the checkpoint is damaged.`);
    }
    if (state.every((word) => word === 0)) throw new Error('A xoshiro128** state of all zeros only ever yields zeros; seed through Xoshiro128.fromSeed.');
    this.words = Uint32Array.from(state);
  }

  /** A generator seeded from one or more 32-bit integers (mixed with splitmix32). */
  static fromSeed(...seeds: number[]): Xoshiro128 {
    let mixer = 0;
    for (const seed of seeds) mixer = splitmix32(mixer ^ (seed >>> 0)).next;
    const state: number[] = [];
    for (let i = 0; i < 4; i++) {
      const { value, next } = splitmix32(mixer);
      mixer = next;
      state.push(value);
    }
    // splitmix32 is a bijection of its counter, so four outputs are never all zero in practice;
    // keep the guarantee anyway.
    if (!state.some((word) => word !== 0)) state[0] = 1;
    return new Xoshiro128(state as RandomState);
  }

  /** The next unsigned 32-bit output. */
  nextUint32(): number {
    const s = this.words;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, bound) (bound ≤ 2³²; the bias of the multiply is below 2⁻³² · bound). */
  nextBelow(bound: number): number {
    return Math.floor(this.nextFloat() * bound);
  }

  get state(): RandomState {
    return [this.words[0], this.words[1], this.words[2], this.words[3]];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** One splitmix32 step: the mixed output and the advanced counter. */
function splitmix32(counter: number): { value: number; next: number } {
  const next = (counter + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return { value: (z ^ (z >>> 16)) >>> 0, next };
}
