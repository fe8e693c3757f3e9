// The setup link: what one setup writes reads back as the same setup; bad values are named, never thrown.
import { describe, expect, it } from 'vitest';
import { originNeedsConsent, parseHubModel, searchOfSetup, setupFromSearch, type PageSetup } from '../../../src/app/setup-url.ts';

describe('setup links', () => {
  it('read back what they write', () => {
    const setup: PageSetup = {
      question: { template: 'Count the {noun}s among {classes}.', noun: 'coin' },
      model: { kind: 'hub', repo: 'vikhyatk/moondream2', revision: '2025-06-21' },
      hubOrigin: 'http://localhost:8123',
      training: { fullFineTune: false, learningRate: 3e-5, epochs: 2, batchSize: 4, gradientAccumulation: 6, loraRank: 16, loraAlpha: 32, trainLimit: 200, evalMaxTokens: 64 },
      decoding: 'counts',
    };
    const search = searchOfSetup(setup);
    expect(search).toMatch(/^\?/);
    expect(setupFromSearch(search)).toEqual({ setup, problems: [] });
    expect(setupFromSearch(searchOfSetup({ model: { kind: 'demo' } })).setup).toEqual({ model: { kind: 'demo' } });
    expect(searchOfSetup({})).toBe('');
  });

  it('name each value they cannot use and keep the rest', () => {
    const { setup, problems } = setupFromSearch('?lr=abc&epochs=0&batch=2.5&full=yes&model=nonsense&decoding=fast&noun=%20&question=no%20placeholder&hub-origin=ftp%3A%2F%2Fx&alpha=8');
    expect(setup).toEqual({ question: {}, training: { loraAlpha: 8 } });
    expect(problems).toHaveLength(9);
    for (const name of ['lr=abc', 'epochs=0', 'batch=2.5', 'full=yes', '"nonsense"', 'decoding=fast', 'noun', '{classes}', 'hub-origin']) {
      expect(problems.some((problem) => problem.includes(name))).toBe(true);
    }
  });

  it('keep only the origin of a hub mirror, and ask consent for anything but the hub', () => {
    expect(setupFromSearch('?hub-origin=https%3A%2F%2Fmirror.example%2Fpath').setup.hubOrigin).toBe('https://mirror.example');
    expect(originNeedsConsent('https://mirror.example')).toBe(true);
    expect(originNeedsConsent('https://huggingface.co')).toBe(false);
    expect(originNeedsConsent(undefined)).toBe(false);
  });

  it('parse owner/name@revision only', () => {
    expect(parseHubModel(' vikhyatk/moondream2@2024-04-02 ')).toEqual({ repo: 'vikhyatk/moondream2', revision: '2024-04-02' });
    expect(parseHubModel('moondream2')).toBeUndefined();
  });
});
