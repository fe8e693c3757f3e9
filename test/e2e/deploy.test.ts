// The static build served from a sub-path, as a GitHub-Pages-like host serves a project site
// (https://user.github.io/moontune/): a tiny server in this file answers only under /moontune/
// (404 elsewhere, as another site would own the root) and redirects /moontune to /moontune/.
// The page loads the demo dataset and the demo model there, bench.html runs its worker there,
// and no request leaves the sub-path or fails.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DIST_DIR, launchChromium, openPage } from './browser.ts';
import { waitForDataset } from './page-report.ts';

const BASE = '/moontune/';
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.zip': 'application/zip',
};

/** Paths asked for, with the status each got. */
const requests: { path: string; status: number }[] = [];
let server: Server;
let origin: string;
let browser: Browser;

function serveUnderBase(root: string): Promise<Server> {
  const site = createServer((request, response) => {
    const path = decodeURIComponent((request.url ?? '/').split('?')[0]);
    const answer = (status: number, headers: Record<string, string | number> = {}) => {
      requests.push({ path, status });
      return response.writeHead(status, headers);
    };
    if (path === BASE.slice(0, -1)) return void answer(301, { Location: BASE }).end();
    const file = path.startsWith(BASE) ? normalize(join(root, path.slice(BASE.length))) : undefined;
    const target = file && existsSync(file) && statSync(file).isDirectory() ? join(file, 'index.html') : file;
    if (!target || !target.startsWith(root + sep) || !existsSync(target)) return void answer(404).end();
    answer(200, { 'Content-Type': TYPES[extname(target)] ?? 'application/octet-stream', 'Content-Length': statSync(target).size });
    createReadStream(target).pipe(response);
  });
  return new Promise((done) => site.listen(0, 'localhost', () => done(site)));
}

beforeAll(async () => {
  if (!existsSync(`${DIST_DIR}/index.html`)) throw new Error(`${DIST_DIR}/index.html is missing: build the page first (\`npx vite build\`).`);
  server = await serveUnderBase(resolve(DIST_DIR));
  origin = `http://localhost:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((done) => server?.close(done));
});

function expectEveryRequestServedUnderBase(): void {
  const outside = requests.filter(({ path }) => !path.startsWith(BASE) && path !== BASE.slice(0, -1));
  expect(outside, 'requests outside the sub-path').toEqual([]);
  // A model folder may have a tokenizer_config.json; the demo model has none, so asking for it finds nothing.
  const missing = requests.filter(({ path, status }) => status === 404 && path !== `${BASE}demo-model/tokenizer_config.json`);
  expect(missing, 'requests that found nothing').toEqual([]);
}

describe(`the build served under ${BASE}`, () => {
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    ({ page, pageErrors } = await openPage(browser, `${origin}${BASE.slice(0, -1)}`));
  });

  afterAll(() => page?.close());

  test('opens on the demo dataset, fetched from the sub-path', async () => {
    expect(page.url()).toBe(`${origin}${BASE}`);
    await waitForDataset(page, 'coins.coco.zip');
    expect(requests.some(({ path, status }) => path === `${BASE}demo/coins.coco.zip` && status === 200)).toBe(true);
    expectEveryRequestServedUnderBase();
  });

  test('loads the demo model in its worker from the sub-path', async () => {
    await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
    await page.getByTestId('model-kind-demo').check();
    await page.getByTestId('model-load-button').click();
    await page.waitForSelector('[data-testid=model-status][data-state=ready]', { timeout: 120_000 });
    for (const file of ['config.json', 'tokenizer.json', 'model.safetensors']) {
      expect(requests.some(({ path, status }) => path === `${BASE}demo-model/${file}` && status === 200), file).toBe(true);
    }
    expect(requests.some(({ path }) => /^\/moontune\/assets\/.*worker.*\.js$/.test(path)), 'the worker script').toBe(true);
    expectEveryRequestServedUnderBase();
    expect(pageErrors).toEqual([]);
  });

  test('runs bench.html?quick=1 with its worker from the sub-path', async () => {
    const bench = await openPage(browser, `${origin}${BASE}bench.html?quick=1`);
    await bench.page.locator('#result').waitFor({ state: 'visible', timeout: 150_000 });
    expect(await bench.page.locator('#error').textContent()).toBe('');
    expect(await bench.page.locator('#rows tbody tr').count()).toBe(1);
    await bench.page.close();
    expectEveryRequestServedUnderBase();
    expect(bench.pageErrors).toEqual([]);
  });
});
