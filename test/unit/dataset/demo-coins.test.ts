import { describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import { buildDemoZip, COIN_CLASSES, createRandom, generateDemoFiles, MAX_COINS_PER_IMAGE } from '../../../src/dataset/demo-coins.ts';
import { decodeImage } from '../../../src/dataset/decode-image.ts';
import { loadDataset } from '../../../src/dataset/load.ts';
import { readFileSync } from 'node:fs';

const SMALL = { train: 12, valid: 4, test: 4 };

describe('demo coin dataset generator', () => {
  it('is deterministic: same seed, same bytes; another seed, other bytes', () => {
    const first = buildDemoZip(7, SMALL);
    expect(buildDemoZip(7, SMALL)).toEqual(first);
    expect(buildDemoZip(8, SMALL)).not.toEqual(first);
  });

  it('follows the mulberry32 definition', () => {
    // Reference: the first two outputs of mulberry32(0) (scaled by 2^32) from a separate Python
    // implementation written from the algorithm's definition, with explicit 32-bit masking.
    const random = createRandom(0);
    expect(Math.round(random() * 4294967296)).toBe(1144304738);
    expect(Math.round(random() * 4294967296)).toBe(1416247);
  });

  it('has the Roboflow layout, placeholder category, info and licenses', () => {
    const files = unzipSync(buildDemoZip(7, SMALL));
    const folders = new Set(Object.keys(files).map((path) => path.split('/')[0]));
    expect([...folders].sort()).toEqual(['README.dataset.txt', 'test', 'train', 'valid']);
    const coco = JSON.parse(new TextDecoder().decode(files['train/_annotations.coco.json']));
    expect(coco.categories[0]).toEqual({ id: 0, name: 'coins', supercategory: 'none' });
    expect(coco.categories.slice(1).map((category: { name: string }) => category.name)).toEqual(['penny', 'nickel', 'dime', 'quarter']);
    expect(coco.info).toBeTypeOf('object');
    expect(coco.licenses).toHaveLength(1);
  });

  it('annotations match the coins drawn: each box centre shows its class, nothing is drawn outside the boxes', () => {
    const files = generateDemoFiles(11, SMALL);
    let checkedImages = 0;
    for (const folder of ['train', 'valid', 'test']) {
      const coco = JSON.parse(new TextDecoder().decode(files[`${folder}/_annotations.coco.json`]));
      for (const entry of coco.images) {
        const image = decodeImage(files[`${folder}/${entry.file_name}`], entry.file_name);
        expect([image.width, image.height]).toEqual([entry.width, entry.height]);
        expect(image.width).toBeGreaterThanOrEqual(64);
        expect(image.width).toBeLessThanOrEqual(96);
        const boxes = coco.annotations.filter((annotation: { image_id: number }) => annotation.image_id === entry.id);
        expect(boxes.length).toBeLessThanOrEqual(MAX_COINS_PER_IMAGE);
        const pixel = (x: number, y: number) => [...image.rgb.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3)];
        // The corner pixel is background: coins keep a 1 px margin from the edge.
        const background = pixel(0, 0);
        for (const { bbox, category_id } of boxes) {
          const [x, y, width, height] = bbox;
          expect(width).toBe(height);
          expect(width / 2).toBe(COIN_CLASSES[category_id - 1].radius);
          // Centre pixel: the class's fill colour (coins overlap at most a sliver, never a centre).
          expect(pixel(Math.floor(x + width / 2), Math.floor(y + height / 2))).toEqual([...COIN_CLASSES[category_id - 1].fill]);
        }
        const strayPixels: string[] = [];
        for (let py = 0; py < image.height; py++) {
          for (let px = 0; px < image.width; px++) {
            const inAnyBox = boxes.some(({ bbox: [x, y, w, h] }: { bbox: number[] }) => px + 1 > x && px < x + w && py + 1 > y && py < y + h);
            if (!inAnyBox && pixel(px, py).join() !== background.join()) strayPixels.push(`(${px}, ${py})`);
          }
        }
        expect(strayPixels, `${entry.file_name}: drawn pixels outside every box`).toEqual([]);
        checkedImages++;
      }
    }
    expect(checkedImages).toBe(20);
  });

  it('loads through the real Roboflow path without any issue', async () => {
    const dataset = await loadDataset({ kind: 'zip', name: 'coins.coco.zip', data: buildDemoZip(7, SMALL) }, { imageCheck: 'decode' });
    expect(dataset.issues).toEqual([]);
    expect(dataset.classes.map((entry) => entry.name)).toEqual(['penny', 'nickel', 'dime', 'quarter']);
    expect([dataset.stats.train.images, dataset.stats.val.images, dataset.stats.test.images]).toEqual([12, 4, 4]);
  });

  it('the committed public/demo/coins.coco.zip is what the generator makes, 1000/100/100 images of 0–4 coins', async () => {
    const committed = new Uint8Array(readFileSync(new URL('../../../public/demo/coins.coco.zip', import.meta.url)));
    expect(committed.length).toBeLessThan(600 * 1024);
    expect(buildDemoZip()).toEqual(committed);
    const dataset = await loadDataset({ kind: 'zip', name: 'coins.coco.zip', data: committed });
    expect(dataset.issues).toEqual([]);
    expect([dataset.stats.train.images, dataset.stats.val.images, dataset.stats.test.images]).toEqual([1000, 100, 100]);
    for (const split of ['train', 'val', 'test'] as const) {
      expect(dataset.stats[split].imagesWithObjectCount).toHaveLength(MAX_COINS_PER_IMAGE + 1);
      expect(dataset.stats[split].objectsPerClass.every((count) => count > 0)).toBe(true);
    }
  }, 120_000);
});
