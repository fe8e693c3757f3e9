import { describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/gpu/tensor.ts';
import { testEngine } from '../../helpers/gpu-context.ts';

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

  it('records the peak of live pool bytes, in size classes, until reset', async () => {
    const engine = await testEngine();
    engine.pool.resetPeak();
    const base = engine.poolStats().liveBytes;
    const a = engine.zeros([1000]); // 4000 bytes → a 4096-byte class
    const b = engine.zeros([5000]); // 20000 bytes → 20480 (3 significant bits)
    a.dispose();
    const c = engine.zeros([100]); // 400 → 512, less than what a held
    expect(engine.poolStats().peakLiveBytes).toBe(base + 4096 + 20480);
    b.dispose();
    c.dispose();
    engine.pool.resetPeak();
    expect(engine.poolStats().peakLiveBytes).toBe(base);
  });

  it('clear() zeroes a tensor, NaN and infinities included, between dispatches', async () => {
    const engine = await testEngine();
    const x = engine.upload(Float32Array.from({ length: 64 }, (_, i) => i), [64]);
    const y = engine.upload(Float32Array.from({ length: 64 }, (_, i) => [Number.NaN, Infinity, -Infinity, 5][i % 4]), [64]);
    const params = new ArrayBuffer(8);
    new Uint32Array(params, 0, 1)[0] = 64;
    new Float32Array(params, 4, 1)[0] = 0; // 0·x + y keeps y's NaN and infinities
    engine.dispatch(engine.pipeline(SAXPY), [x, y], [1], { params }); // opens a compute pass
    engine.clear(y);
    new Float32Array(params, 4, 1)[0] = 1;
    engine.dispatch(engine.pipeline(SAXPY), [x, y], [1], { params });
    // 1·x + 0 exactly: the clear ran after the first dispatch and before the second.
    expect(Array.from(await engine.readFloat(y))).toEqual(Array.from({ length: 64 }, (_, i) => i));
    for (const t of [x, y]) t.dispose();
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

describe('engine error reporting', () => {
  it('zeros() inside a run of dispatches gives zeros (no invalid command buffer)', async () => {
    const engine = await testEngine();
    const x = engine.upload(Float32Array.from({ length: 64 }, (_, i) => i), [64]);
    const y = engine.upload(new Float32Array(64).fill(1), [64]);
    const params = new ArrayBuffer(8);
    new Uint32Array(params, 0, 1)[0] = 64;
    new Float32Array(params, 4, 1)[0] = 2;
    engine.dispatch(engine.pipeline(SAXPY), [x, y], [1], { params }); // opens a compute pass
    const zeros = engine.zeros([64]);
    engine.dispatch(engine.pipeline(SAXPY), [x, zeros], [1], { params });
    const result = await engine.readFloat(zeros);
    for (let i = 0; i < 64; i++) expect(result[i]).toBe(2 * i);
    expect(Array.from((await engine.readFloat(y)).slice(0, 3))).toEqual([1, 3, 5]);
    for (const t of [x, y, zeros]) t.dispose();
  });

  it('turns a WGSL compile error into an exception at the next read', async () => {
    const engine = await testEngine();
    const broken = SAXPY.replace('params.a * x[id.x]', 'params.a * undefinedName[id.x]');
    const x = engine.upload(new Float32Array(4), [4]);
    const y = engine.upload(new Float32Array(4), [4]);
    const params = new ArrayBuffer(8);
    try {
      engine.dispatch(engine.pipeline(broken), [x, y], [1], { params });
    } catch {
      // Some implementations throw at once; either way the error must not pass silently.
    }
    await expect(engine.read(y)).rejects.toThrow(/GPU validation error/);
    // The engine stays usable afterwards.
    expect(Array.from(await engine.readFloat(x))).toEqual([0, 0, 0, 0]);
    x.dispose();
    y.dispose();
  });
});
