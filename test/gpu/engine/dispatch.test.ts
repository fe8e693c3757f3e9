import { describe, expect, it } from 'vitest';
import { INDEX_WGSL, elementGrid, workgroupGrid } from '../../../src/gpu/dispatch.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

// A kernel that writes each invocation's flat index where that index points: after one dispatch
// over a grid folded past the per-dimension limit, out[i] = i for every i < count exactly when
// the grid covers the range and elementIndex() recovers the index.
const WRITE_INDEX_WGSL = /* wgsl */ `
struct Params { count: u32 }
${INDEX_WGSL}
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(workgroup_id) group: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) local: u32) {
  let i = elementIndex(group, groups, local);
  if (i < params.count) { out[i] = i; }
}
`;

describe('dispatch grids', () => {
  it('folds a range past the per-dimension limit into 2-D and covers it exactly once', async () => {
    const engine = await testEngine();
    const limit = engine.device.limits.maxComputeWorkgroupsPerDimension;
    const [x, y] = workgroupGrid(engine, 2 * limit + 3);
    expect(x).toBeLessThanOrEqual(limit);
    expect(y).toBe(3);
    expect(x * y).toBeGreaterThanOrEqual(2 * limit + 3);
    expect(workgroupGrid(engine, 0)).toEqual([1, 1]);
    expect(elementGrid(engine, 1000, 256)).toEqual([4, 1]);
  });

  it('recovers every flat index in WGSL from a folded grid', async () => {
    const engine = await testEngine();
    const limit = engine.device.limits.maxComputeWorkgroupsPerDimension;
    // Workgroups of 4 invocations, just past the limit: the grid has two rows, the last partial.
    const count = (limit + 10) * 4 - 3;
    const out = engine.zeros([count], 'u32');
    const grid = elementGrid(engine, count, 4);
    expect(grid[1]).toBe(2);
    engine.dispatch(engine.pipeline(WRITE_INDEX_WGSL, 'main', { WORKGROUP_SIZE: 4 }), [out], grid, { params: new Uint32Array([count, 0, 0, 0]) });
    const values = await engine.read(out);
    let wrong = -1;
    for (let i = 0; i < count; i++) {
      if (values[i] !== i) {
        wrong = i;
        break;
      }
    }
    expect(wrong).toBe(-1);
    out.dispose();
  });
});
