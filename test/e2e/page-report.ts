// Reads what the page shows (visible text, not internal state) so tests compare it with
// what the dataset half computes in Node.
import type { Page } from 'playwright-core';

export interface ShownSplit {
  split: string;
  images: number;
  objects: number;
}

export interface ShownSample {
  imageIndex: number;
  path: string;
  question: string;
  answer: string;
  boxes: number;
}

/** Waits until the dataset named `name` has finished loading. */
export async function waitForDataset(page: Page, name: string): Promise<void> {
  await page.waitForFunction(
    (expectedName) =>
      document.querySelector('[data-testid=dataset-status]')?.getAttribute('data-state') === 'ready' &&
      document.querySelector('[data-testid=dataset-name]')?.textContent === expectedName,
    name,
    { timeout: 60_000 },
  );
}

export function shownSplits(page: Page): Promise<ShownSplit[]> {
  return page.$$eval('[data-testid=split-row]', (rows) =>
    rows.map((row) => ({
      split: row.getAttribute('data-split') ?? '',
      images: Number(row.querySelector('[data-testid=split-images]')?.textContent),
      objects: Number(row.querySelector('[data-testid=split-objects]')?.textContent),
    })),
  );
}

/** A bar chart as [label, value] pairs, read from the text beside each bar. */
export function shownBars(page: Page, testid: 'class-bar' | 'count-bar'): Promise<[string, number][]> {
  return page.$$eval(`[data-testid=${testid}]`, (bars) =>
    bars.map((bar): [string, number] => [
      bar.querySelector('.label')?.textContent ?? '',
      Number(bar.querySelector('.value')?.textContent),
    ]),
  );
}

export async function shownTotals(page: Page): Promise<{ images: number; objects: number }> {
  return {
    images: Number(await page.getByTestId('total-images').textContent()),
    objects: Number(await page.getByTestId('total-objects').textContent()),
  };
}

export async function shownSample(page: Page): Promise<ShownSample> {
  const sample = page.getByTestId('sample');
  return {
    imageIndex: Number(await sample.getAttribute('data-image-index')),
    path: (await page.getByTestId('sample-file').textContent()) ?? '',
    question: (await page.getByTestId('sample-question').textContent()) ?? '',
    answer: (await page.getByTestId('sample-answer').textContent()) ?? '',
    boxes: await page.getByTestId('sample-box').count(),
  };
}

/** The shown sample's <img> once decoded: its natural size proves the worker's bytes arrived. */
export async function shownImageSize(page: Page): Promise<{ width: number; height: number }> {
  const image = page.getByTestId('sample-image');
  await image.waitFor();
  return image.evaluate(async (element: HTMLImageElement) => {
    await element.decode();
    return { width: element.naturalWidth, height: element.naturalHeight };
  });
}


export interface ShownRejection {
  /** The upload that failed. */
  name: string;
  /** Its error messages, as listed at the drop zone. */
  errors: string[];
  /** "<name> is still loaded", when a dataset was kept. */
  kept: string | undefined;
}

/** Waits until the drop zone reports a failed load of `name`. */
export async function waitForRejection(page: Page, name: string): Promise<void> {
  await page.waitForFunction(
    (expectedName) => document.querySelector('[data-testid=rejected-name]')?.textContent === expectedName && document.querySelector('[data-testid=dataset-status]')?.getAttribute('data-state') !== 'loading',
    name,
    { timeout: 60_000 },
  );
}

export async function shownRejection(page: Page): Promise<ShownRejection> {
  const rejection = page.getByTestId('load-rejection');
  const kept = rejection.getByTestId('kept-dataset');
  return {
    name: (await rejection.getByTestId('rejected-name').textContent()) ?? '',
    errors: await rejection.getByTestId('rejected-errors').getByTestId('issue').allTextContents(),
    kept: (await kept.count()) > 0 ? ((await kept.textContent()) ?? undefined) : undefined,
  };
}
