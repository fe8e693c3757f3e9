// A shareable setup in headless Chromium: a link's question noun, model, training settings and
// decoding mode are what the page starts with; "Link to this setup" writes the page's current
// setup into a link that, opened fresh, starts the same way; values a link gets wrong are named.
import { mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';
import { waitForDataset } from './page-report.ts';

let served: ServedPage;
let browser: Browser;

beforeAll(async () => {
  served = await serveDist();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
});

async function loadModel(page: Page): Promise<void> {
  await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
  await page.getByTestId('model-load-button').click();
  await page.waitForSelector('[data-testid=model-status][data-state=ready]', { timeout: 120_000 });
}

async function shownSetup(page: Page) {
  return {
    noun: await page.getByTestId('noun-input').inputValue(),
    demoChecked: await page.getByTestId('model-kind-demo').isChecked(),
    lr: await page.getByTestId('setting-lr').inputValue(),
    epochs: await page.getByTestId('setting-epochs').inputValue(),
    batch: await page.getByTestId('setting-batch').inputValue(),
    full: await page.getByTestId('setting-full').isChecked(),
    decoding: await page.getByTestId('decoding-mode').inputValue(),
  };
}

describe('a shareable setup', () => {
  test('a link sets the question, model, settings and decoding; the page links back to the same setup', async () => {
    const link = `${served.url}?noun=coin&model=demo&lr=0.004&epochs=2&batch=8&full=1&decoding=counts`;
    const { page, pageErrors } = await openPage(browser, link);
    await waitForDataset(page, 'coins.coco.zip');
    await loadModel(page);
    const first = await shownSetup(page);
    expect(first).toEqual({ noun: 'coin', demoChecked: true, lr: '0.004', epochs: '2', batch: '8', full: true, decoding: 'counts' });

    // Change a setting, then link to the setup: the link carries the change and the rest.
    await page.getByTestId('setting-epochs').fill('3');
    await page.getByTestId('share-button').click();
    const shared = await page.getByTestId('share-link').inputValue();
    expect(new URL(shared).searchParams.get('epochs')).toBe('3');
    expect(page.url()).toBe(shared);
    mkdirSync('test-results', { recursive: true });
    await page.getByTestId('share-setup').screenshot({ path: 'test-results/share-setup.png' });
    expect(pageErrors).toEqual([]);
    await page.close();

    const reopened = await openPage(browser, shared);
    await waitForDataset(reopened.page, 'coins.coco.zip');
    await loadModel(reopened.page);
    expect(await shownSetup(reopened.page)).toEqual({ ...first, epochs: '3' });
    expect(reopened.pageErrors).toEqual([]);
    await reopened.page.close();
  });

  test('values a link gets wrong are named at the top, and the rest of the link still applies', async () => {
    const { page, pageErrors } = await openPage(browser, `${served.url}?lr=fast&epochs=0&model=demo&batch=4`);
    await waitForDataset(page, 'coins.coco.zip');
    const problems = await page.getByTestId('link-problems').textContent();
    expect(problems).toMatch(/lr=fast/);
    expect(problems).toMatch(/epochs=0/);
    await loadModel(page);
    expect(await page.getByTestId('setting-batch').inputValue()).toBe('4');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
