import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/gpu/tensor.ts';
import { testEngine } from './gpu-context.ts';

// y[i] = a * x[i] + y[i], checked against the same arithmetic on the host (exact in f32 for
// these small integers and a power-of-two scale).
const SAXPY = /* wgsl */ `
struct Params { count: u32, a: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < params.count) { y[id.x] = params.a * x[id.x] + y[id.x]; }
}`;

describe('WebGPU in Node', () => {
  it('gets an adapter and runs a compute shader', async () => {
    const engine = await testEngine();
    expect(engine.device).toBeDefined();
    const count = 1000;
    const xs = Float32Array.from({ length: count }, (_, i) => i - 300);
    const ys = Float32Array.from({ length: count }, (_, i) => (i % 7) * 3);
    const x = engine.upload(xs, [count]);
    const y = engine.upload(ys, [count]);
    const params = new ArrayBuffer(8);
    new Uint32Array(params, 0, 1)[0] = count;
    new Float32Array(params, 4, 1)[0] = 0.5;
    engine.dispatch(engine.pipeline(SAXPY), [x, y], [Math.ceil(count / 64)], { params });
    const result = await engine.readFloat(y);
    for (let i = 0; i < count; i++) expect(result[i]).toBe(0.5 * xs[i] + ys[i]);
    x.dispose();
    y.dispose();
  });

  it('returns a scope\'s temporaries to the pool', async () => {
    const engine = await testEngine();
    const before = engine.poolStats();
    const kept = engine.scope(() => {
      engine.zeros([256]);
      engine.zeros([1000]);
      return engine.zeros([16]);
    });
    expect(kept).toBeInstanceOf(Tensor);
    expect(engine.poolStats().liveBuffers).toBe(before.liveBuffers + 1);
    kept.dispose();
    expect(engine.poolStats().liveBuffers).toBe(before.liveBuffers);
    // The same shapes again reuse the freed buffers.
    const created = engine.poolStats().created;
    engine.scope(() => {
      engine.zeros([256]);
      engine.zeros([1000]);
    });
    expect(engine.poolStats().created).toBe(created);
  });

  it('round-trips f16 and i32 tensors', async () => {
    const engine = await testEngine();
    const halves = engine.upload([1, -2.5, 0.333251953125, 65504], [4], 'f16');
    expect(Array.from(await engine.readFloat(halves))).toEqual([1, -2.5, 0.333251953125, 65504]);
    const ints = engine.upload([-7, 0, 123456789], [3], 'i32');
    expect(Array.from(await engine.read(ints))).toEqual([-7, 0, 123456789]);
    halves.dispose();
    ints.dispose();
  });
});
