// bench.html in headless Chromium on SwiftShader: ?quick=1 runs one 64³ matmul row for moontune
// and for TensorFlow.js's WebGPU backend, and the page shows the adapter, the row, the copyable
// table with the speed-up, and a JSON download with the same numbers.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';

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

test('?quick=1 times a 64³ matmul against TF.js on the SwiftShader adapter', async () => {
  const { page, pageErrors } = await openPage(browser, `${served.url}bench.html?quick=1`);
  await page.locator('#result').waitFor({ state: 'visible', timeout: 150_000 });
  expect(await page.locator('#error').textContent()).toBe('');

  // The adapter is Chromium's CPU one (the harness forces --use-webgpu-adapter=swiftshader).
  const adapterText = (await page.locator('#adapter').textContent()) ?? '';
  expect(adapterText).toMatch(/swiftshader/i);
  expect(Number(await page.locator('dd[data-field="maxStorageBufferBindingSize"]').textContent())).toBeGreaterThan(0);

  // One row, as it finished: moontune ms and TF.js ms both positive, speed-up = their ratio.
  const cells = await page.locator('#rows tbody tr').first().locator('td').allTextContents();
  expect(await page.locator('#rows tbody tr').count()).toBe(1);
  const [name, ms, gflops, baselineMs, speedupText, note] = cells;
  expect(name).toBe('matmul 64×64·64×64 f32');
  expect(Number(ms)).toBeGreaterThan(0);
  expect(Number(baselineMs)).toBeGreaterThan(0);
  // GFLOP/s is 2·64³ flops over the shown ms; both are rounded to 2 decimals, hence 2 % slack.
  expect(Number(gflops)).toBeCloseTo((2 * 64 ** 3) / Number(ms) / 1e6, 1);
  const speedup = Number(speedupText.replace('×', ''));
  expect(speedup).toBeGreaterThan(0);
  expect(speedup).toBeCloseTo(Number(baselineMs) / Number(ms), 1);
  // Same product as TF.js: f32 sums of 64 products in [-1, 1) differ only by rounding order.
  const relativeDifference = Number(note.match(/max\|Δ\| vs tfjs (\S+)/)![1]);
  expect(relativeDifference).toBeLessThan(1e-5);

  // The copyable table is formatTable's text plus the speed-up lines.
  const table = (await page.locator('#table').textContent()) ?? '';
  expect(table).toMatch(/^adapter: .*swiftshader/im);
  expect(table).toMatch(/benchmark\s+ms\s+GFLOP\/s\s+baseline ms\s+baseline\s+note/);
  expect(table).toContain('matmul 64×64·64×64 f32');
  expect(table).toMatch(new RegExp(`matmul 64×64·64×64 f32\\s+${speedup.toFixed(2)}×`));

  // The JSON download holds the same row, unrounded.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const json = JSON.parse(readFileSync((await download.path())!, 'utf8'));
  expect(json.options).toMatchObject({ quick: true, withTfjs: true });
  expect(json.rows).toHaveLength(1);
  expect(json.rows[0].name).toBe(name);
  expect(json.rows[0].ms.toFixed(2)).toBe(ms);
  expect(json.rows[0].baselineMs.toFixed(2)).toBe(baselineMs);
  expect(json.adapter.description + json.adapter.architecture + json.adapter.vendor).toMatch(/swiftshader/i);

  expect(pageErrors).toEqual([]);
  await page.close();
});
