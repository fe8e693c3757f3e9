import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../../src/cli/infer-command.ts';
import { FIXTURE_DIR, fixturePath } from '../../helpers/fixture-files.ts';

// Bad input is refused before any GPU work: these run without WebGPU.
describe('npm run cli -- infer: argument errors', () => {
  afterEach(() => vi.restoreAllMocks());

  async function runCapturing(args: string[]): Promise<{ code: number; stderr: string[]; stdout: string[] }> {
    const stderr: string[] = [];
    const stdout: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void stderr.push(String(line)));
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void stdout.push(String(line)));
    const code = await run(args);
    return { code, stderr, stdout };
  }

  const good = ['--model', FIXTURE_DIR, '--image', fixturePath('image.png'), '--question', '40 41'];

  const cases: [string, string[], RegExp][] = [
    ['no arguments', [], /--model is required/],
    ['a missing --image', ['--model', FIXTURE_DIR, '--question', '1'], /--image is required/],
    ['a missing --question', ['--model', FIXTURE_DIR, '--image', fixturePath('image.png')], /--question is required/],
    ['an empty question', [...good.slice(0, 4), '--question', '  '], /--question is empty/],
    ['a model path that is not a folder', ['--model', '/nonexistent/model', ...good.slice(2)], /--model \/nonexistent\/model is not a folder/],
    ['a malformed hub location', ['--model', 'hub:not a repo', ...good.slice(2)], /is not a hub model/],
    ['a missing image', [...good.slice(0, 2), '--image', '/nonexistent.png', ...good.slice(4)], /--image \/nonexistent\.png does not exist/],
    ['an image that is not PNG/JPEG', [...good.slice(0, 2), '--image', fixturePath('config.json'), ...good.slice(4)], /not a PNG or JPEG image/],
    ['a fractional --max-tokens', [...good, '--max-tokens', '2.5'], /--max-tokens must be a whole number ≥ 1 \(got "2\.5"\)/],
    ['a negative --temperature', [...good, '--temperature', '-1'], /--temperature must be a number ≥ 0/],
    ['--top-p above 1', [...good, '--top-p', '1.5'], /--top-p must be a number in \(0, 1\]/],
    ['an unknown --precision', [...good, '--precision', 'int4'], /--precision must be auto, f16 or f32/],
    ['a flag without its value', [...good, '--max-tokens'], /--max-tokens needs a value/],
    ['an unknown --constrain', [...good, '--constrain', 'json'], /--constrain must be counts \(got "json"\)/],
    ['--constrain counts without --classes', [...good, '--constrain', 'counts'], /--constrain counts needs --classes/],
    ['an empty class name', [...good, '--constrain', 'counts', '--classes', 'dime,,penny'], /--classes has an empty class name/],
    ['--classes without --constrain', [...good, '--classes', 'dime'], /--classes is only used with --constrain counts/],
    ['an unknown flag', [...good, '--fast'], /unexpected argument --fast/],
  ];
  for (const [what, args, message] of cases) {
    it(`exits 2 with one line on ${what}`, async () => {
      const { code, stderr, stdout } = await runCapturing(args);
      expect(code).toBe(2);
      expect(stderr).toHaveLength(1);
      expect(stderr[0]).not.toContain('\n');
      expect(stderr[0]).toMatch(/^infer: /);
      expect(stderr[0]).toMatch(message);
      expect(stdout).toEqual([]);
    });
  }

  it('prints its usage with --help and exits 0', async () => {
    const { code, stdout } = await runCapturing(['--help']);
    expect(code).toBe(0);
    expect(stdout.join('\n')).toMatch(/--model <folder>[\s\S]*--max-tokens <n>[\s\S]*--temperature <t>/);
  });
});
