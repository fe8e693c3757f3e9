import { Engine } from '../../gpu/engine.ts';
import { acquireNodeDevice } from '../../gpu/node-device.ts';
import { loadMoondream } from '../moondream.ts';
import { memoryModelFiles } from '../model-source.ts';
import { rgbImage } from '../rgb-image.ts';
import { fixtureBytes, fixtureImage, goldenFile } from '../../../test/unit/model/fixture-files.ts';
const engine = new Engine(await acquireNodeDevice({ swiftShader: true }));
const g = goldenFile();
const { width, height, pixels } = fixtureImage();
const img = rgbImage(width, height, pixels);
for (const precision of ['f32', 'f16'] as const) {
  const files = memoryModelFiles('t', new Map([['config.json', fixtureBytes('config.json')], ['model.safetensors', fixtureBytes('model.bf16.safetensors')]]));
  const m = await loadMoondream(engine, files, { precision });
  const r = await m.query(img, '40 41 42 43', { temperature: 0, maxTokens: 12 });
  const ref = g.float32('bf16w.prefill_logits_last');
  let worst = 0; for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i] - r.firstLogits[i]));
  console.log(precision, r.tokens.join(','), 'max logit diff', worst);
  m.dispose();
}
console.log('golden', Array.from(g.int32('bf16w.greedy_tokens')).join(','));
process.exit(0);
