// The shipped demo model (public/demo-model/) loads through the real folder path (config.json with
// model sections → revisionFromConfig, its own tokenizer.json, f32 safetensors) and answers a
// counting question from the demo dataset. Its weights are random, so the answer is noise: the test
// checks that greedy decoding is deterministic across two independent loads and that the text is
// what the tokenizer makes of the generated ids.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../../src/dataset/decode-image.ts';
import { loadDataset, readImageBytes } from '../../../src/dataset/load.ts';
import { memoryModelFiles, resolveModelSource } from '../../../src/model/model-source.ts';
import { loadMoondream } from '../../../src/model/moondream.ts';
import { rgbImage } from '../../../src/model/rgb-image.ts';
import { HubTokenizer } from '../../../src/model/tokenizer.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const DEMO_FILES = ['config.json', 'tokenizer.json', 'model.safetensors'];

function demoModelFiles() {
  return memoryModelFiles('public/demo-model', new Map(DEMO_FILES.map((file) => [file, new Uint8Array(readFileSync(join(root, 'public', 'demo-model', file)))])));
}

describe('demo model', () => {
  it('resolves to a config-described revision with its own BPE tokenizer', async () => {
    const source = await resolveModelSource(demoModelFiles());
    expect(source.tokenizerFromFiles).toBe(true);
    expect(source.revision.prompt).toMatchObject({ kind: 'ids', queryPrefix: [1, 15, 2], querySuffix: [3] });
    expect(source.revision.eosId).toBe(0);
  });

  it('answers a demo counting question, the same greedy answer on two loads', async () => {
    const engine = await testEngine();
    const data = new Uint8Array(readFileSync(join(root, 'public', 'demo', 'coins.coco.zip')));
    const source = { kind: 'zip' as const, name: 'coins.coco.zip', data };
    const dataset = await loadDataset(source);
    const sample = dataset.images.find((image) => image.split === 'test')!;
    const decoded = decodeImage(await readImageBytes(source, sample), sample.path);
    const image = rgbImage(decoded.width, decoded.height, decoded.rgb);

    const answers = [];
    for (let load = 0; load < 2; load++) {
      const model = await loadMoondream(engine, demoModelFiles(), { precision: 'f32' });
      try {
        expect(model.tokenizer).toBeInstanceOf(HubTokenizer);
        const result = await model.query(image, sample.question, { temperature: 0, maxTokens: 6 });
        answers.push(result);
      } finally {
        model.dispose();
      }
    }
    expect(answers[0].tokens.length > 0 || answers[0].hitEos).toBe(true);
    expect(answers[0].tokens.length).toBeLessThanOrEqual(6);
    expect(answers[1].tokens).toEqual(answers[0].tokens);
    expect(answers[1].answer).toBe(answers[0].answer);
    const tokenizer = new HubTokenizer(JSON.parse(readFileSync(join(root, 'public', 'demo-model', 'tokenizer.json'), 'utf8')));
    expect(answers[0].answer).toBe(tokenizer.decode(answers[0].tokens));
  }, 300_000);
});
