// The demo's story in headless Chromium (WebGPU on SwiftShader): the pre-trained demo model,
// measured on test images, answers the counting question in no exact form; after a short
// fine-tune with the page's default demo recipe on a train subset, measured again, it does.
// Sizes and margin are chosen from measured runs (public/demo-model/README.md): they keep this
// within a few minutes of CI time.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DEMO_TRAINING_SETTINGS } from '../../src/train/config.ts';
import { launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';
import { waitForDataset } from './page-report.ts';

const TEST_IMAGES = 32;
const TRAIN_IMAGES = 480;
/**
 * Exact-match points the fine-tune must add. Measured in this test: 0 of 32 before, 11 of 32
 * after (Chromium on SwiftShader, 150 s for the whole test). A model that has not learned the
 * format matches nothing; one with the format right that guessed the counts at random would match
 * an image with probability ≈ 1/35 (the per-class counts of 0–4 coins), so 5 of 32 or more by
 * chance has a probability of about 2e-3 (Poisson, mean 0.9).
 */
const REQUIRED_GAIN = 5 / 32;

let served: ServedPage;
let browser: Browser;
let page: Page;
let pageErrors: string[];

beforeAll(async () => {
  served = await serveDist();
  browser = await launchChromium();
  ({ page, pageErrors } = await openPage(browser, served.url));
});

afterAll(async () => {
  await page?.close();
  await browser?.close();
  await served?.stop();
});

async function measure(which: 'before' | 'after'): Promise<number> {
  await page.getByTestId(`evaluate-${which}-limit`).fill(String(TEST_IMAGES));
  await page.getByTestId(`evaluate-${which}-button`).click();
  const evaluation = page.getByTestId(`evaluation-${which}`);
  await evaluation.waitFor({ timeout: 240_000 });
  expect(Number(await evaluation.getByTestId('evaluated-samples').textContent())).toBe(TEST_IMAGES);
  return Number(await evaluation.getByTestId('exact-match').getAttribute('data-value'));
}

describe('the demo model learns to count in the page', () => {
  test('measure, fine-tune with the demo recipe, measure: exact match rises', async () => {
    await waitForDataset(page, 'coins.coco.zip');
    await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
    await page.getByTestId('model-kind-demo').check();
    await page.getByTestId('model-load-button').click();
    await page.waitForSelector('[data-testid=model-status][data-state=ready]', { timeout: 120_000 });
    // The form shows the demo recipe, not the Moondream2 defaults.
    expect(Number(await page.getByTestId('setting-lr').inputValue())).toBe(DEMO_TRAINING_SETTINGS.learningRate);
    expect(Number(await page.getByTestId('setting-batch').inputValue())).toBe(DEMO_TRAINING_SETTINGS.batchSize);

    const before = await measure('before');
    await page.getByTestId('setting-train-limit').fill(String(TRAIN_IMAGES));
    await page.getByTestId('train-button').click();
    await page.waitForSelector('[data-testid=training][data-state=finished]', { timeout: 600_000 });
    const after = await measure('after');
    console.log(`demo in the page: exact match ${before} → ${after} on ${TEST_IMAGES} test images after ${TRAIN_IMAGES} train images`);
    expect(after - before).toBeGreaterThanOrEqual(REQUIRED_GAIN);
    expect(await page.getByTestId('before-after').count()).toBe(1);
    expect(pageErrors).toEqual([]);
  }, 900_000);
});
