// Node's message when Dawn finds no adapter: the browser's advice replaced by the way to the CPU.
import { describe, expect, it } from 'vitest';
import { WebGpuUnavailableError } from '../../../src/gpu/device.ts';
import { withCpuHint } from '../../../src/gpu/node-device.ts';

describe('withCpuHint', () => {
  it('tells a Node user without an adapter to set MOONTUNE_SWIFTSHADER=1, not to open chrome://gpu', () => {
    const hinted = withCpuHint(new WebGpuUnavailableError('No WebGPU adapter was found. The GPU may be blocklisted or disabled; check chrome://gpu.'));
    expect(hinted).toBeInstanceOf(WebGpuUnavailableError);
    expect((hinted as Error).message).toMatch(/MOONTUNE_SWIFTSHADER=1/);
    expect((hinted as Error).message).not.toMatch(/chrome:\/\/gpu/);
  });

  it('passes any other error through unchanged', () => {
    const other = new Error('device lost');
    expect(withCpuHint(other)).toBe(other);
  });
});
