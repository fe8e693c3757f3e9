// `npm run cli -- infer --model <dir|hub:owner/repo@revision> --image <file> --question "…"`
// Loads a Moondream model onto WebGPU (the `webgpu` package; SwiftShader with
// MOONTUNE_SWIFTSHADER=1), encodes the image and prints the answer; with --constrain counts the
// answer can only be a counting answer over --classes (train/count-constraint.ts).
import { existsSync, readFileSync } from 'node:fs';
import { decodeImage } from '../dataset/decode-image.ts';
import { Engine } from '../gpu/engine.ts';
import { acquireNodeDevice } from '../gpu/node-device.ts';
import type { ModelFiles } from '../model/model-source.ts';
import { loadMoondream } from '../model/moondream.ts';
import { rgbImage } from '../model/rgb-image.ts';
import type { WeightPrecision } from '../model/weights.ts';
import { countAnswerConstraint } from '../train/count-constraint.ts';
import { ArgumentReader, UsageError, modelFilesFromArgument, oneLine } from './cli-shared.ts';

export const usage = `usage: npm run cli -- infer --model <folder|hub:owner/repo@revision> --image <file> --question "<text>" [options]

Answers a question about an image with a Moondream model on WebGPU.

  --model <folder>           a folder with model.safetensors, config.json (or --revision) and tokenizer.json
  --model hub:<repo>@<rev>   download from the Hugging Face hub, e.g. hub:vikhyatk/moondream2@2025-06-21
  --image <file>             a PNG or JPEG image
  --question <text>          the question
  --token-ids                the question is whitespace-separated token ids, for a test model without
                             tokenizer.json (the moondream-tiny fixture)
  --max-tokens <n>           stop after n answer tokens (default: the revision's)
  --temperature <t>          0 = greedy (default: the revision's)
  --top-p <p>                nucleus mass for sampling (default: the revision's)
  --constrain counts         only answers of the counting format: {} or "class": count entries in class order
  --classes <a,b,c>          the class names for --constrain counts, comma-separated, in the dataset's order
  --revision <id>            revision preset when the model's config does not describe it (2025-06-21, 2025-04-14, 2024-04-02)
  --precision <auto|f16|f32> weight storage on the GPU (default auto: big matrices f16)
  --verbose                  print timings, the GPU adapter and memory (on stderr)
  --help                     this text

Exit code 0 with the answer on stdout, 2 on invalid input, 1 when the GPU fails.`;

interface InferArguments {
  model: string;
  image: string;
  question: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /** Class names of a counting-format constraint (--constrain counts --classes …). */
  countClasses?: string[];
  revision?: string;
  tokenIds: boolean;
  precision: WeightPrecision;
  verbose: boolean;
}

function parseArguments(args: string[]): InferArguments | 'help' {
  const parsed: Partial<InferArguments> = { precision: 'auto', verbose: false, tokenIds: false };
  let constrain: string | undefined;
  let classes: string | undefined;
  const reader = new ArgumentReader(args, ['--question']);
  const value = (index: number, flag: string) => reader.value(index, flag);
  const number = (text: string, flag: string, check: (n: number) => boolean, what: string) => reader.number(text, flag, check, what);
  for (let index = 0; index < args.length; index++) {
    const arg = args[index];
    if (arg === '--help' || arg === '-h') return 'help';
    else if (arg === '--verbose') parsed.verbose = true;
    else if (arg === '--token-ids') parsed.tokenIds = true;
    else if (arg === '--model') parsed.model = value(index++, arg);
    else if (arg === '--image') parsed.image = value(index++, arg);
    else if (arg === '--question') parsed.question = value(index++, arg);
    else if (arg === '--revision') parsed.revision = value(index++, arg);
    else if (arg === '--constrain') constrain = value(index++, arg);
    else if (arg === '--classes') classes = value(index++, arg);
    else if (arg === '--max-tokens') parsed.maxTokens = number(value(index++, arg), arg, (n) => Number.isInteger(n) && n >= 1, 'a whole number ≥ 1');
    else if (arg === '--temperature') parsed.temperature = number(value(index++, arg), arg, (n) => n >= 0, 'a number ≥ 0');
    else if (arg === '--top-p') parsed.topP = number(value(index++, arg), arg, (n) => n > 0 && n <= 1, 'a number in (0, 1]');
    else if (arg === '--precision') {
      const precision = value(index++, arg);
      if (precision !== 'auto' && precision !== 'f16' && precision !== 'f32') throw new UsageError(`--precision must be auto, f16 or f32 (got "${precision}")`);
      parsed.precision = precision;
    } else throw new UsageError(`unexpected argument ${arg}`);
  }
  for (const flag of ['model', 'image', 'question'] as const) {
    if (parsed[flag] === undefined) throw new UsageError(`--${flag} is required`);
  }
  if (parsed.question!.trim() === '') throw new UsageError('--question is empty');
  if (constrain !== undefined && constrain !== 'counts') throw new UsageError(`--constrain must be counts (got "${constrain}")`);
  if (constrain === 'counts') {
    if (classes === undefined) throw new UsageError('--constrain counts needs --classes, the class names in the dataset\'s order (e.g. --classes penny,nickel,dime)');
    parsed.countClasses = classes.split(',').map((name) => name.trim());
    if (parsed.countClasses.some((name) => name === '')) throw new UsageError(`--classes has an empty class name ("${classes}"); separate names with single commas`);
  } else if (classes !== undefined) throw new UsageError('--classes is only used with --constrain counts');
  return parsed as InferArguments;
}

export async function run(args: string[]): Promise<number> {
  let options: InferArguments | 'help';
  let files: ModelFiles;
  let image;
  try {
    options = parseArguments(args);
    if (options === 'help') {
      console.log(usage);
      return 0;
    }
    files = modelFilesFromArgument(options.model);
    if (!existsSync(options.image)) throw new UsageError(`--image ${options.image} does not exist`);
    const decoded = decodeImage(new Uint8Array(readFileSync(options.image)), options.image);
    image = rgbImage(decoded.width, decoded.height, decoded.rgb);
  } catch (error) {
    console.error(`infer: ${oneLine(error)}${error instanceof UsageError ? '; see --help.' : ''}`);
    return 2;
  }

  let engine: Engine;
  try {
    engine = new Engine(await acquireNodeDevice());
  } catch (error) {
    console.error(`infer: ${oneLine(error)}`);
    return 1;
  }
  const log = (line: string) => options.verbose && console.error(line);
  const info = engine.context.adapterInfo;
  log(`adapter: ${[info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' / ') || 'unknown'} (shader-f16: ${engine.hasF16 ? 'yes' : 'no'})`);

  const loadStarted = performance.now();
  let model;
  try {
    let reportedTenth = -1;
    model = await loadMoondream(engine, files, {
      revisionId: options.revision,
      tokenIds: options.tokenIds,
      precision: options.precision,
      onProgress(progress) {
        // One line per tenth of the file: enough to watch a multi-GB download without flooding a log.
        if (!progress.totalBytes) return;
        const finished = progress.tensorsTotal !== undefined && progress.tensorsDone === progress.tensorsTotal;
        // The last step (11) is "every tensor on the GPU", after the bytes reached 100%.
        const tenth = finished ? 11 : Math.floor((10 * progress.doneBytes) / progress.totalBytes);
        if (tenth <= reportedTenth) return;
        reportedTenth = tenth;
        const eta = progress.etaSeconds === undefined ? '' : `, ${progress.etaSeconds.toFixed(0)} s left`;
        log(`weights: ${Math.min(tenth, 10) * 10}% (${formatBytes(progress.doneBytes)} of ${formatBytes(progress.totalBytes)}, ${progress.tensorsDone}/${progress.tensorsTotal ?? '?'} tensors${eta})`);
      },
    });
  } catch (error) {
    // A missing or mismatched model file is the user's input to fix.
    console.error(`infer: ${oneLine(error)}`);
    return 2;
  }
  log(`model: ${model.revision.description} (revision ${model.revision.id}), loaded in ${(performance.now() - loadStarted).toFixed(0)} ms`);
  log(`adapter weights: none (base model)`);
  if (options.countClasses) log(`answers constrained to counts of ${options.countClasses.join(', ')}`);
  log(`GPU memory: weights ${formatBytes(model.weights.gpuBytes)}, KV cache ${formatBytes(model.gpuBytes - model.weights.gpuBytes)}` +
    (model.weights.clampedToF16 > 0 ? `, ${model.weights.clampedToF16} weights clamped to the f16 range` : ''));

  try {
    const constraint = options.countClasses && countAnswerConstraint(model, options.countClasses);
    const result = await model.query(image, options.question, { maxTokens: options.maxTokens, temperature: options.temperature, topP: options.topP, constraint });
    console.log(result.answer);
    const { encodeMs, prefillMs, decodeMs, promptTokens } = result.timings;
    const decoded = result.tokens.length; // each emitted token is fed back once (generate.ts)
    log(`image: ${image.width}×${image.height}, encoded in ${encodeMs.toFixed(0)} ms`);
    log(`prefill: ${promptTokens} prompt tokens in ${prefillMs.toFixed(0)} ms`);
    log(`decode: ${result.tokens.length} tokens in ${decodeMs.toFixed(0)} ms` + (decoded > 0 ? ` (${((decoded * 1000) / decodeMs).toFixed(1)} tokens/s)` : '') + (result.hitEos ? ', stopped at EOS' : ', stopped at max tokens'));
  } catch (error) {
    console.error(`infer: ${oneLine(error)}`);
    return 2;
  } finally {
    model.dispose();
  }
  return 0;
}

function formatBytes(bytes: number): string {
  return bytes >= 1 << 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
