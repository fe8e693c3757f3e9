// The hub path in headless Chromium, against a local stand-in for the hub (?hub-origin=): the
// demo model's files under a hub-like name, the weights redirected to another origin as the real
// hub does. A first load shows bytes and time left, then the connection drops halfway; after a
// reload the download resumes from the chunks the browser stored (the stand-in's log shows the
// Range starting past them), a second load reads the cache alone, and a browser that reports too
// little storage is refused before the weights download. Screenshots go to test-results/.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { formatBytes } from '../../src/app/format.ts';
import { hubFileUrl } from '../../src/model/hub.ts';
import { startHubStandIn, type HubStandIn } from '../helpers/hub-stand-in.ts';
import { launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';
import { waitForDataset } from './page-report.ts';

const DEMO_DATASET = 'coins.coco.zip';
const REPOSITORY = { repo: 'moontune-test/demo-model', revision: 'main' };
const HUB_MODEL = `${REPOSITORY.repo}@${REPOSITORY.revision}`;
const WEIGHTS = 'model.safetensors';
/** A text for a RegExp, its dots escaped (the sizes the page prints, e.g. "1.5 MB"). */
const escaped = (text: string) => text.replaceAll('.', '\\.');
/** Slow enough to watch the progress line for a few seconds (the demo model's 1.5 MB at 300 kB/s). */
const STORAGE_BYTES_PER_SECOND = 300_000;
const SCREENSHOTS = 'test-results/hub-download';

let served: ServedPage;
let browser: Browser;
let hub: HubStandIn;
let weights: Uint8Array;

beforeAll(async () => {
  const files = new Map(['config.json', 'tokenizer.json', WEIGHTS].map((file) => [file, new Uint8Array(readFileSync(`public/demo-model/${file}`))]));
  weights = files.get(WEIGHTS)!;
  hub = await startHubStandIn({ ...REPOSITORY, files });
  served = await serveDist();
  browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  await hub?.close();
});

const pageUrl = () => `${served.url}?hub-origin=${encodeURIComponent(hub.hubOrigin)}`;

async function loadFromHub(page: Page): Promise<void> {
  await waitForDataset(page, DEMO_DATASET);
  await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
  await page.getByTestId('model-kind-hub').check();
  // A link's hub-origin is used only once the person accepts it.
  await page.getByTestId('origin-accept').click();
  await page.getByTestId('hub-model-input').fill(HUB_MODEL);
  await page.getByTestId('model-load-button').click();
}

async function waitForModel(page: Page, state: 'ready' | 'failed'): Promise<void> {
  await page.waitForSelector(`[data-testid=model-status][data-state=${state}]`, { timeout: 120_000 });
}

/** Records every text the model progress line shows, in window.progressSeen. */
async function recordProgress(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = ((window as unknown as { progressSeen: string[] }).progressSeen = []);
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid=model-progress]')?.textContent?.replace(/\s+/g, ' ').trim();
      if (text && text !== seen.at(-1)) seen.push(text);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/** Waits until the progress line (whitespace folded) matches `pattern`. */
async function waitForProgress(page: Page, pattern: RegExp): Promise<void> {
  await page.waitForFunction(
    ({ source, flags }) => new RegExp(source, flags).test(document.querySelector('[data-testid=model-progress]')?.textContent?.replace(/\s+/g, ' ') ?? ''),
    { source: pattern.source, flags: pattern.flags },
  );
}

const progressSeen = (page: Page) => page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);

/** The weights' cache manifest as the page's worker wrote it (weight-cache.ts layout). */
async function storedManifest(page: Page): Promise<{ storedChunks: number; chunkBytes: number; complete: boolean } | undefined> {
  const key = `https://moontune.invalid/${encodeURIComponent(`${hubFileUrl({ ...REPOSITORY, origin: hub.hubOrigin }, WEIGHTS)}#manifest`)}`;
  return page.evaluate(async (request) => {
    const response = await (await caches.open('moontune-weights-v1')).match(request);
    return response ? response.json() : undefined;
  }, key);
}

/** Step 3 of the page (the model chooser and its status) as test-results/hub-download/NAME.png. */
async function screenshot(page: Page, name: string): Promise<void> {
  await page.locator('section[aria-labelledby=model-heading]').screenshot({ path: `${SCREENSHOTS}/${name}.png` });
}

/** SHA-256 of the weights' stored chunks, concatenated in order (read in the page). */
async function storedSha256(page: Page): Promise<string> {
  const manifest = (await storedManifest(page))!;
  const chunkCount = Math.ceil(weights.byteLength / manifest.chunkBytes);
  const chunkKey = (index: number) => `https://moontune.invalid/${encodeURIComponent(`${hubFileUrl({ ...REPOSITORY, origin: hub.hubOrigin }, WEIGHTS)}#${index}`)}`;
  return page.evaluate(async (keys) => {
    const cache = await caches.open('moontune-weights-v1');
    const chunks = await Promise.all(keys.map(async (key) => (await cache.match(key))!.blob()));
    const digest = await crypto.subtle.digest('SHA-256', await new Blob(chunks).arrayBuffer());
    return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  }, Array.from({ length: chunkCount }, (_, index) => chunkKey(index)));
}

const weightsRequests = () => hub.requests.filter((request) => request.file === WEIGHTS);

describe('a hub model through a hub-like server', () => {
  let page: Page;
  let pageErrors: string[];
  let keptBytes = 0;

  beforeAll(async () => {
    ({ page, pageErrors } = await openPage(browser, pageUrl()));
  });

  afterAll(() => page?.close());

  test('shows bytes and time left while downloading, then says what is kept when the connection drops', async () => {
    const dropAt = weights.byteLength >> 1;
    hub.throttle(STORAGE_BYTES_PER_SECOND);
    hub.dropNextDownload(WEIGHTS, dropAt);
    await recordProgress(page);
    await loadFromHub(page);
    await waitForProgress(page, new RegExp(`Downloading model\\.safetensors: [\\d.]+ kB of ${escaped(formatBytes(weights.byteLength))}`));
    await page.waitForTimeout(1500);
    await screenshot(page, '1-downloading');
    await waitForModel(page, 'failed');
    await screenshot(page, '2-connection-dropped');

    expect((await progressSeen(page)).join('\n')).toMatch(new RegExp(`Downloading model\\.safetensors: [\\d.]+ kB of ${escaped(formatBytes(weights.byteLength))} · [\\d.]+ kB/s · \\d+ s left`));
    const manifest = await storedManifest(page);
    keptBytes = manifest!.storedChunks * manifest!.chunkBytes;
    expect(keptBytes).toBeGreaterThan(0);
    expect(keptBytes).toBeLessThanOrEqual(dropAt);
    expect(manifest!.complete).toBe(false);
    const kept = `${(keptBytes / 1e3).toFixed(1)} kB`;
    expect(await page.getByTestId('model-failure').textContent()).toMatch(
      new RegExp(`The download of model\\.safetensors broke off after [\\d.]+ kB of ${escaped(formatBytes(weights.byteLength))} \\(.+\\); the ${kept.replace('.', '\\.')} already stored are kept, so loading again resumes from there\\.`),
    );
    // The weights went hub → 302 → storage, from the first byte.
    expect(weightsRequests().map(({ host, range, status }) => [host, range, status])).toEqual([['hub', null, 302], ['storage', null, 200]]);
    expect(await page.getByTestId('model-load-button').isEnabled()).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  test('after a reload, the download resumes past the stored chunks and the model loads', async () => {
    hub.requests.length = 0;
    await page.reload();
    await recordProgress(page);
    await loadFromHub(page);
    await waitForProgress(page, /Downloading model\.safetensors: .* from the browser cache/);
    await screenshot(page, '3-resuming');
    await waitForModel(page, 'ready');
    await screenshot(page, '4-loaded');
    // Not one stored byte asked for again: both the hub and the storage host saw Range from keptBytes.
    expect(weightsRequests().map(({ host, range, status }) => [host, range, status])).toEqual([
      ['hub', `bytes=${keptBytes}-`, 302],
      ['storage', `bytes=${keptBytes}-`, 206],
    ]);
    expect((await progressSeen(page)).join('\n')).toMatch(new RegExp(`Downloading model\\.safetensors: .* · ${(keptBytes / 1e3).toFixed(1).replace('.', '\\.')} kB from the browser cache`));
    expect((await storedManifest(page))?.complete).toBe(true);
    // The stored chunks, old and new, are the file byte for byte.
    expect(await storedSha256(page)).toBe(createHash('sha256').update(weights).digest('hex'));
    expect(await page.getByTestId('model-revision').textContent()).toBe(HUB_MODEL);
    expect(pageErrors).toEqual([]);
  });

  test('a second load reads the weights from the cache, with no request for them', async () => {
    hub.requests.length = 0;
    await page.reload();
    await loadFromHub(page);
    await waitForModel(page, 'ready');
    expect(weightsRequests()).toEqual([]);
    expect(await page.getByTestId('model-revision').textContent()).toBe(HUB_MODEL);
    expect(pageErrors).toEqual([]);
  });
});

describe('a browser without room for the weights', () => {
  test('is refused before the download, with how much more room is needed', async () => {
    // A fresh browser context (empty storage) whose worker is told 1 MB is free: the download
    // runs in the worker, so that is where navigator.storage.estimate is replaced.
    const { page, pageErrors } = await openPage(browser, pageUrl());
    await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
    const [worker] = page.workers();
    await worker.evaluate(() => {
      StorageManager.prototype.estimate = async () => ({ usage: 250_000, quota: 1_250_000 });
    });
    hub.requests.length = 0;
    hub.throttle(undefined);
    await loadFromHub(page);
    await waitForModel(page, 'failed');
    await screenshot(page, '5-no-room');
    expect(await page.getByTestId('model-failure').textContent()).toMatch(
      new RegExp(
        `Downloading model\\.safetensors needs ${escaped(formatBytes(weights.byteLength))} of browser storage but only 1\\.0 MB is free \\(250\\.0 kB of 1\\.3 MB used\\): ${escaped(formatBytes(weights.byteLength - 1_000_000))} more is needed\\.`,
      ),
    );
    expect(await storedManifest(page)).toBeUndefined();
    expect(await page.getByTestId('model-load-button').isEnabled()).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
