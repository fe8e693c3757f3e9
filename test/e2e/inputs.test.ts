// Inputs real users have, through the page's drop zone, file input and folder picker: the page
// shows the messages the CLI prints for the same files (both come from loadDataset, compared here
// with it run in Node on the same bytes or folder), at the drop zone, and a failed load keeps the
// dataset loaded before.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { loadDataset } from '../../src/dataset/load.ts';
import { sourceFromPath } from '../../src/dataset/node-source.ts';
import type { CountingDataset } from '../../src/dataset/types.ts';
import { cocoJson, concatBytes, gitLfsPointer, noisyPng, roboflowTree, solidPng, type FileTree } from '../helpers/dataset-builders.ts';
import { rawZip } from '../helpers/zip-builder.ts';
import { launchChromium, openPage, serveDist, type ServedPage } from './browser.ts';
import { shownRejection, shownTotals, waitForDataset, waitForRejection } from './page-report.ts';

const DEMO_NAME = 'coins.coco.zip';
/** Where the screenshots of the messages go (looked at by hand; not compared). */
const SCREENSHOTS = 'test-results/inputs';

let served: ServedPage;
let browser: Browser;
let page: Page;
let pageErrors: string[];
let folders: string[] = [];

beforeAll(async () => {
  served = await serveDist();
  browser = await launchChromium();
  ({ page, pageErrors } = await openPage(browser, served.url));
  await waitForDataset(page, DEMO_NAME);
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  folders.forEach((folder) => rmSync(folder, { recursive: true, force: true }));
  folders = [];
  await page?.close();
  await browser?.close();
  await served?.stop();
});

const errorsOf = (dataset: CountingDataset) => dataset.issues.filter((issue) => issue.severity === 'error').map((issue) => issue.message);
const warningsOf = (dataset: CountingDataset) => dataset.issues.filter((issue) => issue.severity === 'warning').map((issue) => issue.message);

function dropOnZone(name: string, bytes: Uint8Array): Promise<void> {
  return page.getByTestId('drop-zone').evaluate(
    (zone, [fileName, content]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(content as number[])], fileName as string));
      zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    },
    [name, Array.from(bytes)] as const,
  );
}

/** The tree written as a folder named `name` on disk (for the folder picker and sourceFromPath). */
function folderOf(name: string, tree: FileTree): string {
  const root = mkdtempSync(join(tmpdir(), 'moontune-inputs-'));
  folders.push(root);
  const folder = join(root, name);
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), typeof content === 'string' || content instanceof Uint8Array ? content : JSON.stringify(content));
  }
  return folder;
}

async function screenshotOfDropZone(name: string): Promise<void> {
  await page.getByTestId('drop-zone').screenshot({ path: `${SCREENSHOTS}/${name}.png` });
}

describe('failed loads: the CLI\'s message at the drop zone, the demo still loaded', () => {
  test('a bzip2 zip dropped on the drop zone', async () => {
    const tree = roboflowTree({ train: [{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }] });
    const zip = rawZip(Object.entries(tree).map(([name, data]) => ({ name, data: typeof data === 'object' && !(data instanceof Uint8Array) ? JSON.stringify(data) : data, method: 12 })));
    await dropOnZone('seven.zip', zip);
    await waitForRejection(page, 'seven.zip');
    const cli = await loadDataset({ kind: 'zip', name: 'seven.zip', data: zip });
    const shown = await shownRejection(page);
    expect(shown.errors).toEqual(errorsOf(cli));
    expect(shown.errors[0]).toMatch(/bzip2 \(method 12\).*Deflate/);
    expect(shown.kept).toBe(`${DEMO_NAME} is still loaded.`);
    expect(await page.getByTestId('dataset-name').textContent()).toBe(DEMO_NAME);
    expect(await page.getByTestId('report').count()).toBe(1);
    await screenshotOfDropZone('bzip2-zip');
  });

  test('a folder picked whose annotation file is a Git LFS pointer', async () => {
    const folder = folderOf('lfs-clone', { ...roboflowTree({ train: [{ file: 'a.png' }], valid: [{ file: 'b.png' }] }), 'train/_annotations.coco.json': gitLfsPointer(1_234_567) });
    await page.getByTestId('folder-input').setInputFiles(folder);
    await waitForRejection(page, 'lfs-clone');
    const cli = await loadDataset(await sourceFromPath(folder));
    expect((await shownRejection(page)).errors).toEqual(errorsOf(cli));
    expect(errorsOf(cli)).toEqual([`train/_annotations.coco.json: is a Git LFS pointer (${gitLfsPointer(1_234_567).length} bytes standing for a 1.2 MB file), not the annotation file; run \`git lfs pull\` in the clone it came from (or download the file itself) and try again.`]);
    expect(await page.getByTestId('dataset-name').textContent()).toBe(DEMO_NAME);
    await screenshotOfDropZone('lfs-pointer-folder');
  });

  test('a RAR archive chosen in the file input', async () => {
    const rar = concatBytes(Uint8Array.from([0x52, 0x61, 0x72, 0x21, 0x1a, 0x07, 0x01, 0x00]), new Uint8Array(200));
    await page.getByTestId('file-input').setInputFiles({ name: 'export.rar', mimeType: 'application/vnd.rar', buffer: Buffer.from(rar) });
    await waitForRejection(page, 'export.rar');
    const folder = folderOf('rar', { 'export.rar': rar });
    const cli = await loadDataset(await sourceFromPath(join(folder, 'export.rar')));
    expect((await shownRejection(page)).errors).toEqual(errorsOf(cli));
    expect(errorsOf(cli)[0]).toMatch(/^export\.rar: is a RAR archive, not a zip/);
    expect(await page.getByTestId('dataset-name').textContent()).toBe(DEMO_NAME);
  });
});

describe('loads with warnings: the same warnings as the CLI', () => {
  test('a folder with a corrupt image and Python NaN values replaces the demo; the image is left out', async () => {
    const json = JSON.stringify(cocoJson([{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png' }]), null, 1).replace('"area": 16', '"area": NaN');
    const corrupt = noisyPng(20, 16);
    corrupt.fill(0xff, 45, 70); // inside IDAT: header and end marker intact
    const folder = folderOf('phone-export', {
      'train/_annotations.coco.json': json,
      'train/a.png': solidPng(20, 16),
      'train/b.png': corrupt,
      ...roboflowTree({ valid: [{ file: 'v.png', boxes: [[2, 1, 1, 4, 4]] }] }),
    });
    await page.getByTestId('folder-input').setInputFiles(folder);
    await waitForDataset(page, 'phone-export');
    const cli = await loadDataset(await sourceFromPath(folder));
    const shown = await page.getByTestId('dataset-warnings').getByTestId('issue-message').allTextContents();
    expect(shown).toEqual(warningsOf(cli));
    expect(cli.issues.map((issue) => issue.code)).toEqual(['python-nan', 'undecodable-image']);
    expect(await shownTotals(page)).toEqual({ images: 2, objects: 2 });
    expect(await page.getByTestId('load-rejection').count()).toBe(0);
    await page.getByTestId('dataset-warnings').screenshot({ path: `${SCREENSHOTS}/warnings.png` });
    expect(pageErrors).toEqual([]);
  });
});
