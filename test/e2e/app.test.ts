// The built page in headless Chromium: opens on the demo dataset, reports uploads with the
// numbers the dataset half computes, survives broken uploads, and finds WebGPU in its worker.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { loadDataset } from '../../src/dataset/load.ts';
import type { CountingDataset, QuestionTemplate } from '../../src/dataset/types.ts';
import { DIST_DIR, launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';
import { roboflowFiles, roboflowZip, zipWithMalformedJson, type TestImage } from './roboflow-zip.ts';
import { shownBars, shownImageSize, shownRejection, shownSample, shownSplits, shownTotals, waitForDataset, waitForRejection } from './page-report.ts';

const DEMO_NAME = 'coins.coco.zip';
/** The bytes the page fetches: the build's copy of public/demo/coins.coco.zip. */
const DEMO_ZIP_PATH = `${DIST_DIR}/demo/${DEMO_NAME}`;

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

async function loadInNode(data: Uint8Array, name: string, question?: Partial<QuestionTemplate>): Promise<CountingDataset> {
  return loadDataset({ kind: 'zip', name, data }, { question });
}

/** The report's figures counted straight from the images, not from the dataset's stats. */
function expectedReport(dataset: CountingDataset) {
  const splits = (['train', 'val', 'test'] as const).map((split) => {
    const images = dataset.images.filter((image) => image.split === split);
    return { split, images: images.length, objects: images.reduce((sum, image) => sum + image.objects.length, 0) };
  });
  const classBars = dataset.classes.map((datasetClass, classIndex): [string, number] => [
    datasetClass.name,
    dataset.images.flatMap((image) => image.objects).filter((object) => object.classIndex === classIndex).length,
  ]);
  const mostObjects = Math.max(...dataset.images.map((image) => image.objects.length));
  const countBars = Array.from({ length: mostObjects + 1 }, (_, count): [string, number] => [
    String(count),
    dataset.images.filter((image) => image.objects.length === count).length,
  ]);
  return { splits, classBars, countBars };
}

async function expectReportMatches(page: Page, dataset: CountingDataset): Promise<void> {
  const expected = expectedReport(dataset);
  expect(await shownSplits(page)).toEqual(expected.splits);
  expect(await shownBars(page, 'class-bar')).toEqual(expected.classBars);
  expect(await shownBars(page, 'count-bar')).toEqual(expected.countBars);
}

/** The shown sample is the dataset's image at that path, with its exact question and answer. */
async function expectSampleMatches(page: Page, dataset: CountingDataset): Promise<void> {
  const sample = await shownSample(page);
  const image = dataset.images.find((candidate) => candidate.path === sample.path);
  expect(image, `the page shows ${sample.path}, which the dataset does not have`).toBeDefined();
  expect(sample.question).toBe(image!.question);
  expect(sample.answer).toBe(image!.answer);
  expect(sample.boxes).toBe(image!.objects.length);
  expect(await shownImageSize(page)).toEqual({ width: image!.width, height: image!.height });
}

describe('the page on the demo dataset', () => {
  let page: Page;
  let pageErrors: string[];
  let demo: CountingDataset;
  let demoBytes: Uint8Array;

  beforeAll(async () => {
    if (!existsSync(DEMO_ZIP_PATH)) {
      throw new Error(`${DEMO_ZIP_PATH} is missing: the build copies it from public/demo/ (\`npm run demo:dataset\` makes it).`);
    }
    demoBytes = new Uint8Array(readFileSync(DEMO_ZIP_PATH));
    demo = await loadInNode(demoBytes, DEMO_NAME);
    ({ page, pageErrors } = await openPage(browser, served.url));
  });

  afterAll(() => page?.close());

  test('opens on the demo and reports the numbers loadDataset computes in Node', async () => {
    await waitForDataset(page, DEMO_NAME);
    // Hand-known facts about the demo: four coin classes, and splits that add up.
    expect(demo.classes.map((datasetClass) => datasetClass.name).sort()).toEqual(['dime', 'nickel', 'penny', 'quarter']);
    expect(demo.issues.filter((issue) => issue.severity === 'error')).toEqual([]);
    await expectReportMatches(page, demo);
    const splits = await shownSplits(page);
    const totals = await shownTotals(page);
    expect(totals.images).toBe(splits.reduce((sum, split) => sum + split.images, 0));
    expect(totals.images).toBe(demo.images.length);
    expect(totals.objects).toBe(splits.reduce((sum, split) => sum + split.objects, 0));
    expect(await page.getByTestId('dataset-errors').count()).toBe(0);
  });

  test("shows samples with the dataset's own question, answer and boxes", async () => {
    await expectSampleMatches(page, demo);
    await page.getByTestId('sample-next').click();
    expect(await page.getByTestId('sample-position').textContent()).toMatch(/^2 \//);
    await expectSampleMatches(page, demo);
    const lastSplit = (await shownSplits(page)).filter((split) => split.images > 0).at(-1)!.split;
    await page.getByTestId('sample-split').selectOption(lastSplit);
    expect(await page.getByTestId('sample-position').textContent()).toMatch(/^1 \//);
    await expectSampleMatches(page, demo);
    expect((await shownSample(page)).path).toBe(demo.images.find((image) => image.split === lastSplit)!.path);
  });

  test('rebuilds every question when the noun changes', async () => {
    const withCoin = await loadInNode(demoBytes, DEMO_NAME, { noun: 'coin' });
    await page.getByTestId('noun-input').fill('coin');
    await page.getByTestId('noun-apply').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=sample-question]')?.textContent?.includes('coin'));
    expect((await shownSample(page)).question).toMatch(/^How many of each type of the coin \(/);
    await expectSampleMatches(page, withCoin);
  });

  test('a crashed worker is reported, and the next load starts a new one', async () => {
    const [worker] = page.workers();
    await worker.evaluate(() => {
      setTimeout(() => {
        throw new Error('simulated crash');
      });
    });
    await page.waitForSelector('[data-testid=dataset-status][data-state=failed]');
    expect(await page.getByTestId('load-failure').textContent()).toMatch(/background worker stopped.*Load the dataset again/);
    expect(await page.getByTestId('report').count()).toBe(0);
    await page.getByTestId('demo-button').click();
    await waitForDataset(page, DEMO_NAME);
    await expectSampleMatches(page, demo);
  });

  test('the worker reports a WebGPU adapter (SwiftShader on this machine)', async () => {
    const status = page.getByTestId('webgpu-status');
    await page.waitForSelector('[data-testid=webgpu-status]:not([data-state=checking])', { timeout: 60_000 });
    expect(await status.getAttribute('data-state'), await status.textContent() ?? '').toBe('available');
    expect(await page.getByTestId('webgpu-adapter').textContent()).toMatch(/swiftshader/i);
    expect(pageErrors).toEqual([]);
  });
});

describe('uploads', () => {
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    ({ page, pageErrors } = await openPage(browser, served.url));
    await waitForDataset(page, DEMO_NAME);
  });

  afterAll(() => page?.close());

  function upload(name: string, bytes: Uint8Array): Promise<void> {
    return page.getByTestId('file-input').setInputFiles({ name, mimeType: 'application/zip', buffer: Buffer.from(bytes) });
  }

  const image = (fileName: string, objects: [string, number][]): TestImage => ({
    fileName,
    width: 64,
    height: 48,
    objects: objects.map(([className, x]) => ({ className, bbox: [x, 8, 12, 12] })),
  });

  test('a zip chosen in the file input is reported with the right numbers', async () => {
    const zip = roboflowZip(['cat', 'dog'], {
      train: [image('a.png', [['cat', 2], ['cat', 20], ['dog', 40]]), image('b.png', [['dog', 4]]), image('c.png', [])],
      valid: [image('d.png', [['cat', 2], ['dog', 20]])],
      test: [image('e.png', [['cat', 2], ['cat', 18], ['cat', 34], ['dog', 50]])],
    });
    await upload('pets.zip', zip);
    await waitForDataset(page, 'pets.zip');
    // Hand-counted from the images above.
    expect(await shownSplits(page)).toEqual([
      { split: 'train', images: 3, objects: 4 },
      { split: 'val', images: 1, objects: 2 },
      { split: 'test', images: 1, objects: 4 },
    ]);
    expect(await shownBars(page, 'class-bar')).toEqual([['cat', 6], ['dog', 4]]);
    expect(await shownBars(page, 'count-bar')).toEqual([['0', 1], ['1', 1], ['2', 1], ['3', 1], ['4', 1]]);
    const first = await shownSample(page);
    expect(first.path).toBe('train/a.png');
    // Python's json.dumps(counts, indent=2), zero counts left out.
    expect(first.answer).toBe('{\n  "cat": 2,\n  "dog": 1\n}');
    expect(first.question).toBe(
      'How many of each type of the object (cat, dog) are there? Respond in JSON format with the object type as the key and a integer count as the value.',
    );
    expect(first.boxes).toBe(3);
    expect(await shownImageSize(page)).toEqual({ width: 64, height: 48 });
    await expectReportMatches(page, await loadInNode(zip, 'pets.zip'));
  });

  test('a zip dropped on the drop zone is loaded', async () => {
    const zip = roboflowZip(['cat'], {
      train: [image('a.png', [['cat', 2]])],
      valid: [image('b.png', [['cat', 2], ['cat', 20]])],
    });
    await page.getByTestId('drop-zone').evaluate((zone, bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.zip', { type: 'application/zip' }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, Array.from(zip));
    await waitForDataset(page, 'dropped.zip');
    expect(await shownSplits(page)).toEqual([
      { split: 'train', images: 1, objects: 1 },
      { split: 'val', images: 1, objects: 2 },
      { split: 'test', images: 0, objects: 0 },
    ]);
  });

  test('a COCO json with its images, chosen as loose files, is loaded', async () => {
    const files = roboflowFiles(['cat', 'dog'], {
      train: [image('a.png', [['cat', 2], ['dog', 20]]), image('b.png', [['dog', 4]])],
    });
    await page.getByTestId('file-input').setInputFiles(
      Object.entries(files).map(([path, bytes]) => ({
        name: path.split('/').pop()!,
        mimeType: path.endsWith('.json') ? 'application/json' : 'image/png',
        buffer: Buffer.from(bytes),
      })),
    );
    await waitForDataset(page, '3 files');
    expect(await shownTotals(page)).toEqual({ images: 2, objects: 3 });
    expect(await shownBars(page, 'class-bar')).toEqual([['cat', 1], ['dog', 2]]);
    expect(await shownImageSize(page)).toEqual({ width: 64, height: 48 });
  });

  test('a folder chosen in the folder picker is loaded, its many warnings folded away', async () => {
    // A train split only (no split to evaluate on) whose six boxes each reach past the right edge.
    const edgeImages = Array.from({ length: 6 }, (_, index) => image(`edge${index}.png`, [['cat', 58]]));
    const files = roboflowFiles(['cat'], { train: edgeImages });
    const tempDir = mkdtempSync(join(tmpdir(), 'moontune-e2e-'));
    const folder = join(tempDir, 'edge-cats');
    try {
      for (const [path, bytes] of Object.entries(files)) {
        mkdirSync(dirname(join(folder, path)), { recursive: true });
        writeFileSync(join(folder, path), bytes);
      }
      await page.getByTestId('folder-input').setInputFiles(folder);
      await waitForDataset(page, 'edge-cats');
    } finally {
      rmSync(tempDir, { recursive: true, force: true });
    }
    expect(await shownSplits(page)).toEqual([
      { split: 'train', images: 6, objects: 6 },
      { split: 'val', images: 0, objects: 0 },
      { split: 'test', images: 0, objects: 0 },
    ]);
    const warnings = page.getByTestId('dataset-warnings');
    expect(await warnings.locator('details').evaluate((details: HTMLDetailsElement) => details.open)).toBe(false);
    const codes = await warnings.getByTestId('issue').evaluateAll((items) => items.map((item) => item.getAttribute('data-code')));
    expect(codes.filter((code) => code === 'box-crosses-edge')).toHaveLength(6);
    expect(codes).toContain('no-evaluation-split');
    expect(await page.getByTestId('dataset-errors').count()).toBe(0);
  });

  test('broken zips show their errors at the drop zone, and the dataset loaded before stays', async () => {
    await upload('pets.zip', roboflowZip(['cat'], { train: [image('a.png', [['cat', 2]])] }));
    await waitForDataset(page, 'pets.zip');
    const randomBytes = new Uint8Array(4096).map((_, index) => (index * 2654435761) >>> 24);
    await upload('broken.zip', randomBytes);
    await waitForRejection(page, 'broken.zip');
    const broken = await shownRejection(page);
    expect(broken.errors.length).toBeGreaterThan(0);
    expect(broken.errors.join('\n')).toContain('broken.zip');
    expect(broken.kept).toBe('pets.zip is still loaded.');
    // nothing lost: the report and the samples of pets.zip are still there
    expect(await page.getByTestId('dataset-name').textContent()).toBe('pets.zip');
    expect(await shownTotals(page)).toEqual({ images: 1, objects: 1 });
    expect((await shownSample(page)).path).toBe('train/a.png');

    await upload('bad-json.zip', zipWithMalformedJson());
    await waitForRejection(page, 'bad-json.zip');
    expect((await shownRejection(page)).errors.join('\n')).toContain('train/_annotations.coco.json');

    // Records what the progress line shows while the demo loads again.
    await page.evaluate(() => {
      const seen: string[] = ((window as unknown as { progressSeen: string[] }).progressSeen = []);
      new MutationObserver(() => {
        const progress = document.querySelector('[data-testid=load-progress]');
        if (progress?.textContent) seen.push(progress.textContent);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByTestId('demo-button').click();
    await waitForDataset(page, DEMO_NAME);
    const progressSeen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
    expect(progressSeen.join('\n')).toMatch(/Loading coins\.coco\.zip — (unzipping|parsing|checking images|building questions) \(\d+\/\d+\)/);
    expect(await page.getByTestId('dataset-errors').count()).toBe(0);
    const demo = await loadInNode(new Uint8Array(readFileSync(DEMO_ZIP_PATH)), DEMO_NAME);
    await expectReportMatches(page, demo);
    expect(pageErrors).toEqual([]);
  });
});
