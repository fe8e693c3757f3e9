// Writes the embedded demo dataset, public/demo/coins.coco.zip (`npm run demo:dataset`).
// Deterministic: running it again must leave the committed zip unchanged.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDemoZip, DEMO_SEED, DEMO_SPLIT_SIZES } from '../src/dataset/demo-coins.ts';

const output = join(dirname(fileURLToPath(import.meta.url)), '..', 'public', 'demo', 'coins.coco.zip');
const zip = buildDemoZip(DEMO_SEED, DEMO_SPLIT_SIZES);
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, zip);
const { train, valid, test } = DEMO_SPLIT_SIZES;
console.log(`wrote ${output}: ${(zip.length / 1024).toFixed(0)} KiB, ${train}/${valid}/${test} train/valid/test images (seed ${DEMO_SEED})`);
