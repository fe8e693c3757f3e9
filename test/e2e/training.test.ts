// Step 3 in headless Chromium (WebGPU on SwiftShader): the demo model loads in the page's worker,
// accuracy is measured on 2 test images, training runs a few steps with a live loss and step
// count, a reload finds the checkpoint and resume continues at the saved step, and the adapter
// downloads as a safetensors file. A truncated model file or a model folder missing a file gives
// a clear error and the page keeps working; a dataset with a train split only is measured on its
// train images, as the page says before measuring. Kept short: 2 test images, 4 train images of
// one step each.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { DIST_DIR, launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';
import { waitForDataset } from './page-report.ts';
import { roboflowZip } from './roboflow-zip.ts';
import { noisyPng } from '../helpers/dataset-builders.ts';
import { readAdapterFile } from '../../src/train/adapter-export.ts';
import { SafetensorsFile } from '../../src/model/safetensors.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, readPeftAdapter } from '../../src/train/peft-adapter.ts';

const DEMO_DATASET = 'coins.coco.zip';
const DEMO_MODEL_DIR = `${DIST_DIR}/demo-model`;
const TRAIN_IMAGES = 4;
/** Step 1 can take a while on SwiftShader: the vision encoder runs once per image first. */
const STEP_TIMEOUT_MS = 150_000;

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

async function loadModelFromPicker(page: Page, files: { name: string; buffer: Buffer }[]): Promise<void> {
  await page.getByTestId('model-kind-files').check();
  await page.getByTestId('model-files-input').setInputFiles(files.map((file) => ({ ...file, mimeType: 'application/octet-stream' })));
  await page.getByTestId('model-load-button').click();
}

async function waitForModel(page: Page, state: 'ready' | 'failed'): Promise<void> {
  await page.waitForSelector(`[data-testid=model-status][data-state=${state}]`, { timeout: 120_000 });
}

async function loadDemoModel(page: Page): Promise<void> {
  await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
  await page.getByTestId('model-kind-demo').check();
  await page.getByTestId('model-load-button').click();
  await waitForModel(page, 'ready');
}

async function numberOf(page: Page, testId: string): Promise<number> {
  return Number(await page.getByTestId(testId).first().textContent());
}

describe('a broken model file', () => {
  const demoModelFile = (name: string) => ({ name, buffer: readFileSync(`${DEMO_MODEL_DIR}/${name}`) });

  test('a truncated model.safetensors gives a clear error and the page keeps working', async () => {
    const { page, pageErrors } = await openPage(browser, served.url);
    await waitForDataset(page, DEMO_DATASET);
    await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
    const weights = readFileSync(`${DEMO_MODEL_DIR}/model.safetensors`);
    await loadModelFromPicker(page, [
      demoModelFile('config.json'),
      demoModelFile('tokenizer.json'),
      { name: 'model.safetensors', buffer: weights.subarray(0, weights.length >> 1) },
    ]);
    await waitForModel(page, 'failed');
    const message = await page.getByTestId('model-failure').textContent();
    // It names the file and says it ended early (the header promises more bytes than arrived).
    expect(message).toMatch(/model\.safetensors/);
    expect(message).toMatch(/truncat|ended|short|bytes/i);
    // The page still works: the dataset report is there and the chooser accepts another load.
    expect(await page.getByTestId('report').count()).toBe(1);
    expect(await page.getByTestId('model-load-button').isEnabled()).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  test('picked files without tokenizer.json: the one message the CLI gives names it', async () => {
    const { page, pageErrors } = await openPage(browser, served.url);
    await waitForDataset(page, DEMO_DATASET);
    await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
    await loadModelFromPicker(page, [demoModelFile('config.json'), demoModelFile('model.safetensors')]);
    await waitForModel(page, 'failed');
    expect(await page.getByTestId('model-failure').textContent()).toContain(
      'tokenizer.json is missing from the picked files; a model folder needs model.safetensors, config.json and tokenizer.json from the same download — add it and load the model again.',
    );
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('a hub model that cannot be had', () => {
  test('warns about the download size, then reports the failed download clearly', async () => {
    // The local server plays the hub (hub-origin), so the test never reaches the network: like the
    // real hub, it answers 404 for a repository that does not exist.
    const { page, pageErrors } = await openPage(browser, `${served.url}?hub-origin=${encodeURIComponent(new URL(served.url).origin)}`);
    await waitForDataset(page, DEMO_DATASET);
    await page.waitForSelector('[data-testid=webgpu-status][data-state=available]', { timeout: 60_000 });
    await page.getByTestId('model-kind-hub').check();
    expect(await page.getByTestId('hub-model-input').inputValue()).toBe('vikhyatk/moondream2@2025-06-21');
    expect(await page.getByTestId('hub-warning').textContent()).toMatch(/GB to download/);
    await page.getByTestId('hub-model-input').fill('moontune-test/does-not-exist@2025-06-21');
    // The link names another host for the hub: shown, and nothing loads until the person accepts it.
    const origin = new URL(served.url).origin;
    expect(await page.getByTestId('origin-name').textContent()).toBe(origin);
    await page.getByTestId('model-load-button').click();
    expect(await page.getByRole('alert').filter({ hasText: 'Choose above whether to load from' }).count()).toBe(1);
    expect(await page.getByTestId('model-status').getAttribute('data-state')).toBe('none');
    await page.getByTestId('origin-accept').click();
    expect(await page.getByTestId('origin-consent').getAttribute('data-state')).toBe('accepted');
    await page.getByTestId('model-load-button').click();
    await waitForModel(page, 'failed');
    expect(await page.getByTestId('model-failure').textContent()).toMatch(/moontune-test\/does-not-exist@2025-06-21 has no model\.safetensors/);
    expect(await page.getByTestId('model-load-button').isEnabled()).toBe(true);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('a dataset with a train split only', () => {
  test('is measured on its train images, and the page says so before and after', async () => {
    const { page, pageErrors } = await openPage(browser, served.url);
    await waitForDataset(page, DEMO_DATASET);
    const box = (x: number) => ({ className: 'coin', bbox: [x, 8, 12, 12] as [number, number, number, number] });
    const zip = roboflowZip(['coin'], { train: [{ fileName: 'a.png', width: 64, height: 48, objects: [box(2)] }, { fileName: 'b.png', width: 64, height: 48, objects: [box(2), box(30)] }] });
    await page.getByTestId('drop-zone').evaluate((zone, bytes) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], 'train-only.zip', { type: 'application/zip' }));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, Array.from(zip));
    await waitForDataset(page, 'train-only.zip');
    await loadDemoModel(page);
    expect(await page.getByTestId('evaluate-before-split').textContent()).toBe('train');
    expect(await page.getByTestId('evaluation-note').textContent()).toMatch(/no val or test split, so accuracy is measured on the train images/);
    await page.getByTestId('evaluate-before-button').click();
    const evaluation = page.getByTestId('evaluation-before');
    await evaluation.waitFor({ timeout: 120_000 });
    // The two train images, not 0 of 0.
    expect(Number(await evaluation.getByTestId('evaluated-samples').textContent())).toBe(2);
    expect(await evaluation.textContent()).toMatch(/of 2\s+train images/);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('measure, train, reload and resume, download on the demo model', () => {
  let page: Page;
  let pageErrors: string[];
  let pausedAt = 0;
  let adapterBytes: Buffer | undefined;

  beforeAll(async () => {
    if (!existsSync(`${DEMO_MODEL_DIR}/model.safetensors`)) {
      throw new Error(`${DEMO_MODEL_DIR}/model.safetensors is missing: the build copies the demo model from public/demo-model/.`);
    }
    ({ page, pageErrors } = await openPage(browser, served.url));
    await waitForDataset(page, DEMO_DATASET);
  });

  afterAll(() => page?.close());

  test('the demo model loads in the page and says what it is', async () => {
    await loadDemoModel(page);
    expect(await page.getByTestId('model-summary').textContent()).toMatch(/parameters/);
    expect(await page.getByTestId('demo-model-note').textContent()).toMatch(/pre-trained here in\s+moontune on synthetic coins/);
  });

  test('settings that cannot be meant are explained next to their field and block the start', async () => {
    const train = page.getByTestId('train-button');
    expect(await train.isEnabled()).toBe(true);
    const cases: [string, string, string, RegExp][] = [
      ['setting-lr', '1', 'problem-learningRate', /diverge/],
      ['setting-epochs', '0', 'problem-epochs', /at least 1/],
      ['setting-batch', '5000', 'problem-batchSize', /5000 samples, but the run has 1000 train images/],
    ];
    for (const [input, bad, problem, message] of cases) {
      const field = page.getByTestId(input);
      const good = await field.inputValue();
      await field.fill(bad);
      expect(await page.getByTestId(problem).textContent()).toMatch(message);
      expect(await field.getAttribute('aria-invalid')).toBe('true');
      expect(await train.isDisabled()).toBe(true);
      expect(await page.getByTestId('settings-blocked').isVisible()).toBe(true);
      if (input === 'setting-batch') {
        mkdirSync('test-results', { recursive: true });
        await page.getByTestId('training').screenshot({ path: 'test-results/settings-problems.png' });
      }
      await field.fill(good);
      expect(await page.getByTestId(problem).count()).toBe(0);
    }
    expect(await train.isEnabled()).toBe(true);
  });

  test('measuring 2 test images shows exact match equal to the answers shown', async () => {
    await page.getByTestId('evaluate-before-limit').fill('2');
    await page.getByTestId('evaluate-before-button').click();
    const evaluation = page.getByTestId('evaluation-before');
    await evaluation.waitFor({ timeout: 120_000 });
    const fraction = Number(await evaluation.getByTestId('exact-match').getAttribute('data-value'));
    const matches = Number(await evaluation.getByTestId('exact-matches').textContent());
    const samples = Number(await evaluation.getByTestId('evaluated-samples').textContent());
    expect(samples).toBe(2);
    expect(fraction).toBeGreaterThanOrEqual(0);
    expect(fraction).toBeLessThanOrEqual(1);
    expect(fraction).toBe(matches / samples);
    // Recount from the results grid: an answer matches when it equals the expected answer after trim.
    const grid = page.getByTestId('results-grid');
    const expected = await grid.getByTestId('card-expected').allTextContents();
    const answers = await grid.getByTestId('card-before-answer').allTextContents();
    const exact = await grid.getByTestId('card-before').evaluateAll((cards) => cards.map((card) => card.getAttribute('data-match')));
    expect(expected).toHaveLength(2);
    const recounted = answers.map((answer, index) => (answer === '(empty)' ? '' : answer).trim() === expected[index].trim());
    expect(exact).toEqual(recounted.map(String));
    expect(recounted.filter(Boolean).length).toBe(matches);
    expect(expected.every((answer) => answer.startsWith('{'))).toBe(true); // the dataset's JSON counts
  });

  test('answers constrained to JSON counts all parse, and the page says they were constrained', async () => {
    await page.getByTestId('decoding-mode').selectOption('counts');
    await page.getByTestId('evaluate-before-button').click();
    const evaluation = page.getByTestId('evaluation-before');
    await page.waitForFunction(() => document.querySelector('[data-testid=evaluation-before] .headline')?.textContent?.includes('constrained'), null, { timeout: 120_000 });
    expect(await evaluation.getByTestId('parseable').textContent()).toBe('100.0%');
    const answers = await page.getByTestId('results-grid').getByTestId('card-before-answer').allTextContents();
    expect(answers).toHaveLength(2);
    for (const answer of answers) expect(Object.values(JSON.parse(answer)).every((count) => Number.isInteger(count))).toBe(true);
    // Back to free answers for the rest of the flow.
    await page.getByTestId('decoding-mode').selectOption('free');
    await page.getByTestId('evaluate-before-button').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=evaluation-before] .headline')?.textContent?.includes('constrained'), null, { timeout: 120_000 });
  });

  test('Ask answers any question about a dataset image or a dropped file, as it writes', async () => {
    const ask = page.getByTestId('ask');
    // The first test image with its counting question: the same greedy answer the measurement got.
    const firstPath = await page.getByTestId('results-grid').getByTestId('result-card').first().getAttribute('data-path');
    const measured = (await page.getByTestId('results-grid').getByTestId('card-before-answer').first().textContent())!;
    await ask.getByTestId('ask-button').click();
    await page.waitForSelector('[data-testid=ask-answer][data-done=true]', { timeout: 60_000 });
    expect(await ask.textContent()).toContain(firstPath);
    const answer = (await ask.getByTestId('ask-answer').textContent())!;
    expect(answer.startsWith(measured === '(empty)' ? '' : measured)).toBe(true);
    const stats = (await ask.getByTestId('ask-stats').textContent())!;
    const tokens = Number(/^(\d+) tokens/.exec(stats)![1]);
    expect(Number(await ask.getByTestId('ask-answer').getAttribute('data-updates'))).toBe(tokens); // one update per token
    expect(await ask.getByTestId('ask-with-adapter').isDisabled()).toBe(true); // nothing trained yet

    // A file of its own, with another question.
    await ask.getByTestId('ask-file').setInputFiles({ name: 'mine.png', mimeType: 'image/png', buffer: Buffer.from(noisyPng(40, 30)) });
    await ask.getByTestId('ask-question').fill('What is in the image?');
    await ask.getByTestId('ask-button').click();
    await page.waitForSelector('[data-testid=ask-answer][data-done=true]', { timeout: 60_000 });
    expect(await ask.getByTestId('ask-stats').textContent()).toMatch(/without the adapter/);
    // Bytes that are no image: said, and nothing else breaks.
    await ask.getByTestId('ask-file').setInputFiles({ name: 'broken.png', mimeType: 'image/png', buffer: Buffer.from('not a png at all') });
    await ask.getByTestId('ask-button').click();
    await ask.getByTestId('ask-problem').waitFor({ timeout: 30_000 });
    expect(await ask.getByTestId('ask-problem').textContent()).toMatch(/broken\.png cannot be read as an image/);
    mkdirSync('test-results', { recursive: true });
    await ask.screenshot({ path: 'test-results/ask.png' });
    await ask.getByTestId('ask-from-dataset').check();
    expect(pageErrors).toEqual([]);
  });

  test('training shows a loss and an advancing step count, and pauses with a checkpoint', async () => {
    // LoRA, one sample a step (the demo recipe is a full fine-tune of batch 16): an adapter to download.
    await page.getByTestId('setting-full').uncheck();
    await page.getByTestId('setting-epochs').fill('1');
    await page.getByTestId('setting-batch').fill('1');
    await page.getByTestId('setting-accumulation').fill('1');
    await page.getByTestId('setting-train-limit').fill(String(TRAIN_IMAGES));
    await page.getByTestId('train-button').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]')?.textContent) >= 1, null, { timeout: STEP_TIMEOUT_MS });
    await page.getByTestId('pause-button').click();
    await page.waitForSelector('[data-testid=training][data-state=paused]', { timeout: STEP_TIMEOUT_MS });
    pausedAt = await numberOf(page, 'train-step');
    expect(pausedAt).toBeGreaterThanOrEqual(1);
    expect(pausedAt).toBeLessThan(TRAIN_IMAGES);
    const loss = await numberOf(page, 'train-loss');
    // An untrained model over a vocabulary of V tokens starts near ln V: finite and positive.
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    expect(await page.locator('[data-testid=loss-curve] circle').count()).toBe(pausedAt);
    expect(await numberOf(page, 'resume-offer-step')).toBe(pausedAt);
    // The progress bar stands at the paused step of the run's total, the rate curve beside the loss.
    const progress = page.getByTestId('train-progress');
    expect(Number(await progress.getAttribute('value'))).toBe(pausedAt);
    expect(Number(await progress.getAttribute('max'))).toBe(TRAIN_IMAGES);
    expect(await page.getByTestId('lr-curve').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+/);
  });

  test('after a reload the checkpoint is found and resume continues at the saved step', async () => {
    await page.reload();
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('resume-offer').waitFor({ timeout: 30_000 });
    expect(await numberOf(page, 'resume-offer-step')).toBe(pausedAt);
    expect(await page.locator('[data-testid=loss-curve] circle').count()).toBe(pausedAt); // the curve came back too
    expect(await page.getByTestId('lr-curve').count()).toBe(1); // with its rates, from the run's schedule
    const steps: number[] = [];
    await page.exposeFunction('recordStep', (step: number) => steps.push(step));
    await page.evaluate(() => {
      const observer = new MutationObserver(() => {
        const text = document.querySelector('[data-testid=train-step]')?.textContent;
        if (text) (window as unknown as { recordStep(step: number): void }).recordStep(Number(text));
      });
      observer.observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByTestId('resume-button').click();
    await page.waitForSelector('[data-testid=training][data-state=finished]', { timeout: STEP_TIMEOUT_MS * 2 });
    expect(await numberOf(page, 'train-step')).toBe(TRAIN_IMAGES);
    // The first step shown after resuming is the one after the saved step, never step 1 again.
    const afterResume = steps.filter((step) => step !== pausedAt);
    expect(afterResume[0]).toBe(pausedAt + 1);
    expect(await page.locator('[data-testid=loss-curve] circle').count()).toBe(TRAIN_IMAGES);
  });

  test('the adapter downloads as a file whose header parses as safetensors', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-adapter').click()]);
    expect(download.suggestedFilename()).toMatch(/\.safetensors$/);
    const bytes = readFileSync(await download.path());
    adapterBytes = bytes;
    // safetensors: u64 little-endian header length, a JSON header, then the tensor data.
    const headerLength = Number(bytes.readBigUInt64LE(0));
    expect(8 + headerLength).toBeLessThanOrEqual(bytes.length);
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const { __metadata__: metadata, ...tensors } = header as Record<string, never>;
    expect(metadata).toBeDefined();
    const entries = Object.entries(tensors) as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][];
    expect(entries.length).toBeGreaterThan(0);
    for (const [name, tensor] of entries) {
      const elements = tensor.shape.reduce((product, size) => product * size, 1);
      expect(tensor.data_offsets[1] - tensor.data_offsets[0], name).toBe(elements * (tensor.dtype === 'F32' ? 4 : 2));
      expect(8 + headerLength + tensor.data_offsets[1]).toBeLessThanOrEqual(bytes.length);
    }
    expect(pageErrors).toEqual([]);
  });

  test('the PEFT adapter and the converted dataset download as zips that read back as what the page holds', async () => {
    expect(adapterBytes, 'the download test must run first').toBeDefined();
    const [peftDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-peft').click()]);
    const peft = unzipSync(new Uint8Array(readFileSync(await peftDownload.path())));
    expect(Object.keys(peft).sort()).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    const moontune = readAdapterFile(new Uint8Array(adapterBytes!));
    const config = JSON.parse(new TextDecoder().decode(peft[PEFT_CONFIG_FILE]));
    expect(config).toMatchObject({ peft_type: 'LORA', r: moontune.config.rank, lora_alpha: moontune.config.alpha });
    // Read back through moontune's PEFT reader: the same layers and the same values as the moontune file.
    const readBack = readPeftAdapter({ config: peft[PEFT_CONFIG_FILE], weights: peft[PEFT_WEIGHTS_FILE] });
    expect([...readBack.adapters.keys()].sort()).toEqual([...moontune.adapters.keys()].sort());
    for (const [layer, tensors] of moontune.adapters) {
      expect(Array.from(readBack.adapters.get(layer)!.a)).toEqual(Array.from(tensors.a));
      expect(Array.from(readBack.adapters.get(layer)!.b)).toEqual(Array.from(tensors.b));
    }

    const [datasetDownload] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-dataset').click()]);
    const files = unzipSync(new Uint8Array(readFileSync(await datasetDownload.path())));
    const lines = (split: string) => new TextDecoder().decode(files[`${split}.jsonl`]).trim().split('\n').map((line) => JSON.parse(line));
    // The demo dataset: 1000 / 100 / 100 images, each line's image in the zip.
    expect([lines('train').length, lines('val').length, lines('test').length]).toEqual([1000, 100, 100]);
    for (const line of lines('test')) expect(files[line.image], line.image).toBeDefined();
    expect(pageErrors).toEqual([]);
  });

  test('after another reload the finished run is loaded back and downloads the same adapter', async () => {
    expect(adapterBytes, 'the download test must run first').toBeDefined();
    await page.reload();
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('resume-offer').waitFor({ timeout: 30_000 });
    expect(await numberOf(page, 'resume-offer-step')).toBe(TRAIN_IMAGES);
    expect(await page.getByTestId('download-adapter').isDisabled()).toBe(true); // not on the model yet
    await page.getByTestId('resume-button').click();
    await page.waitForSelector('[data-testid=training][data-state=finished] >> nth=0', { timeout: 60_000 });
    await page.waitForFunction(() => !(document.querySelector('[data-testid=download-adapter]') as HTMLButtonElement | null)?.disabled, null, { timeout: 60_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-adapter').click()]);
    // The same weights, restored from the checkpoint: the file is identical byte for byte.
    expect(readFileSync(await download.path()).equals(adapterBytes!)).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  test('the trained model downloads as the base file with the adapter merged in: same names, shapes and dtypes, adapted weights changed', async () => {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByTestId('download-trained-model').click()]);
    expect(download.suggestedFilename()).toMatch(/^moontune-trained-.*\.safetensors$/);
    const trained = new SafetensorsFile(new Uint8Array(readFileSync(await download.path())));
    const base = new SafetensorsFile(new Uint8Array(readFileSync(`${DEMO_MODEL_DIR}/model.safetensors`)));
    expect(trained.header.tensors.map(({ name, shape, dtype }) => ({ name, shape, dtype }))).toEqual(base.header.tensors.map(({ name, shape, dtype }) => ({ name, shape, dtype })));
    const changed = base.header.tensors.filter(({ name }) => trained.float32(name).some((value, index) => value !== base.float32(name)[index])).map(({ name }) => name);
    // LoRA on the default targets: only those weights of the text blocks moved.
    expect(changed.length).toBeGreaterThan(0);
    for (const name of changed) expect(name).toMatch(/^model\.text\.blocks\.\d+\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.weight$/);
    expect(pageErrors).toEqual([]);
  });

  test('every run is kept: a second run beside the first, the two compared, one deleted, the rest still there after a reload', async () => {
    const runs = page.getByTestId('runs');
    const rows = runs.getByTestId('run-row');
    await rows.first().waitFor({ timeout: 30_000 });
    expect(await rows.count()).toBe(1);
    // The loaded run measured after its training: the row says what the measurement said.
    await page.getByTestId('evaluate-after-limit').fill('2');
    await page.getByTestId('evaluate-after-button').click();
    await page.getByTestId('evaluation-after').waitFor({ timeout: 120_000 });
    const afterMatches = await page.getByTestId('evaluation-after').getByTestId('exact-matches').textContent();
    await page.waitForFunction((matches) => document.querySelector('[data-testid=run-row] [data-testid=run-after]')?.textContent?.includes(`(${matches}/2)`), afterMatches, { timeout: 30_000 });
    // Its "before" is the measurement made before it started, in the first visit.
    expect(await rows.first().getByTestId('run-before').textContent()).toMatch(/^\d+\.\d% \(\d+\/2\)$/);
    const firstRunId = await rows.first().getAttribute('data-run-id');

    // A second run with other settings: the first stays.
    await page.getByTestId('setting-lr').fill('0.002');
    await page.getByTestId('setting-train-limit').fill('2');
    await page.getByTestId('train-button').click();
    await page.waitForSelector('[data-testid=training][data-state=finished]', { timeout: STEP_TIMEOUT_MS });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 2, null, { timeout: 30_000 });
    expect(await rows.nth(1).getAttribute('data-run-id')).toBe(firstRunId); // newest first
    expect(await rows.first().getByTestId('run-settings').textContent()).toMatch(/LR 2e-3 · batch 1 × 1 · 1 epoch · 2 images/);
    await page.waitForFunction(() => document.querySelector('[data-testid=run-row] [data-testid=run-steps]')?.textContent === '2 of 2', null, { timeout: 30_000 });
    expect(await rows.nth(1).getByTestId('run-steps').textContent()).toBe(`${TRAIN_IMAGES} of ${TRAIN_IMAGES}`);
    expect(await rows.nth(1).getByTestId('run-after').textContent()).toContain(`(${afterMatches}/2)`);
    expect(await runs.getByTestId('storage-use').textContent()).toMatch(/Stored runs keep [\d.]+ kB of checkpoints\. This page uses .* of the .* the browser allows/);

    // Side by side: two loss curves on one chart, the settings in columns.
    await rows.nth(0).getByTestId('run-compare-toggle').check();
    await rows.nth(1).getByTestId('run-compare-toggle').check();
    const compare = page.getByTestId('run-compare');
    await compare.waitFor();
    expect(await compare.getByTestId('loss-line').count()).toBe(2);
    const value = async (label: string) => compare.locator(`[data-label="${label}"] td`).allTextContents();
    expect(await value('learning rate')).toEqual(['2e-3', expect.not.stringMatching(/^2e-3$/)]);
    expect(await value('steps')).toEqual(['2 of 2', `${TRAIN_IMAGES} of ${TRAIN_IMAGES}`]);
    expect((await value('exact match after'))[1]).toContain(`(${afterMatches}/2)`);
    mkdirSync('test-results', { recursive: true });
    await runs.screenshot({ path: 'test-results/runs.png' });

    // Deleting the older run, after a second click: the other run and the page's state stay.
    await rows.nth(1).getByTestId('run-delete').click();
    expect(await rows.count()).toBe(2);
    await rows.nth(1).getByTestId('run-delete-confirm').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 1, null, { timeout: 30_000 });
    expect(await page.getByTestId('run-compare').count()).toBe(0);
    expect(await page.getByTestId('training').getAttribute('data-state')).toBe('finished');

    // Still so after a reload: one run, the one offered to load back.
    await page.reload();
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('resume-offer').waitFor({ timeout: 30_000 });
    expect(await numberOf(page, 'resume-offer-step')).toBe(2);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=run-row]').length === 1, null, { timeout: 30_000 });
    expect(await rows.first().getAttribute('data-run-id')).not.toBe(firstRunId);
    // Deleting the run the page offers takes its curve and offer away.
    await rows.first().getByTestId('run-delete').click();
    await rows.first().getByTestId('run-delete-confirm').click();
    await runs.getByTestId('runs-empty').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('resume-offer').count()).toBe(0);
    expect(await page.getByTestId('loss-curve').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

describe('a worker that dies while training', () => {
  test('is reported, and the checkpoints it saved are offered after loading again', async () => {
    if (!existsSync(`${DEMO_MODEL_DIR}/model.safetensors`)) {
      throw new Error(`${DEMO_MODEL_DIR}/model.safetensors is missing: the build copies the demo model from public/demo-model/.`);
    }
    const { page } = await openPage(browser, served.url);
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('setting-epochs').fill('1');
    await page.getByTestId('setting-batch').fill('1');
    await page.getByTestId('setting-accumulation').fill('1');
    await page.getByTestId('setting-train-limit').fill(String(TRAIN_IMAGES));
    await page.getByTestId('train-button').click();
    // Step 2's progress comes after step 1's checkpoint is saved (the save ends step 1).
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]')?.textContent) >= 2, null, { timeout: STEP_TIMEOUT_MS });
    const [worker] = page.workers();
    await worker.evaluate(() => {
      setTimeout(() => {
        throw new Error('simulated crash');
      });
    });
    await waitForModel(page, 'failed');
    expect(await page.getByTestId('model-failure').textContent()).toMatch(/background worker stopped.*checkpoints are kept/);
    // The page saves a checkpoint every step, so at least step 1 survives the crash.
    await page.getByTestId('demo-button').click();
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('resume-offer').waitFor({ timeout: 30_000 });
    expect(await numberOf(page, 'resume-offer-step')).toBeGreaterThanOrEqual(1);
    expect(await page.getByTestId('resume-button').isEnabled()).toBe(true);
    await page.close();
  });
});

describe('a GPU device lost while training', () => {
  test('shows the loss and the training error, and a reload offers the saved checkpoint', async () => {
    if (!existsSync(`${DEMO_MODEL_DIR}/model.safetensors`)) {
      throw new Error(`${DEMO_MODEL_DIR}/model.safetensors is missing: the build copies the demo model from public/demo-model/.`);
    }
    const { page } = await openPage(browser, served.url);
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('setting-epochs').fill('1');
    await page.getByTestId('setting-batch').fill('1');
    await page.getByTestId('setting-accumulation').fill('1');
    await page.getByTestId('setting-train-limit').fill(String(TRAIN_IMAGES));
    await page.getByTestId('train-button').click();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=train-step]')?.textContent) >= 2, null, { timeout: STEP_TIMEOUT_MS });
    // Lose the device for real: the next command encoder the engine asks for destroys it.
    const [worker] = page.workers();
    await worker.evaluate(() => {
      const create = GPUDevice.prototype.createCommandEncoder;
      GPUDevice.prototype.createCommandEncoder = function (this: GPUDevice, ...args: Parameters<GPUDevice['createCommandEncoder']>) {
        this.destroy();
        return create.apply(this, args);
      };
    });
    await page.getByTestId('device-lost').waitFor({ timeout: STEP_TIMEOUT_MS });
    expect(await page.getByTestId('device-lost').textContent()).toMatch(/GPU device.*Reload the page/);
    await page.waitForSelector('[data-testid=training][data-state=failed]', { timeout: STEP_TIMEOUT_MS });
    expect(await page.getByTestId('training-failure').textContent()).toMatch(/checkpoint/);
    expect(await page.getByTestId('train-button').isDisabled()).toBe(true);
    await page.reload();
    await waitForDataset(page, DEMO_DATASET);
    await loadDemoModel(page);
    await page.getByTestId('resume-offer').waitFor({ timeout: 30_000 });
    expect(await numberOf(page, 'resume-offer-step')).toBeGreaterThanOrEqual(1);
    await page.close();
  });
});
