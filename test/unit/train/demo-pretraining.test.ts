// The pre-training targets of the demo model: captions and per-patch coin-centre classes,
// against hand-made layouts.
import { describe, expect, it } from 'vitest';
import { COIN_CLASSES, createRandom, generateCoinImage } from '../../../src/dataset/demo-coins.ts';
import { CAPTION_CLASS_NAMES, coinCaption, countQuestion, patchCentreClasses } from '../../../src/train/demo-pretraining.ts';

const index = (name: string) => COIN_CLASSES.findIndex((coin) => coin.name === name);
const coin = (name: string, centreX: number, centreY: number) => ({ classIndex: index(name), centreX, centreY, radius: COIN_CLASSES[index(name)].radius });

describe('demo pre-training targets', () => {
  it('lists the classes in the dataset order (alphabetical, as the demo zip categories)', () => {
    expect(CAPTION_CLASS_NAMES).toEqual(['dime', 'nickel', 'penny', 'quarter']);
  });

  it('captions counts as digits in class order, and an empty image as "no coins"', () => {
    expect(coinCaption({ coins: [coin('penny', 20, 20), coin('dime', 40, 40), coin('dime', 60, 20)] })).toBe('2 dime, 1 penny');
    expect(coinCaption({ coins: [coin('quarter', 20, 20)] })).toBe('1 quarter');
    expect(coinCaption({ coins: [] })).toBe('no coins');
  });

  it('asks for one class by name, bare or quoted, and answers its count in digits (0 for an absent class)', () => {
    const image = { coins: [coin('penny', 20, 20), coin('dime', 40, 40), coin('dime', 60, 20)] };
    expect(countQuestion(image, CAPTION_CLASS_NAMES.indexOf('dime'), false)).toEqual({ question: 'How many dime are there?', answer: '2' });
    expect(countQuestion(image, CAPTION_CLASS_NAMES.indexOf('penny'), true)).toEqual({ question: 'How many "penny" are there?', answer: '1' });
    expect(countQuestion(image, CAPTION_CLASS_NAMES.indexOf('quarter'), false).answer).toBe('0');
  });

  it('marks the patch of each coin centre with 1 + its class, the first coin winning a shared patch', () => {
    // 80×64 image, 4×4 grid: patches are 20 px wide and 16 px high.
    const image = { width: 80, height: 64, coins: [coin('dime', 10, 10), coin('penny', 70, 60), coin('quarter', 12, 12), coin('nickel', 41, 17)] };
    const expected = new Int32Array(16);
    expected[0] = 1; // dime at column 0, row 0 (the quarter's centre falls there too)
    expected[15] = 3; // penny at column 3, row 3
    expected[1 * 4 + 2] = 2; // nickel: x 41 → column 2, y 17 → row 1
    expect(patchCentreClasses(image, 4)).toEqual(expected);
  });

  it('agrees with the caption on generated images: one marked patch per coin unless two centres share one', () => {
    const random = createRandom(5);
    for (let i = 0; i < 50; i++) {
      const image = generateCoinImage(random);
      const marked = [...patchCentreClasses(image, 4)].filter((value) => value > 0).length;
      expect(marked).toBeLessThanOrEqual(image.coins.length);
      expect(marked).toBeGreaterThanOrEqual(Math.min(1, image.coins.length));
    }
  });
});
