// Matmul benchmark rows: square products and the text decoder's Linear shapes
// (730 tokens = 729 image embeddings + BOS; spec: hidden 2048, qkv 6144, fc1 8192), each timed
// for moontune (f32 and packed-f16 weights) and for TensorFlow.js's WebGPU backend on the same
// device. Default shapes are scaled down to finish in minutes on a CPU (SwiftShader).
import type { Engine } from '../engine.ts';
import { matmul } from '../ops/matmul.ts';
import type { Tensor } from '../tensor.ts';
import type { BenchRow } from './bench-row.ts';
import type { TfjsBaseline } from './tfjs-baseline.ts';
import { interleavedMedianMs, type TimingOptions } from './timing.ts';

// Every shape is run once untimed first (the check against TF.js), so no further warm-up.
// Ours (f32, f16) and TF.js are timed in alternation: the CPU this runs on in CI is shared.
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

export interface MatmulBenchOptions {
  /** Model-sized shapes rather than the scaled-down defaults. */
  full: boolean;
  /** One tiny square product (64³) only: a smoke test of the whole path, e.g. the bench page's ?quick=1. */
  quick?: boolean;
  log?: (line: string) => void;
  /** Called with each row as soon as it is measured (the bench page shows rows as they finish). */
  onRow?: (row: BenchRow) => void;
}

function shapes(full: boolean, quick = false): MatmulShape[] {
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
  if (quick) return [square(64)];
  if (full) {
    return [
      square(256),
      square(512),
      square(1024),
      linear(730, 2048, 6144, 'qkv'),
      linear(730, 2048, 8192, 'fc1'),
      linear(1, 2048, 8192, 'fc1 decode'),
    ];
  }
  // Quarter-width model shapes: same token count, K and N divided by 4; one decode step
  // (a single token: the matrix-vector case) at full width.
  return [
    square(256),
    square(512),
    linear(730, 512, 1536, 'qkv/4'),
    linear(730, 512, 2048, 'fc1/4'),
    linear(1, 2048, 2048, 'decode'),
  ];
}

export async function benchMatmul(
  engine: Engine,
  baseline: TfjsBaseline | undefined,
  options: MatmulBenchOptions,
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const shape of shapes(options.full, options.quick)) {
    const { M, N, K, transposeB } = shape;
    const flops = 2 * M * N * K;
    const aData = seededFloats(M * K, 1);
    const bData = seededFloats(K * N, 2);
    const a = engine.upload(aData, [M, K]);
    const bShape = transposeB ? [N, K] : [K, N];

    const dtypes = shape.withF16 ? (['f32', 'f16'] as const) : (['f32'] as const);
    const weights = dtypes.map((dtype) => engine.upload(bData, bShape, dtype));
    const runs = weights.map((b) => async () => {
      const c = matmul(engine, a, b, { transposeB });
      await engine.sync();
      c.dispose();
    });
    // One untimed run each first: TF.js's result, and ours compared with it (or just run).
    const notes: (string | undefined)[] = [];
    const tfMatmul = baseline?.prepareMatmul(aData, bData, M, N, K, transposeB);
    const baselineResult = await tfMatmul?.read();
    for (const [index, b] of weights.entries()) {
      if (baselineResult) notes.push(await compareWithBaseline(engine, a, b, transposeB, baselineResult, dtypes[index]));
      else await runs[index]();
    }
    const times = await interleavedMedianMs(tfMatmul ? [...runs, tfMatmul.run] : runs, BENCH_TIMING);
    const baselineMs = tfMatmul ? times[runs.length] : undefined;
    tfMatmul?.dispose();

    for (const [index, dtype] of dtypes.entries()) {
      const ms = times[index];
      const row: BenchRow = {
        name: `${shape.name} ${dtype}`,
        ms,
        gflops: flops / ms / 1e6,
        baselineMs,
        baselineName: baseline ? (dtype === 'f16' ? 'tfjs-webgpu f32' : 'tfjs-webgpu') : undefined,
        note: notes[index],
      };
      rows.push(row);
      options.onRow?.(row);
      options.log?.(`  ${row.name}: ${ms.toFixed(1)} ms${baselineMs !== undefined ? `, tfjs ${baselineMs.toFixed(1)} ms` : ''}`);
    }
    for (const b of weights) b.dispose();
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
