// A dataset on disk as people assemble them: symbolic links to folders and files (a loop and a
// broken link among them), a json inside annotations/ given by its path.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDataset } from '../../../src/dataset/load.ts';
import { sourceFromPath } from '../../../src/dataset/node-source.ts';
import { cocoJson, solidPng } from '../../helpers/dataset-builders.ts';

const folders: string[] = [];
afterEach(() => folders.splice(0).forEach((folder) => rmSync(folder, { recursive: true, force: true })));

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'moontune-source-'));
  folders.push(folder);
  return folder;
}

describe('sourceFromPath', () => {
  it('follows symlinked folders and files; a loop is walked once, a broken link skipped', async () => {
    const root = tempFolder();
    const shared = join(root, 'shared-images');
    mkdirSync(shared);
    writeFileSync(join(shared, 'a.png'), solidPng(20, 16));
    writeFileSync(join(shared, 'b.png'), solidPng(20, 16));
    const dataset = join(root, 'dataset');
    mkdirSync(join(dataset, 'valid'), { recursive: true });
    symlinkSync(shared, join(dataset, 'train'), 'dir'); // train/ is a link to the shared images
    writeFileSync(join(root, 'labels.json'), JSON.stringify(cocoJson([{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png' }])));
    symlinkSync(join(root, 'labels.json'), join(shared, '_annotations.coco.json')); // a linked file
    symlinkSync(dataset, join(shared, 'loop'), 'dir'); // shared-images/loop → dataset/ → train → shared-images
    symlinkSync(join(root, 'gone.png'), join(shared, 'broken.png')); // dangling
    writeFileSync(join(dataset, 'valid', '_annotations.coco.json'), JSON.stringify(cocoJson([{ file: 'v.png' }])));
    writeFileSync(join(dataset, 'valid', 'v.png'), solidPng(20, 16));

    const source = await sourceFromPath(dataset);
    expect(source.kind === 'files' && source.files.map((file) => file.path)).toEqual([
      'train/_annotations.coco.json',
      'train/a.png',
      'train/b.png',
      'valid/_annotations.coco.json',
      'valid/v.png',
    ]);
    const loaded = await loadDataset(source);
    expect(loaded.issues).toEqual([]);
    expect(loaded.images.map((image) => image.path)).toEqual(['train/a.png', 'train/b.png', 'valid/v.png']);
  });

  it('a json inside annotations/ takes its images from the folder above (COCO 2017, CVAT)', async () => {
    const root = tempFolder();
    mkdirSync(join(root, 'annotations'));
    mkdirSync(join(root, 'val2017'));
    writeFileSync(join(root, 'annotations', 'instances_val2017.json'), JSON.stringify(cocoJson([{ file: '000000000139.jpg', boxes: [[1, 1, 1, 4, 4]] }])));
    writeFileSync(join(root, 'annotations', 'instances_train2017.json'), JSON.stringify(cocoJson([{ file: 'x.jpg' }])));
    writeFileSync(join(root, 'val2017', '000000000139.jpg'), solidPng(20, 16));

    const source = await sourceFromPath(join(root, 'annotations', 'instances_val2017.json'));
    expect(source.kind === 'files' && source.files.map((file) => file.path)).toEqual(['annotations/instances_val2017.json', 'val2017/000000000139.jpg']);
    const loaded = await loadDataset(source, { split: 'val' });
    expect(loaded.issues).toEqual([]);
    expect(loaded.images.map((image) => [image.split, image.path])).toEqual([['val', 'val2017/000000000139.jpg']]);
  });
});
