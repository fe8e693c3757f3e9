// Matmul benchmark rows: square products and the text decoder's Linear shapes
// (730 tokens = 729 image embeddings + BOS; spec: hidden 2048, qkv 6144, fc1 8192), each timed
// for moontune (f32 and packed-f16 weights) and for TensorFlow.js's WebGPU backend on the same
// device. Default shapes are scaled down to finish in minutes on a CPU (SwiftShader).
import type { Engine } from '../engine.ts';
import { matmul } from '../ops/matmul.ts';
import type { Tensor } from '../tensor.ts';
import type { BenchRow } from './bench-row.ts';
import type { TfjsBaseline } from './tfjs-baseline.ts';
import { medianMs, type TimingOptions } from './timing.ts';

// Every shape is run once untimed first (the check against TF.js), so no further warm-up.
const BENCH_TIMING: TimingOptions = { warmup: 0, minRepetitions: 3, minTotalMs: 1000, maxRepetitions: 20 };

interface MatmulShape {
  name: string;
  M: number;
  N: number;
  K: number;
  /** B stored [N, K] (a Linear weight) rather than [K, N]. */
  transposeB: boolean;
  /** Also time B as packed f16. */
  withF16: boolean;
}

function shapes(full: boolean): MatmulShape[] {
  const square = (size: number): MatmulShape => ({
    name: `matmul ${size}×${size}·${size}×${size}`,
    M: size,
    N: size,
    K: size,
    transposeB: false,
    withF16: false,
  });
  const linear = (tokens: number, inFeatures: number, outFeatures: number, what: string): MatmulShape => ({
    name: `linear ${tokens}×${inFeatures}·(${outFeatures}×${inFeatures})ᵀ ${what}`,
    M: tokens,
    N: outFeatures,
    K: inFeatures,
    transposeB: true,
    withF16: true,
  });
  if (full) {
    return [square(256), square(512), square(1024), linear(730, 2048, 6144, 'qkv'), linear(730, 2048, 8192, 'fc1')];
  }
  // Quarter-width model shapes: same token count, K and N divided by 4.
  return [square(256), square(512), linear(730, 512, 1536, 'qkv/4'), linear(730, 512, 2048, 'fc1/4')];
}

export async function benchMatmul(
  engine: Engine,
  baseline: TfjsBaseline | undefined,
  options: { full: boolean; log?: (line: string) => void },
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const shape of shapes(options.full)) {
    const { M, N, K, transposeB } = shape;
    const flops = 2 * M * N * K;
    const aData = seededFloats(M * K, 1);
    const bData = seededFloats(K * N, 2);
    const a = engine.upload(aData, [M, K]);
    const bShape = transposeB ? [N, K] : [K, N];

    let baselineMs: number | undefined;
    let baselineResult: Float32Array | undefined;
    if (baseline) {
      const tfMatmul = baseline.prepareMatmul(aData, bData, M, N, K, transposeB);
      baselineResult = await tfMatmul.read(); // doubles as the warm-up run
      baselineMs = await medianMs(tfMatmul.run, BENCH_TIMING);
      tfMatmul.dispose();
    }

    for (const dtype of shape.withF16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const b = engine.upload(bData, bShape, dtype);
      const run = async () => {
        const c = matmul(engine, a, b, { transposeB });
        await engine.sync();
        c.dispose();
      };
      // The comparison (or a plain run without a baseline) doubles as the warm-up run.
      let note: string | undefined;
      if (baselineResult) note = await compareWithBaseline(engine, a, b, transposeB, baselineResult, dtype);
      else await run();
      const ms = await medianMs(run, BENCH_TIMING);
      const row: BenchRow = {
        name: `${shape.name} ${dtype}`,
        ms,
        gflops: flops / ms / 1e6,
        baselineMs,
        baselineName: baseline ? (dtype === 'f16' ? 'tfjs-webgpu f32' : 'tfjs-webgpu') : undefined,
        note,
      };
      rows.push(row);
      options.log?.(`  ${row.name}: ${ms.toFixed(1)} ms${baselineMs !== undefined ? `, tfjs ${baselineMs.toFixed(1)} ms` : ''}`);
      b.dispose();
    }
    a.dispose();
  }
  return rows;
}

/** Largest difference from TF.js's result, relative to the largest magnitude: a sanity check. */
async function compareWithBaseline(
  engine: Engine,
  a: Tensor,
  b: Tensor,
  transposeB: boolean,
  expected: Float32Array,
  dtype: 'f32' | 'f16',
): Promise<string> {
  const c = matmul(engine, a, b, { transposeB });
  const actual = await engine.readFloat(c);
  c.dispose();
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return `max|Δ| vs tfjs ${(worst / (scale || 1)).toExponential(1)} of max${dtype === 'f16' ? ' (f16 weights)' : ''}`;
}

/** Deterministic inputs in [-1, 1) (a linear congruential generator; the values do not matter). */
function seededFloats(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}
