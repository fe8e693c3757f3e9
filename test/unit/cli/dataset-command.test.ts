// The dataset CLI as a user runs it: a child process on the committed fixtures
// (test/fixtures/datasets/README.md says what they hold).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cocoJson, noisyPng, roboflowCategories, solidPng } from '../../helpers/dataset-builders.ts';
import { rawZip } from '../../helpers/zip-builder.ts';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixture = (name: string) => `test/fixtures/datasets/${name}`;

function cli(...args: string[]) {
  const result = spawnSync('npx', ['tsx', 'src/cli/main.ts', 'dataset', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const question = (noun: string) =>
  `How many of each type of the ${noun} (dime, penny, 2€) are there? Respond in JSON format with the ${noun} type as the key and a integer count as the value.`;

describe('npm run cli -- dataset', { timeout: 120_000 }, () => {
  it('--jsonl prints one {split, file, question, answer} object per image', () => {
    const { code, stdout, stderr } = cli(fixture('tiny-roboflow.zip'), '--jsonl');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { split: 'train', file: 'a.png', question: question('object'), answer: '{\n  "dime": 2,\n  "2\\u20ac": 1\n}' },
      { split: 'train', file: 'b.png', question: question('object'), answer: '{}' },
      { split: 'val', file: 'c.png', question: question('object'), answer: '{\n  "penny": 1\n}' },
      { split: 'test', file: 'd.png', question: question('object'), answer: '{\n  "2\\u20ac": 3\n}' },
    ]);
    // key order of each line as specified
    expect(lines[0].startsWith('{"split":"train","file":"a.png","question":')).toBe(true);
  });

  it('--split and --noun select a split and change the question', () => {
    const { code, stdout } = cli(fixture('tiny-roboflow.zip'), '--jsonl', '--split', 'valid', '--noun', 'currency');
    expect(code).toBe(0);
    expect(stdout.trimEnd().split('\n').map((line) => JSON.parse(line))).toEqual([
      { split: 'val', file: 'c.png', question: question('currency'), answer: '{\n  "penny": 1\n}' },
    ]);
  });

  it('prints a readable report without --jsonl', () => {
    const { code, stdout } = cli(fixture('tiny-roboflow.zip'));
    expect(code).toBe(0);
    expect(stdout).toContain('3 classes (dime, penny, 2€)');
    expect(stdout).toMatch(/train\s+2\s+3\s+1\.50/); // 2 images, 3 objects
    expect(stdout).toMatch(/2€\s+1\s+0\s+3/); // per-class histogram: train, val, test
    expect(stdout).toMatch(/\n\s+0\s+1\s+0\s+0\n/); // one train image with no objects
    expect(stdout).toContain('No problems found.');
  });

  it('exits 2 with a one-line error on a broken zip', () => {
    const { code, stdout, stderr } = cli(fixture('truncated.zip'), '--jsonl');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/truncated\.zip: not a readable zip archive/);
  });

  it('exits 2 with one line naming the method for a bzip2 zip (no stack trace)', () => {
    const folder = mkdtempSync(join(tmpdir(), 'moontune-dataset-'));
    try {
      const zip = rawZip([{ name: 'train/_annotations.coco.json', data: JSON.stringify(cocoJson([{ file: 'a.png' }])), method: 12 }, { name: 'train/a.png', data: solidPng(20, 16), method: 12 }]);
      writeFileSync(join(folder, 'seven.zip'), zip);
      const { code, stdout, stderr } = cli(join(folder, 'seven.zip'), '--jsonl');
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.trimEnd().split('\n')).toEqual([
        'dataset: seven.zip: 2 entries are compressed with bzip2 (method 12) (e.g. train/_annotations.coco.json), which moontune cannot decompress; zip the folder again with the standard Deflate method (Finder\'s Compress, Windows\' "Compressed (zipped) folder", `zip -r`, or 7-Zip with method Deflate).',
      ]);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('--split names the split of a lone json whose name tells none, and checks that split alone', () => {
    const folder = mkdtempSync(join(tmpdir(), 'moontune-dataset-'));
    try {
      writeFileSync(join(folder, 'labels.json'), JSON.stringify(cocoJson([{ file: 'a.png', boxes: [[2, 1, 1, 4, 4]] }])));
      writeFileSync(join(folder, 'a.png'), solidPng(20, 16));
      const { code, stdout, stderr } = cli(join(folder, 'labels.json'), '--jsonl', '--split', 'test');
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ split: 'test', file: 'a.png', answer: '{\n  "dog": 1\n}' });
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('exits 2 with a one-line error on a path that does not exist', () => {
    const { code, stderr } = cli('no/such/dataset.zip');
    expect(code).toBe(2);
    expect(stderr.trimEnd().split('\n')).toEqual(['dataset: no/such/dataset.zip: no such file or folder; give a Roboflow COCO zip, its unzipped folder, or a COCO .json.']);
  });

  it('exits 2 on an unknown option', () => {
    const { code, stderr } = cli(fixture('tiny-roboflow.zip'), '--splitt', 'test');
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown option --splitt/);
  });

  it('decodes every image by default: corrupt pixel data is a warning naming the file; --headers-only does not see it', () => {
    const folder = mkdtempSync(join(tmpdir(), 'moontune-dataset-'));
    try {
      mkdirSync(join(folder, 'train'));
      writeFileSync(join(folder, 'train', '_annotations.coco.json'), JSON.stringify(cocoJson([{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }, { file: 'b.png' }])));
      writeFileSync(join(folder, 'train', 'a.png'), solidPng(20, 16));
      const corrupt = noisyPng(20, 16);
      corrupt.fill(0xff, 45, 70); // inside IDAT: the deflate stream breaks, IHDR and IEND stay
      writeFileSync(join(folder, 'train', 'b.png'), corrupt);

      const checked = cli(folder);
      expect(checked.code).toBe(0);
      expect(checked.stdout).not.toContain('No problems found.');
      expect(checked.stdout).toMatch(/warning undecodable-image \(1\)\n\s+train\/_annotations\.coco\.json: image "b\.png" has corrupt PNG data/);
      expect(checked.stdout).toMatch(/train\s+1\s+1/); // b.png left out

      const quick = cli(folder, '--headers-only');
      expect(quick.stdout).not.toContain('undecodable-image');
      expect(quick.stdout).toMatch(/train\s+2\s+1/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('reads an unzipped folder and exits 2 with one line when the dataset has errors', () => {
    const folder = mkdtempSync(join(tmpdir(), 'moontune-dataset-'));
    try {
      mkdirSync(join(folder, 'train'));
      mkdirSync(join(folder, 'valid'));
      writeFileSync(join(folder, 'train', '_annotations.coco.json'), JSON.stringify(cocoJson([{ file: 'a.png', boxes: [[1, 1, 1, 4, 4]] }])));
      writeFileSync(join(folder, 'train', 'a.png'), solidPng(20, 16));
      // valid names other classes than train: unusable
      writeFileSync(join(folder, 'valid', '_annotations.coco.json'), JSON.stringify(cocoJson([{ file: 'b.png' }], roboflowCategories(['cat', 'cow']))));
      writeFileSync(join(folder, 'valid', 'b.png'), solidPng(20, 16));

      const broken = cli(folder, '--jsonl');
      expect(broken.code).toBe(2);
      expect(broken.stdout).toBe('');
      expect(broken.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(broken.stderr).toContain('valid/_annotations.coco.json: its classes differ from those of train/_annotations.coco.json');

      // The train json alone is a usable dataset (images beside it), with a warning about evaluation.
      const single = cli(join(folder, 'train', '_annotations.coco.json'), '--jsonl');
      expect(single.code).toBe(0);
      expect(JSON.parse(single.stdout)).toMatchObject({ split: 'train', file: 'a.png', answer: '{\n  "cat": 1\n}' });
      expect(single.stderr).toMatch(/1 warning/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
