// Writes the shipped demo model, public/demo-model/ (`npx tsx scripts/make-demo-model.ts`):
// tokenizer.json with BPE merges learned from the demo dataset's questions and answers,
// config.json for a tiny Moondream, and model.safetensors with seeded random f32 weights.
// Deterministic: running it again must leave the committed files unchanged.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '../src/dataset/load.ts';
import { DEMO_INIT, demoConfig, demoTokenizerJson, demoVocabularySize, demoWeights, learnMerges } from '../src/model/demo-model.ts';
import { writeSafetensors } from '../src/model/safetensors-writer.ts';
import { Xoshiro128 } from '../src/train/random.ts';

const DEMO_MODEL_SEED = 20250621;
/** Upper bound on learned merges; the demo Q&A saturates well before it. */
const MAX_MERGES = 224;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const output = join(root, 'public', 'demo-model');
const zip = new Uint8Array(readFileSync(join(root, 'public', 'demo', 'coins.coco.zip')));
const dataset = await loadDataset({ kind: 'zip', name: 'coins.coco.zip', data: zip });
// The questions with the default noun and with "coin" (the noun the demo suggests), and every answer.
const coinDataset = await loadDataset({ kind: 'zip', name: 'coins.coco.zip', data: zip }, { question: { noun: 'coin' } });
const texts = [...dataset.images, ...coinDataset.images].flatMap((image) => [image.question, image.answer]);

const merges = learnMerges(texts, MAX_MERGES);
const config = demoConfig(demoVocabularySize(merges.length));
const random = Xoshiro128.fromSeed(DEMO_MODEL_SEED);
const weights = demoWeights(config, () => random.nextFloat());
const parameters = weights.reduce((sum, tensor) => sum + tensor.values.length, 0);

mkdirSync(output, { recursive: true });
const tokenizerText = JSON.stringify(demoTokenizerJson(merges), null, 1) + '\n';
const configText = JSON.stringify({ ...config, init: { seed: DEMO_MODEL_SEED, ...DEMO_INIT }, parameters }, null, 2) + '\n';
const safetensors = writeSafetensors(weights, { format: 'pt', description: 'moontune demo model: untrained random weights' });
writeFileSync(join(output, 'tokenizer.json'), tokenizerText);
writeFileSync(join(output, 'config.json'), configText);
writeFileSync(join(output, 'model.safetensors'), safetensors);
console.log(`wrote ${output}: ${merges.length} merges (vocabulary ${demoVocabularySize(merges.length)} of ${config.text.vocab_size}), ${parameters} parameters`);
console.log(`  model.safetensors ${safetensors.length} bytes, tokenizer.json ${tokenizerText.length} bytes, config.json ${configText.length} bytes`);
