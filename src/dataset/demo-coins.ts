// The embedded default dataset: synthetic coin counting in the exact layout of a Roboflow COCO
// export (train/ valid/ test/, each with PNG images and `_annotations.coco.json`, a class-group
// placeholder category, `info` and `licenses`). Deterministic byte for byte from its seed, so the
// committed zip can be regenerated and checked.
//
// Kept within what a tiny model can learn: four classes told apart by colour and size, 0–4 flat
// coins per image on a plain background, coins may touch but barely overlap.

import { encode as encodePng } from 'fast-png';
import { zipSync, type Zippable } from 'fflate';

export interface CoinClass {
  name: string;
  /** Radius in pixels; the sizes keep the real coins' order (dime < penny < nickel < quarter). */
  radius: number;
  fill: readonly [number, number, number];
  rim: readonly [number, number, number];
}

export const COIN_CLASSES: readonly CoinClass[] = [
  { name: 'penny', radius: 7.5, fill: [196, 112, 58], rim: [130, 70, 34] },
  { name: 'nickel', radius: 9, fill: [142, 142, 136], rim: [92, 92, 88] },
  { name: 'dime', radius: 6, fill: [214, 216, 222], rim: [150, 152, 160] },
  { name: 'quarter', radius: 11, fill: [178, 182, 190], rim: [112, 116, 124] },
];

/** Plain dark backgrounds that every coin stands out against. */
export const BACKGROUNDS: readonly (readonly [number, number, number])[] = [
  [46, 86, 60], // green felt
  [36, 50, 82], // navy
  [64, 64, 72], // slate
];

export const RIM_WIDTH_PX = 1.5;
export const MAX_COINS_PER_IMAGE = 4;
export const IMAGE_SIZE_RANGE_PX = [64, 96] as const;
/** Two coins' centres stay at least this fraction of the sum of their radii apart (touching allowed). */
export const MIN_CENTRE_DISTANCE_FRACTION = 0.92;

export interface DemoSplitSizes {
  train: number;
  valid: number;
  test: number;
}

export const DEMO_SEED = 20240402;
export const DEMO_SPLIT_SIZES: DemoSplitSizes = { train: 1000, valid: 100, test: 100 };

/** mulberry32: a tiny, well-mixed 32-bit PRNG; its own so the output never depends on Math.random. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DrawnCoin {
  classIndex: number;
  centreX: number;
  centreY: number;
  radius: number;
}

export interface CoinImage {
  width: number;
  height: number;
  background: readonly [number, number, number];
  coins: DrawnCoin[];
  /** RGB8, row-major. */
  rgb: Uint8Array;
}

const randomInt = (random: () => number, low: number, high: number) => low + Math.floor(random() * (high - low + 1));

/** Lays out and draws one image. */
export function generateCoinImage(random: () => number): CoinImage {
  const [minSize, maxSize] = IMAGE_SIZE_RANGE_PX;
  const width = randomInt(random, minSize, maxSize);
  const height = randomInt(random, minSize, maxSize);
  const background = BACKGROUNDS[randomInt(random, 0, BACKGROUNDS.length - 1)];
  const count = randomInt(random, 0, MAX_COINS_PER_IMAGE);
  const coins: DrawnCoin[] = [];
  while (coins.length < count) {
    const classIndex = randomInt(random, 0, COIN_CLASSES.length - 1);
    const radius = COIN_CLASSES[classIndex].radius;
    // Whole coin inside the image, on a quarter-pixel grid so boxes are exact in the json.
    const centreX = radius + 1 + Math.floor(random() * (width - 2 * radius - 2) * 4) / 4;
    const centreY = radius + 1 + Math.floor(random() * (height - 2 * radius - 2) * 4) / 4;
    const clear = coins.every(
      (other) => Math.hypot(other.centreX - centreX, other.centreY - centreY) >= MIN_CENTRE_DISTANCE_FRACTION * (other.radius + radius),
    );
    // Four coins of at most 11 px always fit in 64×64, so rejection ends quickly.
    if (clear) coins.push({ classIndex, centreX, centreY, radius });
  }
  return { width, height, background, coins, rgb: drawCoins(width, height, background, coins) };
}

/** Flat discs with a darker rim; the outer edge anti-aliased in thirds to keep the palette small. */
function drawCoins(width: number, height: number, background: readonly number[], coins: DrawnCoin[]): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  const samples = 4; // 4×4 supersampling of the disc edge
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let colour = [...background];
      for (const coin of coins) {
        // Every sub-sample of a pixel lies within 0.71 px of its centre: skip coins farther away.
        const distance = Math.hypot(x + 0.5 - coin.centreX, y + 0.5 - coin.centreY);
        if (distance > coin.radius + 1) continue;
        let inside = 0;
        for (let sy = 0; sy < samples; sy++) {
          for (let sx = 0; sx < samples; sx++) {
            const px = x + (sx + 0.5) / samples - coin.centreX;
            const py = y + (sy + 0.5) / samples - coin.centreY;
            if (px * px + py * py <= coin.radius * coin.radius) inside++;
          }
        }
        if (inside === 0) continue;
        const coverage = Math.round((inside / (samples * samples)) * 3) / 3;
        const { fill, rim } = COIN_CLASSES[coin.classIndex];
        const coinColour = distance > coin.radius - RIM_WIDTH_PX ? rim : fill;
        colour = colour.map((value, channel) => Math.round(value + (coinColour[channel] - value) * coverage));
      }
      rgb.set(colour, (y * width + x) * 3);
    }
  }
  return rgb;
}

/** An indexed PNG: a few colours per image, so the demo zip stays a few hundred KB. */
export function encodeIndexedPng(image: { width: number; height: number; rgb: Uint8Array }): Uint8Array {
  const palette: [number, number, number][] = [];
  const indexOf = new Map<number, number>();
  const indices = new Uint8Array(image.width * image.height);
  for (let pixel = 0; pixel < indices.length; pixel++) {
    const [r, g, b] = image.rgb.subarray(pixel * 3, pixel * 3 + 3);
    const key = (r << 16) | (g << 8) | b;
    let index = indexOf.get(key);
    if (index === undefined) {
      index = palette.length;
      if (index > 255) throw new Error('demo image has more than 256 colours');
      palette.push([r, g, b]);
      indexOf.set(key, index);
    }
    indices[pixel] = index;
  }
  return encodePng({ width: image.width, height: image.height, data: indices, channels: 1, depth: 8, palette }, { zlib: { level: 9 } });
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');
const hex8 = (random: () => number) => Math.floor(random() * 0x100000000).toString(16).padStart(8, '0');

/** Fixed export date: the output must not depend on when it was generated. */
const EXPORT_DATE = '2026-01-01T00:00:00+00:00';

/** The files of one split folder: its images and `_annotations.coco.json`. */
function generateSplit(folder: string, size: number, random: () => number, files: Record<string, Uint8Array>, firstNumber: number): void {
  const images: object[] = [];
  const annotations: object[] = [];
  for (let id = 0; id < size; id++) {
    const image = generateCoinImage(random);
    // Roboflow names exported files `<original>_<ext>.rf.<hash>.<ext>`.
    const fileName = `coins-${pad(firstNumber + id, 4)}_png.rf.${hex8(random)}.png`;
    files[`${folder}/${fileName}`] = encodeIndexedPng(image);
    images.push({ id, license: 1, file_name: fileName, height: image.height, width: image.width, date_captured: EXPORT_DATE });
    for (const coin of image.coins) {
      const side = 2 * coin.radius;
      annotations.push({
        id: annotations.length, // ids restart in every split, as in Roboflow exports
        image_id: id,
        category_id: coin.classIndex + 1,
        bbox: [coin.centreX - coin.radius, coin.centreY - coin.radius, side, side],
        area: side * side,
        segmentation: [],
        iscrowd: 0,
      });
    }
  }
  const coco = {
    info: {
      year: '2026',
      version: '1',
      description: 'Synthetic coin counting (moontune demo dataset, scripts/make-demo-dataset.ts)',
      contributor: 'moontune',
      url: '',
      date_created: EXPORT_DATE,
    },
    licenses: [{ id: 1, url: 'https://creativecommons.org/publicdomain/zero/1.0/', name: 'Public Domain' }],
    // Roboflow's class-group placeholder (id 0, supercategory "none") precedes the real classes.
    categories: [
      { id: 0, name: 'coins', supercategory: 'none' },
      ...COIN_CLASSES.map((coin, index) => ({ id: index + 1, name: coin.name, supercategory: 'coins' })),
    ],
    images,
    annotations,
  };
  files[`${folder}/_annotations.coco.json`] = new TextEncoder().encode(JSON.stringify(coco));
}

const README = `Coins (moontune demo dataset)

Synthetic images of US coins (penny, nickel, dime, quarter) drawn as flat discs with a rim on a
plain background, 0-${MAX_COINS_PER_IMAGE} coins per image, ${IMAGE_SIZE_RANGE_PX[0]}-${IMAGE_SIZE_RANGE_PX[1]} px.
Classes differ by colour and size. Layout and annotations follow a Roboflow COCO export.
Generated by moontune's scripts/make-demo-dataset.ts; public domain.
`;

/** All files of the demo dataset, by path inside the zip. */
export function generateDemoFiles(seed: number = DEMO_SEED, sizes: DemoSplitSizes = DEMO_SPLIT_SIZES): Record<string, Uint8Array> {
  const random = createRandom(seed);
  const files: Record<string, Uint8Array> = { 'README.dataset.txt': new TextEncoder().encode(README) };
  generateSplit('train', sizes.train, random, files, 0);
  generateSplit('valid', sizes.valid, random, files, sizes.train);
  generateSplit('test', sizes.test, random, files, sizes.train + sizes.valid);
  return files;
}

/** The demo dataset as a zip, byte-for-byte the same for the same seed and sizes. */
export function buildDemoZip(seed: number = DEMO_SEED, sizes: DemoSplitSizes = DEMO_SPLIT_SIZES): Uint8Array {
  // A local-time Date built from fixed fields: the zip's DOS timestamps are local time, so this
  // keeps the bytes identical in every time zone.
  const mtime = new Date(2026, 0, 1, 0, 0, 0);
  const zippable: Zippable = {};
  for (const [path, bytes] of Object.entries(generateDemoFiles(seed, sizes))) {
    // PNGs are already deflated: store them; compress the json and text.
    zippable[path] = [bytes, { level: path.endsWith('.png') ? 0 : 9, mtime }];
  }
  return zipSync(zippable);
}
