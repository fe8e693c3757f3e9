// `npm run cli -- train` on input it must refuse: each case exits 2 with one line before the
// model's weights load (the GPU is never asked for: acquiring a device throws here). The run
// itself is test/gpu/cli/train-command.test.ts.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CHECKPOINT_JSON, CHECKPOINT_TENSORS, run, SETTINGS_FILE } from '../../../src/cli/train-command.ts';
import { FolderCheckpointStore } from '../../../src/train/checkpoint-folder.ts';
import { trainingConfig } from '../../../src/train/config.ts';

vi.mock('../../../src/gpu/node-device.ts', () => ({
  acquireNodeDevice: () => Promise.reject(new Error('the GPU must not be asked for before the input is checked')),
}));

const root = join(import.meta.dirname, '..', '..', '..');
const model = join(root, 'public', 'demo-model');
const dataset = join(root, 'public', 'demo', 'coins.coco.zip');
const scratch = mkdtempSync(join(tmpdir(), 'moontune-train-input-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let folders = 0;
/** A fresh --out folder holding a run paused at `step` of 2 (or finished at 2), on other data unless told. */
async function outWithRun(step: number, fingerprint = 'another dataset'): Promise<string> {
  const out = join(scratch, `out-${folders++}`);
  const config = trainingConfig({ epochs: 1, gradientAccumulation: 1 });
  const values = Float32Array.of(1, 2);
  await new FolderCheckpointStore(out).save({
    runId: 'run', step, savedAt: 0, config, datasetFingerprint: fingerprint, randomState: [1, 2, 3, 4],
    dataOrder: { seed: config.seed, sampleCount: 2, epochs: 1, epoch: step === 2 ? 1 : 0, index: step === 2 ? 0 : 1 }, metricHistory: [{ step, loss: 1, learningRate: 1e-4 }],
    parameters: [{ name: 'a', shape: [2], values }], firstMoments: [{ name: 'a', shape: [2], values }], secondMoments: [{ name: 'a', shape: [2], values }],
  });
  writeFileSync(join(out, SETTINGS_FILE), JSON.stringify({ limitTrain: 2 }));
  return out;
}

/** Runs the command, returning its exit code and its error lines. */
async function runCli(args: string[]): Promise<{ code: number; errors: string[] }> {
  const errors: string[] = [];
  const logSpy = vi.spyOn(console, 'log').mockImplementation(() => {});
  const errorSpy = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void errors.push(parts.join(' ')));
  try {
    return { code: await run(args), errors };
  } finally {
    logSpy.mockRestore();
    errorSpy.mockRestore();
  }
}

async function expectRefusal(args: string[], message: RegExp): Promise<void> {
  const { code, errors } = await runCli(args);
  expect(errors, args.join(' ')).toHaveLength(1);
  expect(errors[0]).toMatch(/^train: /);
  expect(errors[0]).toMatch(message);
  expect(code, errors[0]).toBe(2);
}

describe('train command input', () => {
  it('refuses bad flags, folders and files', async () => {
    const base = ['--model', model, '--dataset', dataset, '--out', join(scratch, 'unused')];
    await expectRefusal([], /--model is required; see --help\.$/);
    await expectRefusal(['--model', model], /--dataset is required/);
    await expectRefusal([...base, '--lr', 'fast'], /--lr must be a number in \(0, 1\) \(got "fast"\)/);
    await expectRefusal([...base, '--epochs', '0'], /--epochs must be a whole number ≥ 1/);
    await expectRefusal([...base, '--full', '--lora-rank', '4'], /--full trains every text weight; leave out --lora-rank/);
    await expectRefusal([...base, '--constrain', 'json'], /--constrain must be counts \(got "json"\)/);
    await expectRefusal(['--model', join(root, 'no-such-folder'), '--dataset', dataset], /--model .*no-such-folder is not a folder/);
    await expectRefusal(['--model', model, '--dataset', join(root, 'no-such.zip')], /--dataset .*no-such\.zip does not exist/);
    await expectRefusal([...base, '--resume'], /--resume: .*checkpoint\.json does not exist; run without --resume first/);
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder');
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', file], /--out .*a-file is a file; give a folder/);
  });

  it('never replaces a run in --out: a paused one needs --resume, a finished one another --out', async () => {
    const paused = await outWithRun(1);
    const before = readFileSync(join(paused, CHECKPOINT_JSON));
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', paused], /holds a run paused at step 1\/2: add --resume to continue it, or give another --out/);
    expect(readFileSync(join(paused, CHECKPOINT_JSON)).equals(before)).toBe(true);
    const finished = await outWithRun(2);
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', finished], /holds a finished run \(2 steps\): give another --out/);
  });

  it('names a damaged settings or checkpoint file, and says a cut tensor file is truncated', async () => {
    const settings = await outWithRun(1);
    writeFileSync(join(settings, SETTINGS_FILE), '{"limitTrain": ');
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', settings, '--resume'], /train-settings\.json is not valid JSON .*fix it, or start a new run in another --out/);
    const json = await outWithRun(1);
    writeFileSync(join(json, CHECKPOINT_JSON), '{"step": 1,');
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', json, '--resume'], /checkpoint\.json is not valid JSON/);
    const cut = await outWithRun(1);
    const whole = readFileSync(join(cut, CHECKPOINT_TENSORS)).length;
    truncateSync(join(cut, CHECKPOINT_TENSORS), whole - 4); // the last tensor loses a value
    const { errors } = await runCli(['--model', model, '--dataset', dataset, '--out', cut, '--resume']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`checkpoint\\.safetensors is truncated: ${whole - 4} of ${whole} bytes`));
    expect(errors[0]).not.toMatch(/another model/);
  });

  it('refuses to resume on another dataset, and a question longer than the context, once the dataset and the model are open', async () => {
    const other = await outWithRun(1, 'fingerprint of other data');
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', other, '--resume'], /was trained on another dataset .*Load the dataset the run started with/);
    const out = join(scratch, 'long-question');
    mkdirSync(out);
    await expectRefusal(['--model', model, '--dataset', dataset, '--out', out, '--noun', 'penny '.repeat(60).trim()], /take \d+ tokens after the image's 17, more than the model's context of 96 positions; shorten the question/);
  });
});
