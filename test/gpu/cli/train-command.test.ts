// `npm run cli -- train` on the shipped demo model and demo dataset with tiny limits (2 train
// images, one step each, 1 test image, 2 answer tokens) on the test engine's device: the first
// invocation pauses after one step (--stop-after 1), the second continues from the checkpoint
// (--resume) and finishes; both print before/after tables and write the checkpoint, the adapter
// and the report; a third without --resume is refused (the paused run would be replaced). Bad
// input is test/unit/cli/train-command.test.ts. Slow on SwiftShader (a step ≈ 10 s).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ADAPTER_FILE, CHECKPOINT_JSON, CHECKPOINT_TENSORS, REPORT_FILE, run, SETTINGS_FILE } from '../../../src/cli/train-command.ts';
import { readAdapterFile } from '../../../src/train/adapter-export.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const out = mkdtempSync(join(tmpdir(), 'moontune-train-cli-'));
const baseArgs = [
  '--model', join(root, 'public', 'demo-model'),
  '--dataset', join(root, 'public', 'demo', 'coins.coco.zip'),
  '--out', out,
];

/** Runs the command, returning its exit code and what it printed (stdout and stderr lines). */
async function runCli(args: string[]): Promise<{ code: number; log: string[]; errors: string[] }> {
  const log: string[] = [];
  const errors: string[] = [];
  const logSpy = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void log.push(...parts.join(' ').split('\n')));
  const errorSpy = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void errors.push(parts.join(' ')));
  try {
    return { code: await run(args), log, errors };
  } finally {
    logSpy.mockRestore();
    errorSpy.mockRestore();
  }
}

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('train command', () => {
  it('trains, pauses after a step, and resumes from the checkpoint to the end', async () => {
    const tiny = ['--limit-train', '2', '--limit-test', '1', '--batch', '1', '--epochs', '1', '--max-tokens', '2', '--constrain', 'counts', '--lr', '1e-2', '--lora-rank', '2'];
    const first = await runCli([...baseArgs, ...tiny, '--stop-after', '1']);
    expect(first.errors.filter((line) => !/XDG_RUNTIME_DIR/.test(line))).toEqual([]);
    expect(first.code).toBe(0);
    expect(first.log.some((line) => /^step 1\/2 .*loss \d+\.\d+ .*lr \d\.\d+e-2 .*tokens\/s .*ETA/.test(line))).toBe(true);
    expect(first.log.some((line) => line.startsWith('step 2/2'))).toBe(false);
    expect(first.log.some((line) => /^paused at step 1\/2/.test(line))).toBe(true);
    expect(first.log.some((line) => /^exact match\s+\S+% \(\d\/1\)\s+\S+% \(\d\/1\)$/.test(line))).toBe(true);
    for (const file of [CHECKPOINT_JSON, CHECKPOINT_TENSORS, ADAPTER_FILE, REPORT_FILE, SETTINGS_FILE]) expect(existsSync(join(out, file)), file).toBe(true);
    const paused = JSON.parse(readFileSync(join(out, CHECKPOINT_JSON), 'utf8'));
    expect(paused.step).toBe(1);
    expect(paused.metricHistory).toHaveLength(1);
    const firstLoss: number = paused.metricHistory[0].loss;

    // Without --resume the paused run is not replaced: exit 2, before the model loads.
    const again = await runCli([...baseArgs, ...tiny]);
    expect(again.code).toBe(2);
    expect(again.errors).toEqual([expect.stringMatching(/^train: --out .* holds a run paused at step 1\/2: add --resume to continue it, or give another --out/)]);
    expect(JSON.parse(readFileSync(join(out, CHECKPOINT_JSON), 'utf8')).step).toBe(1);

    // The data flags (limits, answer tokens) come back from the run's settings file.
    const second = await runCli([...baseArgs, '--resume']);
    expect(second.errors.filter((line) => !/XDG_RUNTIME_DIR/.test(line))).toEqual([]);
    expect(second.code).toBe(0);
    expect(second.log.some((line) => /^resuming .* at step 1\/2$/.test(line))).toBe(true);
    expect(second.log.some((line) => line.startsWith('step 1/2'))).toBe(false);
    expect(second.log.some((line) => line.startsWith('step 2/2'))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, REPORT_FILE), 'utf8'));
    expect(report.steps).toBe(2);
    // The resumed run keeps the first invocation's history and settings.
    expect(report.history.map((point: { step: number }) => point.step)).toEqual([1, 2]);
    expect(report.history[0].loss).toBe(firstLoss);
    expect(report.config.loraRank).toBe(2);
    expect(report.skippedImages).toEqual([]);
    for (const side of ['before', 'after']) {
      expect(report[side].samples).toBe(1);
      expect(report[side].exactMatchAccuracy).toBeGreaterThanOrEqual(0);
    }
    // --constrain counts came back from the settings too: every measured answer is a counting-format prefix.
    for (const { answer } of report.answers) expect(answer).toMatch(/^\{/);
    const adapter = readAdapterFile(new Uint8Array(readFileSync(join(out, ADAPTER_FILE))));
    expect(adapter.config.rank).toBe(2);
    // Two text layers × four targets, and B moved away from its zero start.
    expect(adapter.adapters.size).toBe(8);
    expect([...adapter.adapters.values()].some(({ b }) => b.some((value) => value !== 0))).toBe(true);
  }, 600_000);
});
